import { describe, expect, it } from 'vitest';
import { describeAdapter, getGPU } from '../../src/device/gpu.js';
import { gpuWait } from '../../src/device/poll-throttle.js';
import { gpuBackend } from '../helpers/backends.js';

describe.skipIf(!gpuBackend)('device entry point (Node)', () => {
  it('returns one shared handle and reports the adapter and its limits', async () => {
    const a = await getGPU();
    const b = await getGPU();
    expect(a).toBe(b);
    expect(a.report.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
    expect(a.report.limits.maxComputeWorkgroupsPerDimension).toBeGreaterThanOrEqual(65535);
    expect(describeAdapter(a.report)).toMatch(/via (dawn|navigator)/);
  });

  it('restores setImmediate after a GPU wait and throttles it during one', async () => {
    const { device } = await getGPU();
    const before = globalThis.setImmediate;
    let during: unknown = null;
    await gpuWait(() => {
      during = globalThis.setImmediate;
      return device.queue.onSubmittedWorkDone();
    });
    expect(during).not.toBe(before);
    expect(globalThis.setImmediate).toBe(before);
  });
});

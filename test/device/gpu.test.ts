import { describe, expect, it } from 'vitest';
import { describeAdapter, getGPU } from '../../src/device/gpu.js';
import { gpuWait } from '../../src/device/poll-throttle.js';
import { dawnRobustness } from '../../src/device/node-gpu.js';
import { gpuBackend } from '../helpers/backends.js';

describe('Dawn robustness setting', () => {
  it('is off by default, follows AWM_DAWN_ROBUSTNESS, and an explicit option wins', () => {
    expect(dawnRobustness({}, {})).toBe(false);
    expect(dawnRobustness({}, { AWM_DAWN_ROBUSTNESS: 'on' })).toBe(true);
    expect(dawnRobustness({}, { AWM_DAWN_ROBUSTNESS: ' OFF ' })).toBe(false);
    expect(dawnRobustness({ disableRobustness: false }, {})).toBe(true);
    expect(dawnRobustness({ disableRobustness: true }, { AWM_DAWN_ROBUSTNESS: 'on' })).toBe(false);
    expect(() => dawnRobustness({}, { AWM_DAWN_ROBUSTNESS: 'maybe' })).toThrow(/AWM_DAWN_ROBUSTNESS must be on or off, got 'maybe'/);
  });
});

describe.skipIf(!gpuBackend)('device entry point (Node)', () => {
  it('returns one shared handle and reports the adapter and its limits', async () => {
    const a = await getGPU();
    const b = await getGPU();
    expect(a).toBe(b);
    expect(a.report.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
    expect(a.report.limits.maxComputeWorkgroupsPerDimension).toBeGreaterThanOrEqual(65535);
    expect(describeAdapter(a.report)).toMatch(/via (dawn|navigator)/);
    // The test run uses the default unless the environment chose otherwise; the report and the log line say which.
    expect(a.report.robustness).toBe(dawnRobustness({}, process.env));
    expect(describeAdapter(a.report).includes('robustness off')).toBe(!a.report.robustness);
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

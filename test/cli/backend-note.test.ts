/**
 * The line the CLI adds under "backend:" when Dawn found no hardware driver and fell back to SwiftShader:
 * Dawn prints Vulkan warnings from that first probe, and the note says they are harmless.
 */
import { describe, expect, it } from 'vitest';
import { softwareFallbackNote } from '../../src/cli/common.js';
import { cpu32, gpuBackend } from '../helpers/backends.js';

describe('software fallback note', () => {
  it('is absent on the CPU backend', () => {
    expect(softwareFallbackNote(cpu32)).toBeNull();
  });

  it.skipIf(!gpuBackend)('is present exactly when the adapter came from the SwiftShader fallback', () => {
    const source = gpuBackend!.handle.report.source;
    const note = softwareFallbackNote(gpuBackend!);
    if (source === 'dawn+swiftshader') expect(note).toMatch(/SwiftShader.*warnings printed above came from that first probe/);
    else expect(note).toBeNull();
  });
});

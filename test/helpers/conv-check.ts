/**
 * Checks the three WebGPU conv2d passes against the float64 CPU reference on random data, with the
 * tolerance scaled to each pass's reduction length. Shared by the conv kernel tests.
 */
import type { Conv2dParams, Storage } from '../../src/tensor/backend.js';
import type { GpuContext, GpuProgram } from '../../src/backends/webgpu/context.js';
import type { WebGpuBackend } from '../../src/backends/webgpu/backend.js';
import { conv2d, conv2dBackwardData, conv2dBackwardWeight } from '../../src/shaders/conv2d.js';
import { cpu64, expectClose, randomArray } from './backends.js';

export async function readAndRelease(be: WebGpuBackend, s: Storage): Promise<Float32Array> {
  const out = (await be.read(s)) as Float32Array;
  be.release(s);
  return out;
}

export async function checkConvPasses(be: WebGpuBackend, ctx: GpuContext, p: Conv2dParams, seed: number): Promise<void> {
  const x = randomArray(p.n * p.cIn * p.h * p.w, seed);
  const w = randomArray(p.cOut * p.cIn * p.kh * p.kw, seed + 1);
  const bias = randomArray(p.cOut, seed + 2);
  const dy = randomArray(p.n * p.cOut * p.outH * p.outW, seed + 3);
  const [gx, gw, gb, gdy] = [x, w, bias, dy].map((v) => be.upload(v, 'float32')) as [Storage, Storage, Storage, Storage];
  const [cx, cw, cb, cdy] = [x, w, bias, dy].map((v) => cpu64.upload(v, 'float32')) as [Storage, Storage, Storage, Storage];
  const what = JSON.stringify(p);
  expectClose(await readAndRelease(be, conv2d(ctx, gx, gw, gb, p)), await cpu64.read(cpu64.conv2d(cx, cw, cb, p)),
    { reduceLength: p.cIn * p.kh * p.kw, what: `forward ${what}` });
  expectClose(await readAndRelease(be, conv2dBackwardData(ctx, gdy, gw, p)), await cpu64.read(cpu64.conv2dBackwardData(cdy, cw, p)),
    { reduceLength: p.cOut * p.kh * p.kw, what: `backward-data ${what}` });
  expectClose(await readAndRelease(be, conv2dBackwardWeight(ctx, gx, gdy, p)), await cpu64.read(cpu64.conv2dBackwardWeight(cx, cdy, p)),
    { reduceLength: p.n * p.outH * p.outW, what: `backward-weight ${what}` });
  for (const s of [gx, gw, gb, gdy]) be.release(s);
}

/**
 * The backend's own context, calling `record` with the key of every program it dispatches; with
 * `maxBinding` it pretends to a smaller storage binding limit (to force the kernels' chunking).
 */
export function recordingContext(be: WebGpuBackend, record: (key: string) => void, maxBinding?: number): GpuContext {
  const rt = be.runtime;
  return {
    device: rt.device,
    limits: maxBinding === undefined ? rt.limits : { ...rt.limits, maxStorageBufferBindingSize: maxBinding },
    preferWorkgroupMemory: rt.preferWorkgroupMemory,
    gemmForms: rt.gemmForms,
    stridedBackwardData: rt.stridedBackwardData,
    splitIm2col: rt.splitIm2col,
    winograd: rt.winograd,
    isSoftwareAdapter: rt.isSoftwareAdapter,
    alloc: (length, dtype) => rt.alloc(length, dtype),
    release: (s) => rt.release(s),
    dispatch: (program: GpuProgram, bindings, workgroups, uniforms) => {
      record(program.key);
      rt.dispatch(program, bindings, workgroups, uniforms);
    },
  };
}

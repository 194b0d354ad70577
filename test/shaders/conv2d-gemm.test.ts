/** The im2col + GEMM conv2d passes against the CPU reference on odd shapes, strides and paddings. */
import { describe, expect, it } from 'vitest';
import type { Conv2dParams } from '../../src/tensor/backend.js';
import { conv2dParams } from '../../src/ops/conv.js';
import { conv2dGemm, conv2dGemmBackwardData, conv2dGemmBackwardWeight } from '../../src/shaders/conv2d-gemm.js';
import { cpu64, expectClose, gpuBackend, randomArray } from '../helpers/backends.js';

const cases: Array<[number[], number[], number, number]> = [
  // [x shape], [w shape], stride, padding
  [[1, 1, 7, 7], [3, 1, 3, 3], 1, 1],
  [[2, 3, 9, 7], [5, 3, 3, 3], 2, 1],
  [[3, 5, 8, 8], [17, 5, 1, 1], 2, 0],
  [[2, 17, 5, 6], [7, 17, 3, 3], 1, 0],
  [[1, 3, 33, 33], [4, 3, 3, 3], 1, 1],
  [[4, 8, 4, 4], [16, 8, 1, 1], 1, 0],
];

describe.skipIf(!gpuBackend)('conv2d via im2col + GEMM (WebGPU) vs CPU reference', () => {
  for (const [xs, ws, stride, padding] of cases) {
    it(`x [${xs}] w [${ws}] stride ${stride} pad ${padding}`, async () => {
      const gpu = gpuBackend!;
      const p: Conv2dParams = conv2dParams(xs, ws, { stride, padding });
      const nx = xs.reduce((a, b) => a * b);
      const nw = ws.reduce((a, b) => a * b);
      const ny = p.n * p.cOut * p.outH * p.outW;
      const x = randomArray(nx, 1);
      const w = randomArray(nw, 2);
      const b = randomArray(p.cOut, 3);
      const dy = randomArray(ny, 4);
      const K = p.cIn * p.kh * p.kw;
      const rt = gpu.runtime;
      const [gx, gw, gb, gdy] = [gpu.upload(x, 'float32'), gpu.upload(w, 'float32'), gpu.upload(b, 'float32'), gpu.upload(dy, 'float32')];
      const [cx, cw, cb, cdy] = [cpu64.upload(x, 'float32'), cpu64.upload(w, 'float32'), cpu64.upload(b, 'float32'), cpu64.upload(dy, 'float32')];
      const y = conv2dGemm(rt, gx, gw, gb, p);
      const dxs = conv2dGemmBackwardData(rt, gdy, gw, p);
      const dws = conv2dGemmBackwardWeight(rt, gx, gdy, p);
      expectClose(await gpu.read(y), await cpu64.read(cpu64.conv2d(cx, cw, cb, p)), { reduceLength: K, rtol: 2e-6, atol: 2e-6, what: 'forward' });
      expectClose(await gpu.read(dxs), await cpu64.read(cpu64.conv2dBackwardData(cdy, cw, p)), { reduceLength: p.cOut * p.kh * p.kw, rtol: 2e-6, atol: 2e-6, what: 'backward data' });
      expectClose(await gpu.read(dws), await cpu64.read(cpu64.conv2dBackwardWeight(cx, cdy, p)), { reduceLength: p.n * p.outH * p.outW, rtol: 2e-6, atol: 2e-6, what: 'backward weight' });
      for (const s of [gx, gw, gb, gdy, y, dxs, dws]) gpu.release(s);
    });
  }

  it('rejects inputs of the wrong length before dispatching anything', () => {
    const gpu = gpuBackend!;
    const p: Conv2dParams = conv2dParams([1, 2, 5, 5], [3, 2, 3, 3], { stride: 1, padding: 0 });
    const short = gpu.upload(new Float32Array(49), 'float32');
    const w = gpu.upload(new Float32Array(54), 'float32');
    expect(() => conv2dGemm(gpu.runtime, short, w, null, p)).toThrow(/x has 49 elements, expected 50/);
    expect(() => conv2dGemmBackwardWeight(gpu.runtime, short, short, p)).toThrow(/x has 49 elements, expected 50/);
    expect(() => conv2dGemmBackwardData(gpu.runtime, short, w, p)).toThrow(/dy has 49 elements, expected 27/);
    gpu.release(short);
    gpu.release(w);
  });
});

import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/index.js';
import type { Conv2dParams, GridSampleParams, Pool2dParams, Storage, StridedView } from '../../src/tensor/backend.js';
import { normalAt, randpermHost, streamKey, uniformAt } from '../../src/tensor/counter-rng.js';
import { contiguousStrides } from '../../src/tensor/shape.js';

const cpu = new CpuBackend();
const cpu64 = new CpuBackend({ precision: 'float64' });

async function vals(s: Storage, be: CpuBackend = cpu): Promise<number[]> {
  return Array.from(await be.read(s));
}

function view(storage: Storage, shape: number[], strides = contiguousStrides(shape), offset = 0): StridedView {
  return { storage, shape, strides, offset };
}

/** Deterministic test data in [-1, 1). */
function noise(n: number, seed: number): number[] {
  const key = streamKey(seed);
  return Array.from({ length: n }, (_, i) => uniformAt(key, i) * 2 - 1);
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-6): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const a = actual[i]!;
    if (Number.isNaN(e)) expect(a, `element ${i}`).toBeNaN();
    else if (!Number.isFinite(e)) expect(a, `element ${i}`).toBe(e);
    else expect(Math.abs(a - e), `element ${i}: ${a} vs ${e}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(e)));
  }
}

function relClose(a: number, b: number, tol: number): void {
  expect(Math.abs(a - b), `${a} vs ${b}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(a), Math.abs(b)));
}

describe('memory', () => {
  it('reports its info and precision', () => {
    expect(cpu.info).toEqual({ name: 'cpu', description: 'CPU reference (float32)' });
    expect(cpu64.info.description).toBe('CPU reference (float64)');
  });

  it('uploads, reads copies, and tracks live bytes', async () => {
    const be = new CpuBackend();
    const a = be.upload([1, 2, 3], 'float32');
    const b = be.upload([4, 5], 'int32');
    expect(be.liveBytes()).toBe(3 * 4 + 2 * 4);
    const host = await be.read(a);
    expect(host).toBeInstanceOf(Float32Array);
    host[0] = 99;
    expect(await vals(a, be)).toEqual([1, 2, 3]);
    expect(await be.read(b)).toBeInstanceOf(Int32Array);
    be.release(a);
    expect(be.liveBytes()).toBe(8);
    expect(() => be.release(a)).toThrow(/already released/);
    expect(() => be.unary('neg', a)).toThrow(/already released/);
    be.release(b);
    expect(be.liveBytes()).toBe(0);
    be.flush();
    await be.sync();
  });

  it('stores floats as Float64Array in float64 mode', async () => {
    const be = new CpuBackend({ precision: 'float64' });
    const a = be.fill(3, 0.1, 'float32');
    expect(await be.read(a)).toEqual(new Float64Array([0.1, 0.1, 0.1]));
    expect(be.liveBytes()).toBe(24);
    expect(await be.read(be.fill(2, 7, 'int32'))).toEqual(new Int32Array([7, 7]));
  });

  it('rejects int32 uploads that are not integers and foreign storages', () => {
    expect(() => cpu.upload([1.5], 'int32')).toThrow(/not a 32-bit integer/);
    expect(() => cpu.read({ length: 1, dtype: 'float32' })).toThrow(/does not belong/);
  });
});

describe('layout', () => {
  const m = cpu.upload([0, 1, 2, 3, 4, 5], 'float32'); // [2, 3]

  it('copies transposes, slices and broadcasts', async () => {
    expect(await vals(cpu.copy(view(m, [3, 2], [1, 3])))).toEqual([0, 3, 1, 4, 2, 5]);
    expect(await vals(cpu.copy(view(m, [2, 2], [3, 1], 1)))).toEqual([1, 2, 4, 5]);
    expect(await vals(cpu.copy(view(m, [2, 3], [0, 1], 3)))).toEqual([3, 4, 5, 3, 4, 5]);
    expect(await vals(cpu.copy(view(m, [3], [-1], 2)))).toEqual([2, 1, 0]);
    expect(await vals(cpu.copy(view(m, [], [], 4)))).toEqual([4]);
    expect(await vals(cpu.copy(view(m, [0, 3], [3, 1])))).toEqual([]);
  });

  it('refuses views that reach outside the storage', () => {
    expect(() => cpu.copy(view(m, [2, 3], [3, 1], 1))).toThrow(/outside/);
  });

  it('writes a contiguous source into strided positions', async () => {
    const dst = cpu.fill(6, 0, 'float32');
    cpu.writeStrided(view(dst, [2], [3], 1), cpu.upload([7, 8], 'float32')); // column 1
    expect(await vals(dst)).toEqual([0, 7, 0, 0, 8, 0]);
    const ints = cpu.fill(4, 0, 'int32');
    cpu.writeStrided(view(ints, [2, 2], [1, 2]), cpu.upload([1, 2, 3, 4], 'int32'));
    expect(await vals(ints)).toEqual([1, 3, 2, 4]);
    expect(() => cpu.writeStrided(view(dst, [2]), cpu.upload([1, 2], 'int32'))).toThrow(/int32/);
  });

  it('reads a self-write completely before overwriting', async () => {
    const s = cpu.upload([1, 2, 3, 4], 'float32');
    cpu.writeStrided(view(s, [4], [-1], 3), s); // reverse in place
    expect(await vals(s)).toEqual([4, 3, 2, 1]);
  });
});

describe('unary', () => {
  const xs = [-2, -0.5, 0, 0.5, 3];
  const x = cpu64.upload(xs, 'float32');
  const cases: [Parameters<CpuBackend['unary']>[0], (v: number) => number, { a?: number; b?: number }?][] = [
    ['neg', (v) => -v],
    ['exp', Math.exp],
    ['log', Math.log],
    ['sqrt', Math.sqrt],
    ['rsqrt', (v) => 1 / Math.sqrt(v)],
    ['abs', Math.abs],
    ['sign', (v) => (v > 0 ? 1 : v < 0 ? -1 : 0)],
    ['relu', (v) => Math.max(v, 0)],
    ['sigmoid', (v) => 1 / (1 + Math.exp(-v))],
    ['tanh', Math.tanh],
    ['square', (v) => v * v],
    ['reciprocal', (v) => 1 / v],
    ['floor', Math.floor],
    ['step', (v) => (v > 0 ? 1 : 0)],
    ['affine', (v) => v * 2 + 1, { a: 2, b: 1 }],
    ['powScalar', (v) => v ** 3, { a: 3 }],
    ['clamp', (v) => Math.min(Math.max(v, -1), 1), { a: -1, b: 1 }],
  ];
  for (const [op, f, params] of cases) {
    it(op, async () => {
      expectClose(await vals(cpu64.unary(op, x, params), cpu64), xs.map(f), 1e-15);
    });
  }

  it('keeps NaN through sign and relu and is stable for large sigmoid inputs', async () => {
    const s = cpu.upload([NaN, -1000, 1000], 'float32');
    expectClose(await vals(cpu.unary('sign', s)), [NaN, -1, 1]);
    expectClose(await vals(cpu.unary('relu', s)), [NaN, 0, 1000]);
    expectClose(await vals(cpu.unary('sigmoid', s)), [NaN, 0, 1]);
  });

  it('converts between int32 and float', async () => {
    const f = cpu.upload([-2.7, -0.5, 0.5, 2.7, 1e10, NaN], 'float32');
    const i = cpu.unary('toInt', f);
    expect(i.dtype).toBe('int32');
    expect(await vals(i)).toEqual([-2, 0, 0, 2, 2147483647, 0]);
    const back = cpu.unary('toFloat', cpu.upload([3, -4], 'int32'));
    expect(back.dtype).toBe('float32');
    expect(await vals(back)).toEqual([3, -4]);
  });

  it('throws for unsupported dtype combinations', () => {
    expect(() => cpu.unary('exp', cpu.upload([1], 'int32'))).toThrow(/float32 input/);
    expect(() => cpu.unary('toFloat', cpu.upload([1], 'float32'))).toThrow(/int32 input/);
    expect(() => cpu.unary('powScalar', x)).toThrow(/params.a/);
  });
});

describe('binary and where', () => {
  it('broadcasts through stride-0 views', async () => {
    const a = cpu.upload([1, 2, 3, 4, 5, 6], 'float32'); // [2, 3]
    const b = cpu.upload([10, 20, 30], 'float32'); // [3] -> [2, 3]
    const out = cpu.binary('add', view(a, [2, 3]), view(b, [2, 3], [0, 1]), [2, 3]);
    expect(await vals(out)).toEqual([11, 22, 33, 14, 25, 36]);
    const col = cpu.upload([1, 2], 'float32'); // [2, 1] -> [2, 3]
    expect(await vals(cpu.binary('mul', view(a, [2, 3]), view(col, [2, 3], [1, 0]), [2, 3]))).toEqual([1, 2, 3, 8, 10, 12]);
  });

  it('computes every op, with NaN-propagating max and min', async () => {
    const xs = [1, -2, 3, NaN, 2, 0.5];
    const ys = [2, -2, 1, 1, NaN, 0.5];
    const a = cpu64.upload(xs, 'float32');
    const b = cpu64.upload(ys, 'float32');
    const expected: Record<string, (x: number, y: number) => number> = {
      add: (x, y) => x + y, sub: (x, y) => x - y, mul: (x, y) => x * y, div: (x, y) => x / y,
      pow: Math.pow, max: (x, y) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : Math.max(x, y)),
      min: (x, y) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : Math.min(x, y)),
      eq: (x, y) => +(x === y), ne: (x, y) => +(x !== y), lt: (x, y) => +(x < y),
      le: (x, y) => +(x <= y), gt: (x, y) => +(x > y), ge: (x, y) => +(x >= y),
    };
    for (const [op, f] of Object.entries(expected)) {
      const out = cpu64.binary(op as Parameters<CpuBackend['binary']>[0], view(a, [6]), view(b, [6]), [6]);
      expectClose(await vals(out, cpu64), xs.map((x, i) => f(x, ys[i]!)), 1e-15);
    }
  });

  it('compares int32 inputs into floats and refuses int32 arithmetic', async () => {
    const a = cpu.upload([1, 2, 3], 'int32');
    const b = cpu.upload([2], 'int32');
    const eq = cpu.binary('eq', view(a, [3]), view(b, [3], [0]), [3]);
    expect(eq.dtype).toBe('float32');
    expect(await vals(eq)).toEqual([0, 1, 0]);
    expect(() => cpu.binary('add', view(a, [3]), view(a, [3]), [3])).toThrow(/int32/);
    expect(() => cpu.binary('add', view(a, [3]), view(cpu.fill(3, 1, 'float32'), [3]), [3])).toThrow(/mixed/);
  });

  it('selects with where, broadcasting the condition', async () => {
    const cond = cpu.upload([1, 0], 'float32'); // [2, 1]
    const a = cpu.upload([1, 2, 3, 4], 'float32');
    const b = cpu.upload([-1], 'float32');
    const out = cpu.where(view(cond, [2, 2], [1, 0]), view(a, [2, 2]), view(b, [2, 2], [0, 0]), [2, 2]);
    expect(await vals(out)).toEqual([1, 2, -1, -1]);
  });
});

describe('reduce', () => {
  const shape = [2, 3, 4];
  const xs = noise(24, 1);
  const x = cpu64.upload(xs, 'float32');
  const at = (i: number, j: number, k: number) => xs[(i * 3 + j) * 4 + k]!;

  it('sums, maxes and mins over several axes', async () => {
    const sum = [0, 1, 2].map((j) => [0, 1].reduce((s, i) => s + [0, 1, 2, 3].reduce((t, k) => t + at(i, j, k), 0), 0));
    expectClose(await vals(cpu64.reduce('sum', x, shape, [0, 2]), cpu64), sum, 1e-14);
    const max = [0, 1].map((i) => [0, 1, 2].map((j) => Math.max(...[0, 1, 2, 3].map((k) => at(i, j, k))))).flat();
    expectClose(await vals(cpu64.reduce('max', x, shape, [2]), cpu64), max, 0);
    const min = [0, 1, 2, 3].map((k) => Math.min(...[0, 1].flatMap((i) => [0, 1, 2].map((j) => at(i, j, k)))));
    expectClose(await vals(cpu64.reduce('min', x, shape, [0, 1]), cpu64), min, 0);
    expectClose(await vals(cpu64.reduce('sum', x, shape, [0, 1, 2]), cpu64), [xs.reduce((s, v) => s + v, 0)], 1e-14);
    expectClose(await vals(cpu64.reduce('sum', x, shape, []), cpu64), xs, 0);
  });

  it('propagates NaN through max and min', async () => {
    const y = cpu.upload([1, NaN, 3, 0], 'float32');
    expectClose(await vals(cpu.reduce('max', y, [2, 2], [1])), [NaN, 3]);
    expectClose(await vals(cpu.reduce('min', y, [2, 2], [0])), [1, NaN]);
  });

  it('argmax returns int32 and the first maximum', async () => {
    const y = cpu.upload([1, 5, 5, 2, 7, 0, 7, 7], 'float32'); // [2, 4]
    const r = cpu.reduce('argmax', y, [2, 4], [1]);
    expect(r.dtype).toBe('int32');
    expect(await vals(r)).toEqual([1, 0]);
    expect(await vals(cpu.reduce('argmax', y, [2, 4], [0]))).toEqual([1, 0, 1, 1]);
    expect(() => cpu.reduce('argmax', y, [2, 4], [0, 1])).toThrow(/one axis/);
    expect(() => cpu.reduce('max', cpu.fill(0, 0, 'float32'), [2, 0], [1])).toThrow(/empty/);
  });
});

describe('matmul', () => {
  function naive(a: number[], b: number[], batch: number, m: number, n: number, k: number, transA: boolean, transB: boolean, sa: number, sb: number): number[] {
    const out: number[] = [];
    for (let bi = 0; bi < batch; bi++) {
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let kk = 0; kk < k; kk++) {
            const av = transA ? a[bi * sa + kk * m + i]! : a[bi * sa + i * k + kk]!;
            const bv = transB ? b[bi * sb + j * k + kk]! : b[bi * sb + kk * n + j]!;
            s += av * bv;
          }
          out.push(s);
        }
      }
    }
    return out;
  }

  it('matches a hand-computed product', async () => {
    const a = cpu.upload([1, 2, 3, 4, 5, 6], 'float32'); // [2, 3]
    const b = cpu.upload([7, 8, 9, 10, 11, 12], 'float32'); // [3, 2]
    const p = { batch: 1, m: 2, n: 2, k: 3, transA: false, transB: false, batchStrideA: 0, batchStrideB: 0 };
    expect(await vals(cpu.matmul(a, b, p))).toEqual([58, 64, 139, 154]);
  });

  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      for (const broadcast of ['none', 'a', 'b'] as const) {
        it(`transA=${transA} transB=${transB} broadcast=${broadcast}`, async () => {
          const [batch, m, n, k] = [3, 4, 5, 6];
          const sa = broadcast === 'a' ? 0 : m * k;
          const sb = broadcast === 'b' ? 0 : k * n;
          const as = noise(broadcast === 'a' ? m * k : batch * m * k, 2);
          const bs = noise(broadcast === 'b' ? k * n : batch * k * n, 3);
          const p = { batch, m, n, k, transA, transB, batchStrideA: sa, batchStrideB: sb };
          const out = cpu64.matmul(cpu64.upload(as, 'float32'), cpu64.upload(bs, 'float32'), p);
          expectClose(await vals(out, cpu64), naive(as, bs, batch, m, n, k, transA, transB, sa, sb), 1e-14);
        });
      }
    }
  }

  it('rejects inputs that are too small', () => {
    const p = { batch: 2, m: 2, n: 2, k: 2, transA: false, transB: false, batchStrideA: 4, batchStrideB: 4 };
    expect(() => cpu.matmul(cpu.fill(4, 1, 'float32'), cpu.fill(8, 1, 'float32'), p)).toThrow(/a has 4/);
  });
});

function convParams(n: number, cIn: number, h: number, w: number, cOut: number, kh: number, kw: number, stride: number, pad: number): Conv2dParams {
  return {
    n, cIn, h, w, cOut, kh, kw, strideH: stride, strideW: stride, padH: pad, padW: pad,
    outH: Math.floor((h + 2 * pad - kh) / stride) + 1, outW: Math.floor((w + 2 * pad - kw) / stride) + 1,
  };
}

describe('conv2d', () => {
  function naiveConv(x: number[], w: number[], bias: number[] | null, p: Conv2dParams): number[] {
    const out: number[] = [];
    for (let b = 0; b < p.n; b++)
      for (let co = 0; co < p.cOut; co++)
        for (let oy = 0; oy < p.outH; oy++)
          for (let ox = 0; ox < p.outW; ox++) {
            let s = bias ? bias[co]! : 0;
            for (let ci = 0; ci < p.cIn; ci++)
              for (let ky = 0; ky < p.kh; ky++)
                for (let kx = 0; kx < p.kw; kx++) {
                  const iy = oy * p.strideH - p.padH + ky;
                  const ix = ox * p.strideW - p.padW + kx;
                  if (iy < 0 || iy >= p.h || ix < 0 || ix >= p.w) continue;
                  s += x[((b * p.cIn + ci) * p.h + iy) * p.w + ix]! * w[((co * p.cIn + ci) * p.kh + ky) * p.kw + kx]!;
                }
            out.push(s);
          }
    return out;
  }

  it('matches a hand-computed 3x3 case', async () => {
    // 1 channel 3x3 input, 2x2 all-ones kernel, stride 1, no padding: sums of 2x2 blocks.
    const p = convParams(1, 1, 3, 3, 1, 2, 2, 1, 0);
    const x = cpu.upload([1, 2, 3, 4, 5, 6, 7, 8, 9], 'float32');
    const out = cpu.conv2d(x, cpu.fill(4, 1, 'float32'), cpu.upload([0.5], 'float32'), p);
    expect(await vals(out)).toEqual([12.5, 16.5, 24.5, 28.5]);
  });

  const shapes: [string, Conv2dParams][] = [
    ['1x1 kernel', convParams(2, 3, 5, 4, 2, 1, 1, 1, 0)],
    ['3x3 pad 1', convParams(2, 3, 5, 7, 4, 3, 3, 1, 1)],
    ['3x3 stride 2 pad 1', convParams(1, 2, 7, 6, 3, 3, 3, 2, 1)],
    ['2x3 stride 2 odd', { ...convParams(2, 1, 5, 5, 2, 2, 3, 2, 0), padW: 1, outW: 3 }],
    ['kernel larger than padded edge', convParams(1, 2, 3, 3, 2, 5, 5, 1, 2)],
    ['stride 3 pad 2', convParams(1, 2, 8, 9, 2, 3, 3, 3, 2)],
    ['channel blocks of four plus remainders', convParams(2, 6, 5, 6, 5, 3, 3, 2, 1)],
    ['eight channels each way', convParams(1, 8, 4, 4, 8, 3, 3, 1, 1)],
  ];

  for (const [name, p] of shapes) {
    it(`matches the naive formula: ${name}`, async () => {
      const xs = noise(p.n * p.cIn * p.h * p.w, 4);
      const ws = noise(p.cOut * p.cIn * p.kh * p.kw, 5);
      const bs = noise(p.cOut, 6);
      const out = cpu64.conv2d(cpu64.upload(xs, 'float32'), cpu64.upload(ws, 'float32'), cpu64.upload(bs, 'float32'), p);
      expectClose(await vals(out, cpu64), naiveConv(xs, ws, bs, p), 1e-14);
      const noBias = cpu64.conv2d(cpu64.upload(xs, 'float32'), cpu64.upload(ws, 'float32'), null, p);
      expectClose(await vals(noBias, cpu64), naiveConv(xs, ws, null, p), 1e-14);
    });

    it(`satisfies the adjoint identity: ${name}`, async () => {
      const xs = noise(p.n * p.cIn * p.h * p.w, 7);
      const ws = noise(p.cOut * p.cIn * p.kh * p.kw, 8);
      const dys = noise(p.n * p.cOut * p.outH * p.outW, 9);
      const x = cpu64.upload(xs, 'float32');
      const w = cpu64.upload(ws, 'float32');
      const dy = cpu64.upload(dys, 'float32');
      const lhs = dot(await cpu64.read(cpu64.conv2d(x, w, null, p)), dys);
      const viaData = dot(xs, await cpu64.read(cpu64.conv2dBackwardData(dy, w, p)));
      const viaWeight = dot(ws, await cpu64.read(cpu64.conv2dBackwardWeight(x, dy, p)));
      relClose(viaData, lhs, 1e-10);
      relClose(viaWeight, lhs, 1e-10);
    });
  }

  it('agrees between float32 and float64 modes', async () => {
    const p = shapes[2]![1];
    const xs = noise(p.n * p.cIn * p.h * p.w, 10);
    const ws = noise(p.cOut * p.cIn * p.kh * p.kw, 11);
    const y32 = await vals(cpu.conv2d(cpu.upload(xs, 'float32'), cpu.upload(ws, 'float32'), null, p));
    const y64 = await vals(cpu64.conv2d(cpu64.upload(xs, 'float32'), cpu64.upload(ws, 'float32'), null, p), cpu64);
    expectClose(y32, y64, 1e-6);
  });

  it('rejects mismatched sizes', () => {
    const p = convParams(1, 1, 3, 3, 1, 2, 2, 1, 0);
    expect(() => cpu.conv2d(cpu.fill(8, 0, 'float32'), cpu.fill(4, 0, 'float32'), null, p)).toThrow(/input x/);
  });
});

function poolParams(kind: 'max' | 'avg', n: number, c: number, h: number, w: number, k: number, stride: number, pad: number, countIncludePad = true): Pool2dParams {
  return {
    kind, n, c, h, w, kh: k, kw: k, strideH: stride, strideW: stride, padH: pad, padW: pad,
    outH: Math.floor((h + 2 * pad - k) / stride) + 1, outW: Math.floor((w + 2 * pad - k) / stride) + 1, countIncludePad,
  };
}

describe('pool2d', () => {
  const xs = [1, 2, 3, 4, 5, 6, 7, 8, 9]; // 3x3

  it('max pools with padding as -infinity', async () => {
    const p = poolParams('max', 1, 1, 3, 3, 2, 2, 1);
    const x = cpu.upload(xs.map((v) => -v), 'float32');
    expect(await vals(cpu.pool2d(x, p))).toEqual([-1, -2, -4, -5]);
  });

  it('sends the max gradient to the first maximum of each window', async () => {
    const p = poolParams('max', 1, 1, 2, 4, 2, 2, 0);
    const x = cpu.upload([3, 3, 1, 2, 3, 0, 2, 2], 'float32');
    expect(await vals(cpu.pool2d(x, p))).toEqual([3, 2]);
    const dx = cpu.pool2dBackward(cpu.upload([10, 20], 'float32'), x, p);
    expect(await vals(dx)).toEqual([10, 0, 0, 20, 0, 0, 0, 0]);
  });

  it('sums max gradients of overlapping windows', async () => {
    const p = poolParams('max', 1, 1, 1, 3, 2, 1, 0);
    p.kh = 1;
    p.outH = 1;
    const x = cpu.upload([0, 5, 1], 'float32');
    expect(await vals(cpu.pool2dBackward(cpu.upload([1, 2], 'float32'), x, p))).toEqual([0, 3, 0]);
  });

  it('averages with and without padding in the count', async () => {
    const x = cpu.upload(xs, 'float32');
    const incl = poolParams('avg', 1, 1, 3, 3, 2, 2, 1, true);
    expect(await vals(cpu.pool2d(x, incl))).toEqual([1 / 4, 5 / 4, 11 / 4, 28 / 4]);
    const excl = poolParams('avg', 1, 1, 3, 3, 2, 2, 1, false);
    expect(await vals(cpu.pool2d(x, excl))).toEqual([1, 2.5, 5.5, 7]);
  });

  for (const countIncludePad of [true, false]) {
    it(`avg pool satisfies the adjoint identity (countIncludePad=${countIncludePad})`, async () => {
      const p = poolParams('avg', 2, 3, 7, 6, 3, 2, 1, countIncludePad);
      const xs2 = noise(p.n * p.c * p.h * p.w, 12);
      const dys = noise(p.n * p.c * p.outH * p.outW, 13);
      const x = cpu64.upload(xs2, 'float32');
      const lhs = dot(await cpu64.read(cpu64.pool2d(x, p)), dys);
      const rhs = dot(xs2, await cpu64.read(cpu64.pool2dBackward(cpu64.upload(dys, 'float32'), x, p)));
      relClose(rhs, lhs, 1e-10);
    });
  }

  it('max pool gradient is the derivative of the max (locally linear)', async () => {
    const p = poolParams('max', 1, 2, 5, 5, 3, 2, 1);
    const xs2 = noise(p.n * p.c * p.h * p.w, 14);
    const dys = noise(p.n * p.c * p.outH * p.outW, 15);
    const x = cpu64.upload(xs2, 'float32');
    const lhs = dot(await cpu64.read(cpu64.pool2d(x, p)), dys);
    const rhs = dot(xs2, await cpu64.read(cpu64.pool2dBackward(cpu64.upload(dys, 'float32'), x, p)));
    relClose(rhs, lhs, 1e-12);
  });
});

describe('softmax and cross-entropy', () => {
  const rows = 3;
  const cols = 4;
  const xs = [1, 2, 3, 4, -1, 0, 1, 1000, 0.5, 0.5, 0.5, 0.5];
  const naiveSoftmax = (r: number) => {
    const row = xs.slice(r * cols, (r + 1) * cols);
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  };

  it('computes stable softmax and log-softmax', async () => {
    const x = cpu64.upload(xs, 'float32');
    const expected = [0, 1, 2].flatMap(naiveSoftmax);
    expectClose(await vals(cpu64.softmax(x, rows, cols, false), cpu64), expected, 1e-14);
    const logs = await vals(cpu64.softmax(x, rows, cols, true), cpu64);
    expectClose(logs.slice(0, 4), expected.slice(0, 4).map(Math.log), 1e-14);
    expect(logs[4]).toBeCloseTo(-1001, 10); // exp would underflow; log-softmax must not
  });

  it('computes cross-entropy as logsumexp minus the label logit', async () => {
    const x = cpu64.upload(xs, 'float32');
    const labels = cpu64.upload([3, 0, 2], 'int32');
    const ce = await vals(cpu64.crossEntropy(x, labels, rows, cols), cpu64);
    expectClose(ce, [-Math.log(naiveSoftmax(0)[3]!), 1001, Math.log(4)], 1e-12);
  });

  it('gives NaN for out-of-range labels', async () => {
    const x = cpu.upload(xs, 'float32');
    const ce = await vals(cpu.crossEntropy(x, cpu.upload([4, -1, 0], 'int32'), rows, cols));
    expect(ce[0]).toBeNaN();
    expect(ce[1]).toBeNaN();
    expect(ce[2]).toBeCloseTo(Math.log(4), 6);
  });

  it('backward is g * (softmax - onehot) and matches finite differences', async () => {
    const ls = [3, 0, 2];
    const gs = [0.5, -2, 1];
    const labels = cpu64.upload(ls, 'int32');
    const g = cpu64.upload(gs, 'float32');
    const dx = await vals(cpu64.crossEntropyBackward(cpu64.upload(xs, 'float32'), labels, g, rows, cols), cpu64);
    const expected = [0, 1, 2].flatMap((r) => naiveSoftmax(r).map((p, j) => gs[r]! * (p - (j === ls[r] ? 1 : 0))));
    expectClose(dx, expected, 1e-14);
    const loss = async (v: number[]) => dot(await cpu64.read(cpu64.crossEntropy(cpu64.upload(v, 'float32'), labels, rows, cols)), gs);
    const h = 1e-6;
    for (const i of [0, 3, 5, 10]) {
      const up = xs.slice();
      const down = xs.slice();
      up[i]! += h;
      down[i]! -= h;
      relClose((await loss(up)) - (await loss(down)), 2 * h * dx[i]!, 1e-7);
    }
  });
});

describe('gather, scatterAdd, oneHot', () => {
  it('gathers along the middle axis', async () => {
    const x = cpu.upload([1, 2, 3, 4, 5, 6], 'float32'); // [1, 3, 2]
    const idx = cpu.upload([2, 0, 0, 1], 'int32'); // [1, 2, 2]
    expect(await vals(cpu.gather(x, idx, 1, 3, 2, 2))).toEqual([5, 2, 1, 4]);
    expect(() => cpu.gather(x, cpu.upload([3, 0, 0, 0], 'int32'), 1, 3, 2, 2)).toThrow(/out of range/);
  });

  it('scatterAdd is the adjoint of gather, with repeated indices', async () => {
    const [outer, nIn, inner, nIdx] = [2, 5, 3, 7];
    const xs = noise(outer * nIn * inner, 16);
    const gs = noise(outer * nIdx * inner, 17);
    const key = streamKey(18);
    const is = Array.from({ length: outer * nIdx * inner }, (_, i) => Math.floor(uniformAt(key, i) * nIn));
    const idx = cpu64.upload(is, 'int32');
    const lhs = dot(await cpu64.read(cpu64.gather(cpu64.upload(xs, 'float32'), idx, outer, nIn, inner, nIdx)), gs);
    const rhs = dot(xs, await cpu64.read(cpu64.scatterAdd(cpu64.upload(gs, 'float32'), idx, outer, nIn, inner, nIdx)));
    relClose(rhs, lhs, 1e-12);
  });

  it('one-hot encodes labels', async () => {
    expect(await vals(cpu.oneHot(cpu.upload([2, 0], 'int32'), 2, 3))).toEqual([0, 0, 1, 1, 0, 0]);
    expect(() => cpu.oneHot(cpu.upload([3], 'int32'), 1, 3)).toThrow(/out of range/);
  });
});

describe('gridSample', () => {
  function gsParams(n: number, c: number, h: number, w: number, outH: number, outW: number, alignCorners: boolean, padding: 'zeros' | 'border'): GridSampleParams {
    return { n, c, h, w, outH, outW, alignCorners, padding };
  }

  it('reproduces the input on an identity grid with align_corners', async () => {
    const [h, w] = [3, 4];
    const xs = noise(2 * h * w, 19);
    const grid: number[] = [];
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) grid.push((2 * x) / (w - 1) - 1, (2 * y) / (h - 1) - 1);
    const out = cpu64.gridSample(cpu64.upload(xs, 'float32'), cpu64.upload(grid, 'float32'), gsParams(1, 2, h, w, h, w, true, 'zeros'));
    expectClose(await vals(out, cpu64), xs, 1e-14);
  });

  it('matches hand-computed bilinear values for both paddings', async () => {
    // 2x2 image [[1, 2], [3, 4]].
    const x = cpu64.upload([1, 2, 3, 4], 'float32');
    const grid = cpu64.upload([0, 0, -1, -1, 1, 1, 0.5, -3], 'float32'); // 4 samples in a 1x4 grid
    // align_corners=false: pixel = ((g + 1) * 2 - 1) / 2 = g + 0.5.
    const zeros = await vals(cpu64.gridSample(x, grid, gsParams(1, 1, 2, 2, 1, 4, false, 'zeros')), cpu64);
    // (0.5,0.5): mean of all = 2.5; (-0.5,-0.5): only the (0,0) tap with weight 0.25;
    // (1.5,1.5): only (1,1) with 0.25; (1,-2.5): y taps -3 and -2, all outside.
    expectClose(zeros, [2.5, 0.25, 1, 0], 1e-15);
    const border = await vals(cpu64.gridSample(x, grid, gsParams(1, 1, 2, 2, 1, 4, false, 'border')), cpu64);
    // Clamped to (0,0) -> 1, (1,1) -> 4, (1,0) -> 2.
    expectClose(border, [2.5, 1, 4, 2], 1e-15);
    // align_corners=true: pixel = (g + 1) / 2 * (size - 1); (0.5, -3) -> (0.75, -1) with zeros: row -1 outside, row 0 weight 0.
    const aligned = await vals(cpu64.gridSample(x, grid, gsParams(1, 1, 2, 2, 1, 4, true, 'zeros')), cpu64);
    expectClose(aligned, [2.5, 1, 4, 0], 1e-15);
  });

  const configs: [boolean, 'zeros' | 'border'][] = [[false, 'zeros'], [true, 'zeros'], [false, 'border'], [true, 'border']];
  for (const [alignCorners, padding] of configs) {
    const p = gsParams(2, 3, 4, 5, 3, 4, alignCorners, padding);
    // Grid values beyond [-1, 1] exercise padding and clamping.
    const grid = noise(p.n * p.outH * p.outW * 2, 20).map((v) => v * 1.3);
    const xs = noise(p.n * p.c * p.h * p.w, 21);
    const dys = noise(p.n * p.c * p.outH * p.outW, 22);

    it(`dx satisfies the adjoint identity (align=${alignCorners}, ${padding})`, async () => {
      const g = cpu64.upload(grid, 'float32');
      const lhs = dot(await cpu64.read(cpu64.gridSample(cpu64.upload(xs, 'float32'), g, p)), dys);
      const { dx } = cpu64.gridSampleBackward(cpu64.upload(dys, 'float32'), cpu64.upload(xs, 'float32'), g, p);
      relClose(dot(xs, await cpu64.read(dx)), lhs, 1e-10);
    });

    it(`dgrid matches central differences (align=${alignCorners}, ${padding})`, async () => {
      const x = cpu64.upload(xs, 'float32');
      const { dgrid } = cpu64.gridSampleBackward(cpu64.upload(dys, 'float32'), x, cpu64.upload(grid, 'float32'), p);
      const analytic = await cpu64.read(dgrid);
      const loss = async (gv: number[]) => dot(await cpu64.read(cpu64.gridSample(x, cpu64.upload(gv, 'float32'), p)), dys);
      const h = 1e-7;
      for (let i = 0; i < grid.length; i++) {
        const up = grid.slice();
        const down = grid.slice();
        up[i]! += h;
        down[i]! -= h;
        const numeric = ((await loss(up)) - (await loss(down))) / (2 * h);
        expect(Math.abs(numeric - analytic[i]!), `grid element ${i}`).toBeLessThan(1e-6);
      }
    });
  }

  it('border clamp has zero grid gradient outside the image', async () => {
    const p = gsParams(1, 1, 2, 2, 1, 1, false, 'border');
    const x = cpu64.upload([1, 2, 3, 4], 'float32');
    const { dgrid } = cpu64.gridSampleBackward(cpu64.upload([1], 'float32'), x, cpu64.upload([2, 0.1], 'float32'), p);
    const d = await vals(dgrid, cpu64);
    expect(d[0] === 0).toBe(true); // -0 or 0
    expect(d[1]).toBeCloseTo(2 * 1, 12); // d/dpy of bilinear on this image is 2 per pixel, times scale size/2 = 1
  });
});

describe('random', () => {
  it('follows the counter-based specification exactly', async () => {
    const key = streamKey(42);
    const u = await vals(cpu64.random('uniform', 5, 42, 7), cpu64);
    expect(u).toEqual([0, 1, 2, 3, 4].map((i) => uniformAt(key, 7 + i)));
    const n = await vals(cpu64.random('normal', 5, 42, 7), cpu64);
    expect(n).toEqual([0, 1, 2, 3, 4].map((i) => normalAt(key, 7 + i)));
    // The counter is an offset into one stream.
    const long = await vals(cpu.random('uniform', 10, 42, 0));
    expect(await vals(cpu.random('uniform', 3, 42, 7))).toEqual(long.slice(7));
    // Negative seeds are taken as uint32, and counters wrap.
    expect(await vals(cpu.random('uniform', 2, -1, 0))).toEqual(await vals(cpu.random('uniform', 2, 0xffffffff, 0)));
    expect((await vals(cpu64.random('uniform', 2, 3, 0xffffffff), cpu64))[1]).toBe(uniformAt(streamKey(3), 0));
  });

  it('is deterministic and differs between seeds', async () => {
    const a = await vals(cpu.random('normal', 100, 1, 0));
    expect(await vals(cpu.random('normal', 100, 1, 0))).toEqual(a);
    expect(await vals(cpu.random('normal', 100, 2, 0))).not.toEqual(a);
  });

  it('has sane moments', async () => {
    const n = 20000;
    const u = await cpu64.read(cpu64.random('uniform', n, 9, 0));
    const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;
    const variance = (a: ArrayLike<number>) => {
      const m = mean(a);
      return Array.from(a).reduce((s, v) => s + (v - m) ** 2, 0) / a.length;
    };
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(Math.abs(mean(u) - 0.5)).toBeLessThan(0.01);
    expect(Math.abs(variance(u) - 1 / 12)).toBeLessThan(0.005);
    const g = await cpu64.read(cpu64.random('normal', n, 9, 0));
    expect(Math.abs(mean(g))).toBeLessThan(0.03);
    expect(Math.abs(variance(g) - 1)).toBeLessThan(0.05);
  });

  it('randperm is a deterministic permutation', async () => {
    const p = cpu.randperm(50, 5);
    expect(p.dtype).toBe('int32');
    const v = await vals(p);
    expect([...v].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(v).toEqual(Array.from(randpermHost(50, 5)));
    expect(await vals(cpu.randperm(50, 5))).toEqual(v);
    expect(await vals(cpu.randperm(50, 6))).not.toEqual(v);
    expect(await vals(cpu.randperm(0, 1))).toEqual([]);
  });
});

describe('optimisers', () => {
  const p0 = [0.5, -1, 2];
  const grads = [[0.1, -0.2, 0.3], [0.4, 0.1, -0.5], [-0.3, 0.2, 0.05]];

  const sgdVariants = [
    { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false },
    { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0.01, nesterov: false },
    { lr: 0.05, momentum: 0.8, dampening: 0.3, weightDecay: 0.1, nesterov: false },
    { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0.001, nesterov: true },
  ];
  for (const cfg of sgdVariants) {
    it(`sgd matches the scalar recurrence ${JSON.stringify(cfg)}`, async () => {
      const param = cpu64.upload(p0, 'float32');
      const buf = cpu64.fill(3, 0, 'float32');
      const ps = p0.slice();
      const bs = [0, 0, 0];
      for (let step = 0; step < 3; step++) {
        const g = grads[step]!;
        cpu64.sgdUpdate(param, cpu64.upload(g, 'float32'), cfg.momentum ? buf : null, { ...cfg, firstStep: step === 0 });
        for (let i = 0; i < 3; i++) {
          let d = g[i]! + cfg.weightDecay * ps[i]!;
          if (cfg.momentum !== 0) {
            bs[i] = step === 0 ? d : cfg.momentum * bs[i]! + (1 - cfg.dampening) * d;
            d = cfg.nesterov ? d + cfg.momentum * bs[i]! : bs[i]!;
          }
          ps[i]! -= cfg.lr * d;
        }
      }
      expectClose(await vals(param, cpu64), ps, 1e-15);
      if (cfg.momentum) expectClose(await vals(buf, cpu64), bs, 1e-15);
    });
  }

  it('sgd with momentum needs a buffer', () => {
    const cfg = { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false, firstStep: true };
    expect(() => cpu.sgdUpdate(cpu.fill(1, 0, 'float32'), cpu.fill(1, 0, 'float32'), null, cfg)).toThrow(/momentum buffer/);
  });

  for (const weightDecay of [0, 0.1]) {
    it(`adam matches the scalar recurrence (weightDecay=${weightDecay})`, async () => {
      const cfg = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay };
      const param = cpu64.upload(p0, 'float32');
      const m = cpu64.fill(3, 0, 'float32');
      const v = cpu64.fill(3, 0, 'float32');
      const ps = p0.slice();
      const ms = [0, 0, 0];
      const vs = [0, 0, 0];
      for (let step = 1; step <= 3; step++) {
        const g = grads[step - 1]!;
        cpu64.adamUpdate(param, cpu64.upload(g, 'float32'), m, v, { ...cfg, step });
        for (let i = 0; i < 3; i++) {
          const gi = g[i]! + weightDecay * ps[i]!;
          ms[i] = cfg.beta1 * ms[i]! + (1 - cfg.beta1) * gi;
          vs[i] = cfg.beta2 * vs[i]! + (1 - cfg.beta2) * gi * gi;
          const mHat = ms[i]! / (1 - cfg.beta1 ** step);
          const vHat = vs[i]! / (1 - cfg.beta2 ** step);
          ps[i]! -= (cfg.lr * mHat) / (Math.sqrt(vHat) + cfg.eps);
        }
      }
      expectClose(await vals(param, cpu64), ps, 1e-14);
      expectClose(await vals(m, cpu64), ms, 1e-14);
      expectClose(await vals(v, cpu64), vs, 1e-14);
    });
  }
});

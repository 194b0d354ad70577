/**
 * The elementwise, reduction, random and optimiser WGSL kernels against the CPU reference (cpu32):
 * odd shapes, broadcasting, permuted and sliced views with offsets, NaN and infinity handling,
 * argmax ties, bit-exact random streams and randperm, and three optimiser steps.
 */
import { describe, expect, it } from 'vitest';
import type { Backend, BinaryOp, DType, HostArray, ReduceOp, Storage, StridedView, UnaryOp, UnaryParams } from '../../src/tensor/backend.js';
import { broadcastStrides, contiguousStrides, sizeOf } from '../../src/tensor/shape.js';
import { randpermHost } from '../../src/tensor/counter-rng.js';
import { WebGpuBackend } from '../../src/backends/webgpu/backend.js';
import { cpu32, expectClose, gpuBackend, randomArray } from '../helpers/backends.js';

const gpu = gpuBackend!;
/** Kernels with a workgroup-memory form and a register-only form pick by the adapter: test both. */
const gpuForms: Array<[string, WebGpuBackend]> = gpuBackend
  ? [false, true].map((shared) => [shared ? 'workgroup-memory form' : 'register form', new WebGpuBackend(gpu.handle, { preferWorkgroupMemory: shared })])
  : [];

/** Runs `op` on the GPU and on cpu32 and returns both results, host side. */
async function onBoth(op: (be: Backend) => Storage, onGpu: Backend = gpu): Promise<{ got: HostArray; want: HostArray }> {
  const g = op(onGpu);
  const got = await onGpu.read(g);
  onGpu.release(g);
  const want = await cpu32.read(op(cpu32));
  return { got, want };
}

/** expectClose that also accepts equal infinities and matching NaNs. */
function expectMatch(got: ArrayLike<number>, want: ArrayLike<number>, opts: Parameters<typeof expectClose>[2] = {}): void {
  const a = Float64Array.from(got);
  const e = Float64Array.from(want);
  for (let i = 0; i < a.length; i++) {
    if (a[i] === e[i] || (Number.isNaN(a[i]) && Number.isNaN(e[i]))) a[i] = e[i] = 0;
  }
  expectClose(a, e, opts);
}

function expectExact(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) throw new Error(`${what} differs at [${i}]: got ${got[i]}, expected ${want[i]}`);
  }
}

function view(storage: Storage, shape: number[], strides = contiguousStrides(shape), offset = 0): StridedView {
  return { storage, shape, strides, offset };
}

/** Random data with NaN, infinities and signed zeros sprinkled in. */
function withSpecials(n: number, seed: number, lo = -3, hi = 3): Float32Array {
  const x = randomArray(n, seed, lo, hi);
  const specials = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 2];
  for (let i = 0; i < specials.length && i * 5 < n; i++) x[i * 5] = specials[i]!;
  return x;
}

describe.skipIf(!gpuBackend)('WebGPU elementwise kernels', () => {
  it('fill writes floats and ints bit for bit', async () => {
    for (const [length, value, dtype] of [[1, 2.5, 'float32'], [65, -0, 'float32'], [7, NaN, 'float32'], [33, -7, 'int32'], [0, 1, 'float32']] as const) {
      const { got, want } = await onBoth((be) => be.fill(length, value, dtype as DType));
      expectExact(got, want, `fill ${length} ${value}`);
    }
  });

  it('copy materialises permuted, sliced, broadcast and high-rank views', async () => {
    const data = randomArray(3 * 5 * 7, 1);
    const cases: Array<[number[], number[], number]> = [
      [[7, 3, 5], [1, 35, 7], 0], // permute (2, 0, 1)
      [[2, 3, 3], [35, 14, 2], 8], // slice with steps 2 and an offset
      [[4, 3, 7], [0, 35, 1], 0], // expand a new leading dim
      [[1], [1], 104], // one element at the end
      [[3, 5, 7], [35, 7, 1], 0], // already contiguous
      [[7, 5], [-1, -7], 34], // negative strides walk backwards
    ];
    for (const [shape, strides, offset] of cases) {
      const { got, want } = await onBoth((be) => be.copy(view(be.upload(data, 'float32'), shape, strides, offset)));
      expectExact(got, want, `copy [${shape}] [${strides}] +${offset}`);
    }
    // Rank 7 with no mergeable dims exceeds the compiled rank and is split into dispatches.
    const shape7 = [2, 3, 2, 2, 3, 2, 2];
    const perm = [6, 0, 5, 1, 4, 2, 3];
    const base = contiguousStrides(perm.map((p) => shape7[p]!));
    const strides7 = shape7.map((_, k) => base[perm.indexOf(k)]!);
    const big = randomArray(sizeOf(shape7), 2);
    const r7 = await onBoth((be) => be.copy(view(be.upload(big, 'float32'), shape7, strides7)));
    expectExact(r7.got, r7.want, 'copy rank 7');
    const ints = Int32Array.from({ length: 35 }, (_, i) => i * 3 - 50);
    const ri = await onBoth((be) => be.copy(view(be.upload(ints, 'int32'), [7, 5], [1, 7])));
    expectExact(ri.got, ri.want, 'copy int32 transpose');
  });

  it('copy rejects views that reach outside their storage, NaN and infinite strides and offsets included', () => {
    const s = gpu.upload(randomArray(12, 3), 'float32');
    const bad: Array<[number[], number[], number]> = [
      [[3, 4], [4, 1], 1], // one past the end
      [[2], [-1], 0], // before the start
      [[1, 2], [Number.NaN, 1], 0], // NaN stride on a size-1 dim: the reach is NaN
      [[1, 2], [Number.POSITIVE_INFINITY, 1], 0], // 0 * Infinity is NaN
      [[2], [1], Number.NaN],
      [[2], [1.5], 0], // a fractional stride
    ];
    for (const [shape, strides, offset] of bad) {
      expect(() => gpu.copy({ storage: s, shape, strides, offset }), `[${shape}] [${strides}] +${offset}`).toThrow(/reaches outside its storage/);
    }
    gpu.release(s);
  });

  it('writeStrided writes in place into strided views, including a storage into itself', async () => {
    const dstData = randomArray(5 * 9, 3);
    const cases: Array<[number[], number[], number]> = [
      [[3, 4], [9, 2], 1], // every other column of three rows, offset 1
      [[9, 5], [1, 9], 0], // transpose
      [[5], [9], 8], // last column
      [[3, 1, 3, 1, 5, 1, 1], [1, 99, 15, 99, 3, 0, 7], 0], // rank 7 with size-1 dims (collapses)
    ];
    for (const [shape, strides, offset] of cases) {
      const src = randomArray(sizeOf(shape), 4);
      const { got, want } = await onBoth((be) => {
        const dst = be.upload(dstData, 'float32');
        be.writeStrided(view(dst, shape, strides, offset), be.upload(src, 'float32'));
        return dst;
      });
      expectExact(got, want, `writeStrided [${shape}] [${strides}] +${offset}`);
    }
    const self = await onBoth((be) => {
      const s = be.upload(dstData, 'float32');
      be.writeStrided(view(s, [45], [-1], 44), s); // reverse in place
      return s;
    });
    expectExact(self.got, self.want, 'writeStrided into itself');
  });

  it('unary ops match the CPU, NaN and infinities included', async () => {
    const x = withSpecials(67, 5);
    const cases: Array<[UnaryOp, UnaryParams?]> = [
      ['neg'], ['exp'], ['log'], ['sqrt'], ['rsqrt'], ['abs'], ['sign'], ['relu'], ['sigmoid'], ['tanh'],
      ['square'], ['reciprocal'], ['floor'], ['step'], ['affine', { a: 0.3, b: -2 }], ['affine'],
      ['powScalar', { a: 2 }], ['powScalar', { a: 3 }], ['powScalar', { a: 0.5 }], ['powScalar', { a: -1 }],
      ['powScalar', { a: 2.5 }], ['powScalar', { a: 0 }], ['powScalar', { a: -2 }],
      ['clamp', { a: -0.3, b: 0.4 }], ['clamp', { a: 0 }], ['toInt'],
    ];
    for (const [op, params] of cases) {
      const { got, want } = await onBoth((be) => be.unary(op, be.upload(x, 'float32'), params));
      expectMatch(got, want, { what: `${op} ${JSON.stringify(params ?? {})}`, rtol: 2e-6 });
    }
    const big = Float32Array.of(3e9, -3e9, 2.7, -2.7, NaN, 2147483520, -2147483648, Infinity, -Infinity);
    const ti = await onBoth((be) => be.unary('toInt', be.upload(big, 'float32')));
    expectExact(ti.got, ti.want, 'toInt saturation');
    const ints = Int32Array.of(0, -1, 7, 2147483647, -2147483648, 16777217);
    const tf = await onBoth((be) => be.unary('toFloat', be.upload(ints, 'int32')));
    expectExact(tf.got, tf.want, 'toFloat');
  });

  it('binary ops broadcast strided views of any rank', async () => {
    const ops: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'max', 'min', 'eq', 'ne', 'lt', 'le', 'gt', 'ge'];
    const a = withSpecials(3 * 5, 6);
    const b = randomArray(5 * 4, 7, -2, 2).map((v, i) => (i % 3 === 0 ? Math.round(v) : v));
    b[2] = NaN;
    a[4] = b[1]!; // an exact tie for the comparisons
    // [3, 1, 5] against the transpose of b ([4, 5] stored as [5, 4]), broadcast to [3, 4, 5].
    const out = [3, 4, 5];
    const aStrides = broadcastStrides([3, 1, 5], out);
    const bStrides = [0, 1, 4];
    for (const op of ops) {
      const { got, want } = await onBoth((be) => be.binary(op, view(be.upload(a, 'float32'), out, aStrides), view(be.upload(b, 'float32'), out, bStrides), out));
      expectMatch(got, want, { what: `binary ${op} broadcast`, rtol: 2e-6 });
    }
    // The contiguous fast path, sliced operands with offsets, and a scalar.
    const c = randomArray(7 * 33, 8, 0.5, 2);
    const d = randomArray(7 * 33 + 3, 9, -2, 2);
    for (const op of ['add', 'mul', 'div', 'pow', 'max', 'lt'] as BinaryOp[]) {
      const flat = await onBoth((be) => be.binary(op, view(be.upload(c, 'float32'), [7, 33]), view(be.upload(d, 'float32'), [7, 33], [33, 1], 3), [7, 33]));
      expectMatch(flat.got, flat.want, { what: `binary ${op} contiguous`, rtol: 2e-6 });
      const scalar = await onBoth((be) => be.binary(op, view(be.upload(c, 'float32'), [3, 11], [66, 2], 1), view(be.upload(d, 'float32'), [3, 11], [0, 0], 5), [3, 11]));
      expectMatch(scalar.got, scalar.want, { what: `binary ${op} scalar`, rtol: 2e-6 });
    }
    // Rank 7 where nothing collapses: split into several dispatches.
    const shape7 = [2, 3, 2, 3, 2, 3, 2];
    const e = randomArray(sizeOf(shape7), 10);
    const f = randomArray(sizeOf([3, 1, 3, 1, 3, 1]), 11);
    const r7 = await onBoth((be) => be.binary('sub', view(be.upload(e, 'float32'), shape7), view(be.upload(f, 'float32'), shape7, broadcastStrides([3, 1, 3, 1, 3, 1], shape7)), shape7));
    expectExact(r7.got, r7.want, 'binary rank 7');
    const ia = Int32Array.of(1, 2, 3, 4, 5, -6, 7);
    const ib = Int32Array.of(3, 2, 1, 4, 9, -6, 0);
    for (const op of ['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as BinaryOp[]) {
      const r = await onBoth((be) => be.binary(op, view(be.upload(ia, 'int32'), [7]), view(be.upload(ib, 'int32'), [7]), [7]));
      expectExact(r.got, r.want, `binary ${op} int32`);
    }
  });

  it('where selects through broadcast views for float and int conditions', async () => {
    const out = [3, 5, 7];
    const condF = Float32Array.from({ length: 5 * 7 }, (_, i) => [0, 1, -0, NaN, 0.5, -2][i % 6]!);
    const a = withSpecials(3 * 5 * 7, 12);
    const b = randomArray(7, 13);
    const r = await onBoth((be) => be.where(
      view(be.upload(condF, 'float32'), out, broadcastStrides([5, 7], out)),
      view(be.upload(a, 'float32'), out),
      view(be.upload(b, 'float32'), out, broadcastStrides([7], out)),
      out,
    ));
    expectExact(r.got, r.want, 'where float cond');
    const condI = Int32Array.from({ length: 7 }, (_, i) => i % 3 - 1);
    const ia = Int32Array.from({ length: 3 * 7 }, (_, i) => i);
    const ib = Int32Array.from({ length: 3 * 7 }, (_, i) => -i);
    const ri = await onBoth((be) => be.where(
      view(be.upload(condI, 'int32'), [3, 7], [0, 1]),
      view(be.upload(ia, 'int32'), [3, 7], [1, 3]),
      view(be.upload(ib, 'int32'), [3, 7], [7, 1]),
      [3, 7],
    ));
    expectExact(ri.got, ri.want, 'where int cond');
  });
});

describe.skipIf(!gpuBackend).each(gpuForms)('WebGPU reductions, %s', (_, form) => {
  async function checkReduce(op: ReduceOp, x: Float32Array, shape: number[], axes: number[]): Promise<void> {
    const { got, want } = await onBoth((be) => be.reduce(op, be.upload(x, 'float32'), shape, axes), form);
    const group = sizeOf(axes.map((a) => shape[a]!));
    const what = `${op} [${shape}] over [${axes}]`;
    if (op === 'sum') expectMatch(got, want, { what, reduceLength: group });
    else expectExact(got, want, what);
  }

  it('sum, max and min over every axis subset of small odd shapes', async () => {
    const shape = [3, 5, 7];
    const x = randomArray(sizeOf(shape), 14);
    for (let mask = 0; mask < 8; mask++) {
      const axes = [0, 1, 2].filter((k) => mask & (1 << k));
      for (const op of ['sum', 'max', 'min'] as ReduceOp[]) await checkReduce(op, x, shape, axes);
    }
    for (const op of ['sum', 'max', 'min'] as ReduceOp[]) {
      await checkReduce(op, randomArray(1, 15), [1], [0]);
      await checkReduce(op, randomArray(65, 16), [65], [0]);
      await checkReduce(op, randomArray(2 * 1 * 9, 17), [2, 1, 9], [1]);
    }
  });

  it('covers every strategy: per thread or per lanes, whole or in chunks', async () => {
    const cases: Array<[number[], number[]]> = [
      [[33, 65], [1]], // rows: a few lanes per row on GPUs
      [[100, 33], [0]], // outer axis: a thread per output
      [[40, 2100], [0]], // outer axis, many outputs
      [[3000, 5], [0]], // outer axis, few outputs: chunked threads, two passes
      [[3, 8, 3001], [0, 2]], // batch-norm statistics shape: chunked, two passes
      [[5, 9000], [1]], // a few long rows: a chunked workgroup each on GPUs
    ];
    for (const [shape, axes] of cases) {
      const x = randomArray(sizeOf(shape), 18, -1, 3);
      for (const op of ['sum', 'max', 'min'] as ReduceOp[]) await checkReduce(op, x, shape, axes);
    }
    // Few long reductions are split into chunks: a partial pass, then a pass over the partials.
    const x = form.upload(randomArray(3 * 8 * 3001, 18), 'float32');
    const before = form.runtime.dispatchCount;
    form.release(form.reduce('sum', x, [3, 8, 3001], [0, 2]));
    expect(form.runtime.dispatchCount - before).toBe(2);
    form.release(x);
  });

  it('max and min propagate NaN, sum of an empty axis is zero', async () => {
    const shape = [4, 37];
    const x = randomArray(sizeOf(shape), 19);
    x[5] = NaN;
    x[37 + 36] = NaN;
    for (const axes of [[0], [1], [0, 1]]) {
      for (const op of ['max', 'min', 'sum'] as ReduceOp[]) await checkReduce(op, x, shape, axes);
    }
    const empty = await onBoth((be) => be.reduce('sum', be.upload([], 'float32'), [3, 0], [1]), form);
    expectExact(empty.got, empty.want, 'sum over an empty axis');
  });

  it('argmax returns int32, first maximum wins, NaN counts as the maximum', async () => {
    const shape = [5, 7, 9];
    // Few distinct values, so ties are everywhere.
    const x = randomArray(sizeOf(shape), 20, 0, 3).map(Math.floor);
    for (const axis of [0, 1, 2]) {
      const { got, want } = await onBoth((be) => be.reduce('argmax', be.upload(x, 'float32'), shape, [axis]), form);
      expect(got).toBeInstanceOf(Int32Array);
      expectExact(got, want, `argmax axis ${axis}`);
    }
    const long = randomArray(2 * 3001, 21, 0, 5).map(Math.floor);
    long[3001 + 2000] = NaN;
    long[3001 + 2500] = NaN;
    for (const [shape2, axis] of [[[2, 3001], 1], [[3001, 2], 0], [[2, 1, 3001], 1]] as Array<[number[], number]>) {
      const { got, want } = await onBoth((be) => be.reduce('argmax', be.upload(long, 'float32'), shape2, [axis]), form);
      expectExact(got, want, `argmax [${shape2}] axis ${axis}`);
    }
  });
});

describe.skipIf(!gpuBackend)('WebGPU random streams', () => {
  it('uniforms are bit-identical to the CPU, normals within 1e-5', async () => {
    for (const [length, seed, counter] of [[1, 0, 0], [7, 42, 3], [1000, 123456789, 0], [33, 7, 4294967290]]) {
      const u = await onBoth((be) => be.random('uniform', length, seed, counter));
      expectExact(u.got, u.want, `uniform ${length} ${seed} ${counter}`);
      const n = await onBoth((be) => be.random('normal', length, seed, counter));
      expectClose(n.got, n.want, { what: `normal ${length} ${seed} ${counter}`, atol: 1e-5, rtol: 1e-5 });
    }
  });

  it.each(gpuForms)('randperm equals randpermHost, %s', async (_, form) => {
    for (const [n, seed] of [[1, 3], [7, 0], [1000, 99], [5000, 2024]]) {
      const g = form.randperm(n, seed);
      const got = await form.read(g);
      form.release(g);
      expect(got).toBeInstanceOf(Int32Array);
      expectExact(got, randpermHost(n, seed), `randperm ${n}`);
    }
  });
});

describe.skipIf(!gpuBackend)('WebGPU optimiser updates', () => {
  const n = 67;
  const param0 = randomArray(n, 22);
  const grads = [23, 24, 25].map((s) => randomArray(n, s));

  it('SGD with and without momentum matches three CPU steps', async () => {
    const variants = [
      { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false },
      { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 5e-4, nesterov: false },
      { lr: 0.05, momentum: 0.9, dampening: 0, weightDecay: 1e-2, nesterov: true },
    ];
    for (const v of variants) {
      const run = async (be: Backend): Promise<HostArray[]> => {
        const param = be.upload(param0, 'float32');
        const buf = v.momentum !== 0 ? be.fill(n, 0, 'float32') : null;
        grads.forEach((g, step) => be.sgdUpdate(param, be.upload(g, 'float32'), buf, { ...v, firstStep: step === 0 }));
        return [await be.read(param), ...(buf ? [await be.read(buf)] : [])];
      };
      const got = await run(gpu);
      const want = await run(cpu32);
      got.forEach((g, i) => expectClose(g, want[i]!, { what: `sgd ${JSON.stringify(v)} output ${i}` }));
    }
  });

  it('Adam matches three CPU steps', async () => {
    const p = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2 };
    const run = async (be: Backend): Promise<HostArray[]> => {
      const param = be.upload(param0, 'float32');
      const m = be.fill(n, 0, 'float32');
      const v = be.fill(n, 0, 'float32');
      grads.forEach((g, i) => be.adamUpdate(param, be.upload(g, 'float32'), m, v, { ...p, step: i + 1 }));
      return [await be.read(param), await be.read(m), await be.read(v)];
    };
    const got = await run(gpu);
    const want = await run(cpu32);
    got.forEach((g, i) => expectClose(g, want[i]!, { what: `adam output ${i}` }));
  });
});

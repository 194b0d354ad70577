/**
 * The CPU reference backend: every primitive as plain loops over typed arrays. It defines the numbers
 * the WebGPU kernels are tested against, and runs small models where no GPU exists. Kernels live in
 * one file per family; this class checks inputs, allocates outputs and tracks live memory.
 */
import type {
  AdamParams, Backend, BackendInfo, BatchNormEpilogue, BatchNormGrads, BatchNormParams, BatchNormRunningUpdate, BatchNormWant, BinaryOp, Conv2dParams, DType, FloatArray, GridSampleParams,
  HostArray, MatmulParams, Pool2dParams, ReduceOp, SgdParams, Storage, StridedView, UnaryOp, UnaryParams,
} from '../../tensor/backend.js';
import { randpermHost } from '../../tensor/counter-rng.js';
import { sizeOf } from '../../tensor/shape.js';
import { batchNormBackwardKernel, batchNormForwardKernel, batchNormStatsKernel, runningUpdateKernel } from './batchnorm.js';
import { checkConv2d, conv2dBackwardData, conv2dBackwardWeight, conv2dForward } from './conv2d.js';
import {
  arrayLike, binaryKernel, binaryOutputDType, denseData, unaryKernel, unaryOutputDType, whereKernel,
} from './elementwise.js';
import { gatherKernel, oneHotKernel, scatterAddKernel } from './gather.js';
import { checkGridSample, gridSampleBackward, gridSampleForward } from './grid-sample.js';
import { checkMatmul, matmulKernel } from './matmul.js';
import { adamKernel, sgdKernel } from './optim.js';
import { checkPool2d, pool2dBackward, pool2dForward } from './pool.js';
import { randomKernel } from './random.js';
import { argmax, checkReduceAxes, reduceFloat, reducedShape } from './reduce.js';
import { crossEntropyBackwardKernel, crossEntropyKernel, softmaxKernel } from './softmax.js';
import { CpuStorage, asCpu, expectLength, floatData, intData, type CpuPrecision } from './storage.js';
import { checkView, readView, writeView } from './strided.js';

export interface CpuBackendOptions {
  /** 'float64' stores float32-dtype tensors as Float64Array, for finite-difference gradient checks. */
  precision?: CpuPrecision;
}

function checkCount(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0) throw new Error(`${what} must be a non-negative integer, got ${value}`);
}

function checkBatchNorm(p: BatchNormParams, length: number, what: string): void {
  for (const k of ['n', 'c', 'hw'] as const) checkCount(p[k], `${what}: ${k}`);
  expectLength(length, p.n * p.c * p.hw, `${what} x`);
}

/** Float data of the per-channel inputs (null stays null), each checked to hold `c` values. */
function channelData(c: number, what: string, inputs: Record<string, Storage | null>): Record<string, FloatArray | null> {
  const out: Record<string, FloatArray | null> = {};
  for (const [name, s] of Object.entries(inputs)) {
    if (!s) {
      out[name] = null;
      continue;
    }
    const d = floatData(s, `${what} ${name}`);
    expectLength(d.length, c, `${what} ${name}`);
    out[name] = d;
  }
  return out;
}

export class CpuBackend implements Backend {
  readonly info: BackendInfo;
  readonly precision: CpuPrecision;
  private live = 0;
  private liveCount = 0;

  constructor(options: CpuBackendOptions = {}) {
    this.precision = options.precision ?? 'float32';
    if (this.precision !== 'float32' && this.precision !== 'float64') {
      throw new Error(`CpuBackend: precision must be 'float32' or 'float64', got ${String(this.precision)}`);
    }
    this.info = { name: 'cpu', description: `CPU reference (${this.precision})` };
  }

  // --- allocation ---------------------------------------------------------

  private floats(length: number): FloatArray {
    return this.precision === 'float64' ? new Float64Array(length) : new Float32Array(length);
  }

  private ints(length: number): Int32Array {
    return new Int32Array(length);
  }

  private array(length: number, dtype: DType): HostArray {
    return dtype === 'int32' ? this.ints(length) : this.floats(length);
  }

  private own(data: HostArray, dtype: DType): CpuStorage {
    this.live += data.byteLength;
    this.liveCount++;
    return new CpuStorage(data, dtype);
  }

  // --- memory -------------------------------------------------------------

  upload(data: ArrayLike<number>, dtype: DType): Storage {
    const out = this.array(data.length, dtype);
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (dtype === 'int32' && !(Number.isInteger(v) && v >= -2147483648 && v <= 2147483647)) {
        throw new Error(`upload: int32 data holds ${v} at ${i}, which is not a 32-bit integer`);
      }
      out[i] = v;
    }
    return this.own(out, dtype);
  }

  fill(length: number, value: number, dtype: DType): Storage {
    checkCount(length, 'fill: length');
    const out = this.array(length, dtype);
    out.fill(value);
    return this.own(out, dtype);
  }

  read(s: Storage): Promise<HostArray> {
    return Promise.resolve(asCpu(s, 'read').data.slice());
  }

  release(s: Storage): void {
    const c = asCpu(s, 'release');
    c.released = true;
    this.live -= c.data.byteLength;
    this.liveCount--;
  }

  liveBytes(): number {
    return this.live;
  }

  liveStorages(): number {
    return this.liveCount;
  }

  flush(): void {}

  sync(): Promise<void> {
    return Promise.resolve();
  }

  // --- layout -------------------------------------------------------------

  copy(src: StridedView): Storage {
    const s = asCpu(src.storage, 'copy');
    checkView(src, src.shape, 'copy');
    const out = arrayLike(s.data, sizeOf(src.shape));
    readView(s.data, src, out);
    return this.own(out, s.dtype);
  }

  writeStrided(dst: StridedView, src: Storage): void {
    const d = asCpu(dst.storage, 'writeStrided destination');
    const s = asCpu(src, 'writeStrided source');
    if (d.dtype !== s.dtype) throw new Error(`writeStrided: destination is ${d.dtype} but source is ${s.dtype}`);
    checkView(dst, dst.shape, 'writeStrided');
    expectLength(s.length, sizeOf(dst.shape), 'writeStrided source');
    // Writing a storage into itself must read every value before any is overwritten.
    const values = s === d ? s.data.slice() : s.data;
    writeView(d.data, dst, values);
  }

  // --- elementwise --------------------------------------------------------

  unary(op: UnaryOp, x: Storage, params: UnaryParams = {}): Storage {
    const s = asCpu(x, `unary '${op}'`);
    const dtype = unaryOutputDType(op, s.dtype);
    const out = this.array(s.length, dtype);
    unaryKernel(op, s.data, params, out);
    return this.own(out, dtype);
  }

  binary(op: BinaryOp, a: StridedView, b: StridedView, outShape: readonly number[]): Storage {
    const what = `binary '${op}'`;
    const sa = asCpu(a.storage, what);
    const sb = asCpu(b.storage, what);
    const dtype = binaryOutputDType(op, sa.dtype, sb.dtype);
    const out = this.array(sizeOf(outShape), dtype);
    binaryKernel(op, denseData(sa.data, a, outShape, `${what} a`), denseData(sb.data, b, outShape, `${what} b`), out);
    return this.own(out, dtype);
  }

  where(cond: StridedView, a: StridedView, b: StridedView, outShape: readonly number[]): Storage {
    const sc = asCpu(cond.storage, 'where');
    const sa = asCpu(a.storage, 'where');
    const sb = asCpu(b.storage, 'where');
    if (sa.dtype !== sb.dtype) throw new Error(`where: branches have different dtypes ${sa.dtype} and ${sb.dtype}`);
    const out = this.array(sizeOf(outShape), sa.dtype);
    whereKernel(
      denseData(sc.data, cond, outShape, 'where cond'),
      denseData(sa.data, a, outShape, 'where a'),
      denseData(sb.data, b, outShape, 'where b'),
      out,
    );
    return this.own(out, sa.dtype);
  }

  // --- reductions ---------------------------------------------------------

  reduce(op: ReduceOp, x: Storage, shape: readonly number[], axes: readonly number[]): Storage {
    const data = floatData(x, `reduce '${op}'`);
    expectLength(data.length, sizeOf(shape), `reduce '${op}' input`);
    checkReduceAxes(op, shape, axes);
    const outLength = sizeOf(reducedShape(shape, axes));
    if (op === 'argmax') {
      const out = this.ints(outLength);
      argmax(data, shape, axes[0]!, out);
      return this.own(out, 'int32');
    }
    const out = this.floats(outLength);
    reduceFloat(op, data, shape, axes, out);
    return this.own(out, 'float32');
  }

  // --- batch normalisation ------------------------------------------------

  batchNormStats(x: Storage, p: BatchNormParams, running?: BatchNormRunningUpdate): { mean: Storage; var: Storage } {
    const dx = floatData(x, 'batchNormStats x');
    checkBatchNorm(p, dx.length, 'batchNormStats');
    const mean = this.floats(p.c);
    const variance = this.floats(p.c);
    batchNormStatsKernel(dx, p, mean, variance);
    if (running) {
      const rm = floatData(running.mean, 'batchNormStats running mean');
      const rv = floatData(running.var, 'batchNormStats running var');
      expectLength(rm.length, p.c, 'batchNormStats running mean');
      expectLength(rv.length, p.c, 'batchNormStats running var');
      runningUpdateKernel(rm, rv, mean, variance, running.momentum, p.n * p.hw);
    }
    return { mean: this.own(mean, 'float32'), var: this.own(variance, 'float32') };
  }

  batchNormForward(x: Storage, mean: Storage, variance: Storage, weight: Storage | null, bias: Storage | null, p: BatchNormParams, epilogue?: BatchNormEpilogue): Storage {
    const dx = floatData(x, 'batchNormForward x');
    checkBatchNorm(p, dx.length, 'batchNormForward');
    const ch = channelData(p.c, 'batchNormForward', { mean, var: variance, weight, bias });
    const residual = epilogue?.residual ? floatData(epilogue.residual, 'batchNormForward residual') : null;
    if (residual) expectLength(residual.length, dx.length, 'batchNormForward residual');
    const out = this.floats(dx.length);
    batchNormForwardKernel(dx, ch.mean!, ch.var!, ch.weight, ch.bias, p, out, residual, !!epilogue?.relu);
    return this.own(out, 'float32');
  }

  batchNormBackward(
    dy: Storage, x: Storage, mean: Storage, variance: Storage, weight: Storage | null, p: BatchNormParams,
    want: BatchNormWant, gate?: Storage | null,
  ): BatchNormGrads {
    const dx = floatData(x, 'batchNormBackward x');
    checkBatchNorm(p, dx.length, 'batchNormBackward');
    if (want.dgated && !gate) throw new Error('batchNormBackward: dgated needs a gate');
    let ddy = floatData(dy, 'batchNormBackward dy');
    expectLength(ddy.length, dx.length, 'batchNormBackward dy');
    if (gate) {
      const dg = floatData(gate, 'batchNormBackward gate');
      expectLength(dg.length, dx.length, 'batchNormBackward gate');
      const gated = this.floats(dx.length);
      binaryKernel('reluGrad', ddy, dg, gated);
      ddy = gated;
    }
    const ch = channelData(p.c, 'batchNormBackward', { mean, var: variance, weight });
    const out = {
      dx: want.dx ? this.floats(dx.length) : null,
      dweight: want.dweight ? this.floats(p.c) : null,
      dbias: want.dbias ? this.floats(p.c) : null,
    };
    batchNormBackwardKernel(ddy, dx, ch.mean!, ch.var!, ch.weight, p, want.training, out);
    return {
      dx: out.dx && this.own(out.dx, 'float32'),
      dweight: out.dweight && this.own(out.dweight, 'float32'),
      dbias: out.dbias && this.own(out.dbias, 'float32'),
      dgated: want.dgated ? this.own(ddy, 'float32') : null,
    };
  }

  // --- linear algebra and convolution -------------------------------------

  matmul(a: Storage, b: Storage, p: MatmulParams): Storage {
    const da = floatData(a, 'matmul a');
    const db = floatData(b, 'matmul b');
    checkMatmul(da.length, db.length, p);
    const out = this.floats(p.batch * p.m * p.n);
    matmulKernel(da, db, p, out);
    return this.own(out, 'float32');
  }

  conv2d(x: Storage, w: Storage, bias: Storage | null, p: Conv2dParams): Storage {
    const dx = floatData(x, 'conv2d x');
    const dw = floatData(w, 'conv2d weight');
    const db = bias ? floatData(bias, 'conv2d bias') : null;
    checkConv2d(p, { x: dx.length, w: dw.length, bias: db?.length });
    const out = this.floats(p.n * p.cOut * p.outH * p.outW);
    conv2dForward(dx, dw, db, p, out);
    return this.own(out, 'float32');
  }

  conv2dBackwardData(dy: Storage, w: Storage, p: Conv2dParams): Storage {
    const ddy = floatData(dy, 'conv2dBackwardData dy');
    const dw = floatData(w, 'conv2dBackwardData weight');
    checkConv2d(p, { dy: ddy.length, w: dw.length });
    const out = this.floats(p.n * p.cIn * p.h * p.w);
    conv2dBackwardData(ddy, dw, p, out);
    return this.own(out, 'float32');
  }

  conv2dBackwardWeight(x: Storage, dy: Storage, p: Conv2dParams): Storage {
    const dx = floatData(x, 'conv2dBackwardWeight x');
    const ddy = floatData(dy, 'conv2dBackwardWeight dy');
    checkConv2d(p, { x: dx.length, dy: ddy.length });
    const out = this.floats(p.cOut * p.cIn * p.kh * p.kw);
    conv2dBackwardWeight(dx, ddy, p, out);
    return this.own(out, 'float32');
  }

  // --- pooling ------------------------------------------------------------

  pool2d(x: Storage, p: Pool2dParams): Storage {
    const dx = floatData(x, 'pool2d x');
    checkPool2d(p, dx.length);
    const out = this.floats(p.n * p.c * p.outH * p.outW);
    pool2dForward(dx, p, out);
    return this.own(out, 'float32');
  }

  pool2dBackward(dy: Storage, x: Storage, p: Pool2dParams): Storage {
    const ddy = floatData(dy, 'pool2dBackward dy');
    const dx = floatData(x, 'pool2dBackward x');
    checkPool2d(p, dx.length, ddy.length);
    const out = this.floats(dx.length);
    pool2dBackward(ddy, dx, p, out);
    return this.own(out, 'float32');
  }

  // --- softmax and loss ---------------------------------------------------

  softmax(x: Storage, rows: number, cols: number, log: boolean): Storage {
    const dx = floatData(x, 'softmax');
    expectLength(dx.length, rows * cols, 'softmax input');
    const out = this.floats(rows * cols);
    softmaxKernel(dx, rows, cols, log, out);
    return this.own(out, 'float32');
  }

  crossEntropy(logits: Storage, labels: Storage, rows: number, cols: number): Storage {
    const dl = floatData(logits, 'crossEntropy logits');
    const il = intData(labels, 'crossEntropy labels');
    expectLength(dl.length, rows * cols, 'crossEntropy logits');
    expectLength(il.length, rows, 'crossEntropy labels');
    const out = this.floats(rows);
    crossEntropyKernel(dl, il, rows, cols, out);
    return this.own(out, 'float32');
  }

  crossEntropyBackward(logits: Storage, labels: Storage, gradPerRow: Storage, rows: number, cols: number): Storage {
    const dl = floatData(logits, 'crossEntropyBackward logits');
    const il = intData(labels, 'crossEntropyBackward labels');
    const dg = floatData(gradPerRow, 'crossEntropyBackward gradPerRow');
    expectLength(dl.length, rows * cols, 'crossEntropyBackward logits');
    expectLength(il.length, rows, 'crossEntropyBackward labels');
    expectLength(dg.length, rows, 'crossEntropyBackward gradPerRow');
    const out = this.floats(rows * cols);
    crossEntropyBackwardKernel(dl, il, dg, rows, cols, out);
    return this.own(out, 'float32');
  }

  // --- indexing -----------------------------------------------------------

  gather(x: Storage, index: Storage, outer: number, nIn: number, inner: number, nIdx: number): Storage {
    const dx = floatData(x, 'gather x');
    const ix = intData(index, 'gather index');
    expectLength(dx.length, outer * nIn * inner, 'gather x');
    expectLength(ix.length, outer * nIdx * inner, 'gather index');
    const out = this.floats(outer * nIdx * inner);
    gatherKernel(dx, ix, outer, nIn, inner, nIdx, out);
    return this.own(out, 'float32');
  }

  scatterAdd(g: Storage, index: Storage, outer: number, nIn: number, inner: number, nIdx: number): Storage {
    const dg = floatData(g, 'scatterAdd g');
    const ix = intData(index, 'scatterAdd index');
    expectLength(dg.length, outer * nIdx * inner, 'scatterAdd g');
    expectLength(ix.length, outer * nIdx * inner, 'scatterAdd index');
    const out = this.floats(outer * nIn * inner);
    scatterAddKernel(dg, ix, outer, nIn, inner, nIdx, out);
    return this.own(out, 'float32');
  }

  oneHot(labels: Storage, n: number, classes: number): Storage {
    const il = intData(labels, 'oneHot labels');
    expectLength(il.length, n, 'oneHot labels');
    const out = this.floats(n * classes);
    oneHotKernel(il, n, classes, out);
    return this.own(out, 'float32');
  }

  // --- sampling -----------------------------------------------------------

  gridSample(x: Storage, grid: Storage, p: GridSampleParams): Storage {
    const dx = floatData(x, 'gridSample x');
    const dg = floatData(grid, 'gridSample grid');
    checkGridSample(p, dx.length, dg.length);
    const out = this.floats(p.n * p.c * p.outH * p.outW);
    gridSampleForward(dx, dg, p, out);
    return this.own(out, 'float32');
  }

  gridSampleBackward(dy: Storage, x: Storage, grid: Storage, p: GridSampleParams): { dx: Storage; dgrid: Storage } {
    const ddy = floatData(dy, 'gridSampleBackward dy');
    const dx = floatData(x, 'gridSampleBackward x');
    const dg = floatData(grid, 'gridSampleBackward grid');
    checkGridSample(p, dx.length, dg.length, ddy.length);
    const gx = this.floats(dx.length);
    const gGrid = this.floats(dg.length);
    gridSampleBackward(ddy, dx, dg, p, gx, gGrid);
    return { dx: this.own(gx, 'float32'), dgrid: this.own(gGrid, 'float32') };
  }

  // --- random -------------------------------------------------------------

  random(kind: 'uniform' | 'normal', length: number, seed: number, counter: number): Storage {
    checkCount(length, 'random: length');
    if (kind !== 'uniform' && kind !== 'normal') throw new Error(`random: unknown kind '${String(kind)}'`);
    const out = this.floats(length);
    randomKernel(kind, seed, counter, out);
    return this.own(out, 'float32');
  }

  randperm(n: number, seed: number): Storage {
    checkCount(n, 'randperm: n');
    return this.own(randpermHost(n, seed), 'int32');
  }

  // --- optimiser updates --------------------------------------------------

  sgdUpdate(param: Storage, grad: Storage, momentumBuf: Storage | null, p: SgdParams): void {
    const dp = floatData(param, 'sgdUpdate param');
    const dg = floatData(grad, 'sgdUpdate grad');
    expectLength(dg.length, dp.length, 'sgdUpdate grad');
    let buf: FloatArray | null = null;
    if (p.momentum !== 0) {
      if (!momentumBuf) throw new Error('sgdUpdate: momentum is set but no momentum buffer was given');
      buf = floatData(momentumBuf, 'sgdUpdate momentum buffer');
      expectLength(buf.length, dp.length, 'sgdUpdate momentum buffer');
    }
    sgdKernel(dp, dg, buf, p);
  }

  adamUpdate(param: Storage, grad: Storage, m: Storage, v: Storage, p: AdamParams): void {
    const dp = floatData(param, 'adamUpdate param');
    const dg = floatData(grad, 'adamUpdate grad');
    const dm = floatData(m, 'adamUpdate m');
    const dv = floatData(v, 'adamUpdate v');
    for (const [name, arr] of [['grad', dg], ['m', dm], ['v', dv]] as const) expectLength(arr.length, dp.length, `adamUpdate ${name}`);
    if (!(p.step >= 1)) throw new Error(`adamUpdate: step is 1-based, got ${p.step}`);
    adamKernel(dp, dg, dm, dv, p);
  }
}

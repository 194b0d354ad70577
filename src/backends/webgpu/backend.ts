/**
 * The WebGPU backend: each primitive is one or a few WGSL programs recorded into the runtime's
 * command stream. Kernels live in src/shaders/, one file per family, each beside the semantics
 * of its CPU reference in src/backends/cpu/.
 */
import type {
  AdamParams, Backend, BackendInfo, BatchNormEpilogue, BatchNormGrads, BatchNormParams, BatchNormRunningUpdate, BatchNormWant, BinaryOp, Conv2dParams, DType, GridSampleParams, HostArray,
  MatmulParams, Pool2dParams, ReduceOp, SgdParams, Storage, StridedView, UnaryOp, UnaryParams,
} from '../../tensor/backend.js';
import type { GpuHandle } from '../../device/gpu.js';
import { WebGpuRuntime } from './runtime.js';
import type { GemmForms, StridedBackwardData } from './context.js';
import * as ew from '../../shaders/elementwise.js';
import * as red from '../../shaders/reduce.js';
import * as mm from '../../shaders/matmul.js';
import * as conv from '../../shaders/conv2d.js';
import * as pool from '../../shaders/pool.js';
import * as sm from '../../shaders/softmax.js';
import * as gat from '../../shaders/gather.js';
import * as gs from '../../shaders/grid-sample.js';
import * as rnd from '../../shaders/random.js';
import * as opt from '../../shaders/optim.js';
import * as bn from '../../shaders/batchnorm.js';

export interface WebGpuBackendOptions {
  /** Override the per-adapter choice between workgroup-memory and register-only kernels. */
  preferWorkgroupMemory?: boolean;
  /** Override the form of single GEMM kernel families (applied after preferWorkgroupMemory). */
  gemmForms?: Partial<GemmForms>;
  /** Override the per-adapter choice of strided conv backward-data (see defaultStridedBackwardData). */
  stridedBackwardData?: StridedBackwardData;
  /** Split the reduction of deep conv layers' forward and backward-data GEMMs (default true; see conv2d.ts im2colSplitPlan). */
  splitIm2col?: boolean;
  /** Override the per-adapter choice of Winograd for 3x3 stride-1 conv forward and backward-data (see defaultWinograd). */
  winograd?: boolean;
}

export class WebGpuBackend implements Backend {
  readonly info: BackendInfo;
  readonly runtime: WebGpuRuntime;

  constructor(readonly handle: GpuHandle, options: WebGpuBackendOptions = {}) {
    this.runtime = new WebGpuRuntime(handle.device, handle.report.isSoftware, options.preferWorkgroupMemory, options.gemmForms, options.stridedBackwardData, options.splitIm2col, options.winograd);
    this.info = { name: 'webgpu', description: `WebGPU on ${handle.report.description || handle.report.vendor} (${handle.report.source})` };
  }

  upload(data: ArrayLike<number>, dtype: DType): Storage {
    const arr = dtype === 'int32'
      ? (data instanceof Int32Array ? data : Int32Array.from(data))
      : (data instanceof Float32Array ? data : Float32Array.from(data));
    return this.runtime.upload(arr, arr.length, dtype);
  }
  fill(length: number, value: number, dtype: DType): Storage { return ew.fill(this.runtime, length, value, dtype); }
  async read(s: Storage): Promise<HostArray> {
    const bytes = await this.runtime.readBytes(s);
    return s.dtype === 'int32' ? new Int32Array(bytes, 0, s.length) : new Float32Array(bytes, 0, s.length);
  }
  release(s: Storage): void { this.runtime.release(s); }
  liveBytes(): number { return this.runtime.memoryStats().liveBytes; }
  liveStorages(): number { return this.runtime.memoryStats().liveBuffers; }
  flush(): void { this.runtime.flush(); }
  sync(): Promise<void> { return this.runtime.sync(); }

  copy(src: StridedView): Storage { return ew.copy(this.runtime, src); }
  writeStrided(dst: StridedView, src: Storage): void { ew.writeStrided(this.runtime, dst, src); }
  unary(op: UnaryOp, x: Storage, params?: UnaryParams): Storage { return ew.unary(this.runtime, op, x, params); }
  binary(op: BinaryOp, a: StridedView, b: StridedView, outShape: readonly number[]): Storage { return ew.binary(this.runtime, op, a, b, outShape); }
  where(cond: StridedView, a: StridedView, b: StridedView, outShape: readonly number[]): Storage { return ew.where(this.runtime, cond, a, b, outShape); }
  reduce(op: ReduceOp, x: Storage, shape: readonly number[], axes: readonly number[]): Storage { return red.reduce(this.runtime, op, x, shape, axes); }
  batchNormStats(x: Storage, p: BatchNormParams, running?: BatchNormRunningUpdate): { mean: Storage; var: Storage } { return bn.batchNormStats(this.runtime, x, p, running); }
  batchNormForward(x: Storage, mean: Storage, variance: Storage, weight: Storage | null, bias: Storage | null, p: BatchNormParams, epilogue?: BatchNormEpilogue): Storage {
    return bn.batchNormForward(this.runtime, x, mean, variance, weight, bias, p, epilogue);
  }
  batchNormBackward(
    dy: Storage, x: Storage, mean: Storage, variance: Storage, weight: Storage | null, p: BatchNormParams,
    want: BatchNormWant, gate?: Storage | null,
  ): BatchNormGrads {
    return bn.batchNormBackward(this.runtime, dy, x, mean, variance, weight, p, want, gate ?? null);
  }
  matmul(a: Storage, b: Storage, p: MatmulParams): Storage { return mm.matmul(this.runtime, a, b, p); }
  conv2d(x: Storage, w: Storage, bias: Storage | null, p: Conv2dParams): Storage { return conv.conv2d(this.runtime, x, w, bias, p); }
  conv2dBackwardData(dy: Storage, w: Storage, p: Conv2dParams): Storage { return conv.conv2dBackwardData(this.runtime, dy, w, p); }
  conv2dBackwardWeight(x: Storage, dy: Storage, p: Conv2dParams): Storage { return conv.conv2dBackwardWeight(this.runtime, x, dy, p); }
  pool2d(x: Storage, p: Pool2dParams): Storage { return pool.pool2d(this.runtime, x, p); }
  pool2dBackward(dy: Storage, x: Storage, p: Pool2dParams): Storage { return pool.pool2dBackward(this.runtime, dy, x, p); }
  softmax(x: Storage, rows: number, cols: number, log: boolean): Storage { return sm.softmax(this.runtime, x, rows, cols, log); }
  crossEntropy(logits: Storage, labels: Storage, rows: number, cols: number): Storage { return sm.crossEntropy(this.runtime, logits, labels, rows, cols); }
  crossEntropyBackward(logits: Storage, labels: Storage, g: Storage, rows: number, cols: number): Storage { return sm.crossEntropyBackward(this.runtime, logits, labels, g, rows, cols); }
  gather(x: Storage, index: Storage, outer: number, nIn: number, inner: number, nIdx: number): Storage { return gat.gather(this.runtime, x, index, outer, nIn, inner, nIdx); }
  scatterAdd(g: Storage, index: Storage, outer: number, nIn: number, inner: number, nIdx: number): Storage { return gat.scatterAdd(this.runtime, g, index, outer, nIn, inner, nIdx); }
  oneHot(labels: Storage, n: number, classes: number): Storage { return gat.oneHot(this.runtime, labels, n, classes); }
  gridSample(x: Storage, grid: Storage, p: GridSampleParams): Storage { return gs.gridSample(this.runtime, x, grid, p); }
  gridSampleBackward(dy: Storage, x: Storage, grid: Storage, p: GridSampleParams): { dx: Storage; dgrid: Storage } { return gs.gridSampleBackward(this.runtime, dy, x, grid, p); }
  random(kind: 'uniform' | 'normal', length: number, seed: number, counter: number): Storage { return rnd.random(this.runtime, kind, length, seed, counter); }
  randperm(n: number, seed: number): Storage { return rnd.randperm(this.runtime, n, seed); }
  sgdUpdate(param: Storage, grad: Storage, momentumBuf: Storage | null, p: SgdParams): void { opt.sgdUpdate(this.runtime, param, grad, momentumBuf, p); }
  adamUpdate(param: Storage, grad: Storage, m: Storage, v: Storage, p: AdamParams): void { opt.adamUpdate(this.runtime, param, grad, m, v, p); }
}

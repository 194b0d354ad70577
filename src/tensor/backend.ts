/**
 * The backend seam. Every tensor op in the library is built from these primitives, and every
 * backend (the CPU reference in plain TypeScript, WebGPU with WGSL kernels) implements all of them.
 * One test suite runs against every backend.
 *
 * Conventions:
 * - A Storage holds `length` elements of one dtype, densely packed, row-major. Primitives never
 *   mutate their inputs unless the name says "InPlace"/"update"; outputs are freshly allocated
 *   and owned by the caller, who must `release` them (the Tensor layer does this).
 * - `float32` means "the backend's float": Float32 on WebGPU, Float32 or Float64 on the CPU
 *   (the CPU backend can run in float64 for finite-difference gradient checks).
 * - Comparisons and masks produce floats 0/1. Indices (labels, argmax, permutations) are int32.
 * - Calls are synchronous and only enqueue work on asynchronous backends; `read` is the one
 *   await point, so the same op code runs unchanged on CPU and GPU.
 */

export type DType = 'float32' | 'int32';
export type FloatArray = Float32Array | Float64Array;
export type HostArray = Float32Array | Float64Array | Int32Array;

export interface Storage {
  readonly length: number;
  readonly dtype: DType;
}

/** A read of `storage` shaped `shape` whose element [i0,i1,...] sits at offset + sum(ik * strides[k]). */
export interface StridedView {
  storage: Storage;
  shape: readonly number[];
  strides: readonly number[];
  offset: number;
}

export type UnaryOp =
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'abs' | 'sign' | 'relu' | 'sigmoid' | 'tanh'
  | 'square' | 'reciprocal' | 'floor' | 'step' /* x > 0 ? 1 : 0 */
  | 'affine' /* x * a + b */ | 'powScalar' /* x ** a */ | 'clamp' /* min(max(x, a), b) */
  | 'toInt' /* float -> int32, truncation */ | 'toFloat' /* int32 -> float */;

export interface UnaryParams { a?: number; b?: number }

export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'max' | 'min'
  | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge'
  /**
   * a * (b > 0 ? 1 : 0), ReLU's backward (a = incoming gradient, b = ReLU's input) in one pass. It
   * is exactly the product mul(a, step(b)) it replaces: a NaN or infinite a still gives NaN where
   * b <= 0, and a NaN b counts as not positive.
   */
  | 'reluGrad';

export type ReduceOp = 'sum' | 'max' | 'min' | 'argmax';

export interface MatmulParams {
  batch: number;
  m: number;
  n: number;
  k: number;
  /** a is stored [batch][k][m] instead of [batch][m][k]. */
  transA: boolean;
  /** b is stored [batch][n][k] instead of [batch][k][n]. */
  transB: boolean;
  /** Elements between consecutive batch matrices; 0 broadcasts one matrix to every batch. */
  batchStrideA: number;
  batchStrideB: number;
}

/** NCHW convolution, groups 1, dilation 1. Weight is [cOut, cIn, kh, kw]. */
export interface Conv2dParams {
  n: number; cIn: number; h: number; w: number;
  cOut: number; kh: number; kw: number;
  strideH: number; strideW: number;
  padH: number; padW: number;
  outH: number; outW: number;
}

export interface Pool2dParams {
  kind: 'max' | 'avg';
  n: number; c: number; h: number; w: number;
  kh: number; kw: number;
  strideH: number; strideW: number;
  padH: number; padW: number;
  outH: number; outW: number;
  /** avg only: divide by kh*kw (PyTorch's default count_include_pad=True) or by the in-bounds count. */
  countIncludePad: boolean;
}

export interface GridSampleParams {
  n: number; c: number; h: number; w: number;
  outH: number; outW: number;
  /** PyTorch's align_corners. */
  alignCorners: boolean;
  padding: 'zeros' | 'border';
}

export interface SgdParams {
  lr: number; momentum: number; dampening: number; weightDecay: number; nesterov: boolean;
  /** PyTorch initialises the momentum buffer with the first gradient instead of dampening it. */
  firstStep: boolean;
}

export interface AdamParams {
  lr: number; beta1: number; beta2: number; eps: number; weightDecay: number;
  /** 1-based step count, for bias correction. */
  step: number;
}

/**
 * Batch normalisation over contiguous x laid out [n, c, hw] (NCHW with hw = H*W, or [N, C] with
 * hw = 1); statistics are per channel over the m = n*hw values of that channel.
 */
export interface BatchNormParams {
  n: number; c: number; hw: number;
  /** Added to the variance before the inverse square root: invstd[c] = 1 / sqrt(var[c] + eps). */
  eps: number;
}

/**
 * What batchNormForward does after the affine map, in the same pass (one read and one write per
 * element instead of three passes): add `residual` (contiguous, x's length), then ReLU.
 */
export interface BatchNormEpilogue {
  residual?: Storage | null;
  relu?: boolean;
}

/** Which gradients batchNormBackward computes, and whether the statistics were the batch's own. */
export interface BatchNormWant {
  training: boolean;
  dx: boolean;
  dweight: boolean;
  dbias: boolean;
  /** With a gate: return dy after the ReLU's backward (needs the gate). */
  dgated?: boolean;
}

export type BatchNormGrads = {
  dx: Storage | null;
  dweight: Storage | null;
  dbias: Storage | null;
  dgated: Storage | null;
};

/** In-place update of running statistics from one batch's statistics (PyTorch's rule). */
export interface BatchNormRunningUpdate {
  /** [c], overwritten with (1 - momentum) * mean + momentum * batchMean. */
  mean: Storage;
  /** [c], overwritten with (1 - momentum) * var + momentum * m / (m - 1) * batchVar (the unbiased variance). */
  var: Storage;
  momentum: number;
}

export interface BackendInfo {
  name: 'cpu' | 'webgpu';
  /** Human-readable description (CPU precision or GPU adapter). */
  description: string;
}

export interface Backend {
  readonly info: BackendInfo;

  // --- memory -----------------------------------------------------------
  upload(data: ArrayLike<number>, dtype: DType): Storage;
  fill(length: number, value: number, dtype: DType): Storage;
  /** Copies the whole storage back to the host. The only asynchronous primitive. */
  read(s: Storage): Promise<HostArray>;
  release(s: Storage): void;
  /** Bytes currently held by live storages (pooled free buffers excluded). */
  liveBytes(): number;
  /** How many storages are live (GPU buffers handed out and not released; pooled free ones excluded). */
  liveStorages(): number;
  /** Sends queued work to the device now (no-op on the CPU). */
  flush(): void;
  /** Resolves when every queued command has finished. */
  sync(): Promise<void>;

  // --- layout -----------------------------------------------------------
  /** Contiguous copy of a strided view (permute, slice, expand, broadcast materialisation). */
  copy(src: StridedView): Storage;
  /** In place: writes the contiguous `src` (shaped dst.shape) into dst.storage at dst's strided positions. */
  writeStrided(dst: StridedView, src: Storage): void;

  // --- elementwise ------------------------------------------------------
  unary(op: UnaryOp, x: Storage, params?: UnaryParams): Storage;
  /** Output is contiguous with `outShape`; a and b are read through their views (broadcast = stride 0). */
  binary(op: BinaryOp, a: StridedView, b: StridedView, outShape: readonly number[]): Storage;
  /** cond != 0 ? a : b, all three read through views shaped to outShape. */
  where(cond: StridedView, a: StridedView, b: StridedView, outShape: readonly number[]): Storage;

  // --- reductions -------------------------------------------------------
  /** Reduces contiguous x of `shape` over the sorted `axes`; output shape is `shape` without them. argmax takes one axis and returns int32 (first max wins). */
  reduce(op: ReduceOp, x: Storage, shape: readonly number[], axes: readonly number[]): Storage;

  // --- batch normalisation (fused: a few passes instead of dozens of elementwise ones) ---
  /**
   * Per-channel mean and biased variance (divided by m = n*hw) of x. Accurate to float32 rounding
   * of the result (compensated or pairwise sums; the variance is the mean squared deviation from
   * the mean, never E[x^2] - E[x]^2), since batch-norm's backward amplifies statistic errors.
   * With `running`, also updates those running statistics in place (the only mutation).
   */
  batchNormStats(x: Storage, p: BatchNormParams, running?: BatchNormRunningUpdate): { mean: Storage; var: Storage };
  /**
   * y = (x - mean[c]) * invstd[c] * weight[c] + bias[c], invstd[c] = 1 / sqrt(var[c] + eps); a null
   * weight counts as ones and a null bias as zeros. mean/var are the batch's statistics in training
   * and the running ones in evaluation. An `epilogue` adds a residual of x's shape and/or applies
   * ReLU in the same pass: y = relu(bn(x) + residual), as ResNet blocks end.
   */
  batchNormForward(x: Storage, mean: Storage, variance: Storage, weight: Storage | null, bias: Storage | null, p: BatchNormParams, epilogue?: BatchNormEpilogue): Storage;
  /**
   * Gradients of batchNormForward given dy, with the same x, mean, var and weight. `training` says
   * whether mean and var are x's own batch statistics, so that dx includes the paths through them:
   *   train: dx = weight*invstd * (dy - sum(dy)/m - xhat * sum(dy*xhat)/m)
   *   eval:  dx = dy * weight*invstd
   * with xhat = (x - mean[c]) * invstd[c] and sums per channel. dweight = sum(dy*xhat) and
   * dbias = sum(dy) per channel. Only the requested outputs are computed (others are null); eval
   * mode's dx alone needs no reduction. With `gate`, the forward's output after a ReLU epilogue,
   * dy first goes back through that ReLU: dy * (gate > 0 ? 1 : 0), as the reluGrad op (no separate
   * pass); `want.dgated` also returns that gated dy (the gradient of an epilogue's residual).
   */
  batchNormBackward(
    dy: Storage, x: Storage, mean: Storage, variance: Storage, weight: Storage | null, p: BatchNormParams,
    want: BatchNormWant, gate?: Storage | null,
  ): BatchNormGrads;

  // --- linear algebra and convolution -----------------------------------
  matmul(a: Storage, b: Storage, p: MatmulParams): Storage;
  conv2d(x: Storage, w: Storage, bias: Storage | null, p: Conv2dParams): Storage;
  conv2dBackwardData(dy: Storage, w: Storage, p: Conv2dParams): Storage;
  conv2dBackwardWeight(x: Storage, dy: Storage, p: Conv2dParams): Storage;

  // --- pooling ----------------------------------------------------------
  pool2d(x: Storage, p: Pool2dParams): Storage;
  /** Max: the gradient goes to the first maximum of each window (PyTorch's rule), recomputed from x. */
  pool2dBackward(dy: Storage, x: Storage, p: Pool2dParams): Storage;

  // --- softmax and loss ---------------------------------------------------
  /** Row-wise (log-)softmax of contiguous [rows, cols]. */
  softmax(x: Storage, rows: number, cols: number, log: boolean): Storage;
  /** Per-row cross-entropy -log softmax(logits)[label]; labels int32 [rows]. Out-of-range labels give NaN. */
  crossEntropy(logits: Storage, labels: Storage, rows: number, cols: number): Storage;
  /** d/dlogits of sum_r g[r] * ce[r] = g[r] * (softmax - onehot). */
  crossEntropyBackward(logits: Storage, labels: Storage, gradPerRow: Storage, rows: number, cols: number): Storage;

  // --- indexing ---------------------------------------------------------
  /** x [outer, nIn, inner], index int32 [outer, nIdx, inner] -> [outer, nIdx, inner] (torch.gather). */
  gather(x: Storage, index: Storage, outer: number, nIn: number, inner: number, nIdx: number): Storage;
  /** Adjoint of gather: g [outer, nIdx, inner] summed into zeros [outer, nIn, inner]. */
  scatterAdd(g: Storage, index: Storage, outer: number, nIn: number, inner: number, nIdx: number): Storage;
  /** labels int32 [n] -> float [n, classes]. */
  oneHot(labels: Storage, n: number, classes: number): Storage;

  // --- sampling ---------------------------------------------------------
  /** x [N,C,H,W], grid [N,outH,outW,2] (x then y, in [-1,1]) -> [N,C,outH,outW], bilinear. */
  gridSample(x: Storage, grid: Storage, p: GridSampleParams): Storage;
  gridSampleBackward(dy: Storage, x: Storage, grid: Storage, p: GridSampleParams): { dx: Storage; dgrid: Storage };

  // --- random (counter-based: identical bits on every backend) ------------
  /** `length` values from uniform [0,1) or standard normal, stream `seed` starting at `counter`. */
  random(kind: 'uniform' | 'normal', length: number, seed: number, counter: number): Storage;
  /** A permutation of 0..n-1 (int32) drawn from stream `seed`. */
  randperm(n: number, seed: number): Storage;

  // --- optimiser updates, in place ---------------------------------------
  sgdUpdate(param: Storage, grad: Storage, momentumBuf: Storage | null, p: SgdParams): void;
  adamUpdate(param: Storage, grad: Storage, m: Storage, v: Storage, p: AdamParams): void;
}

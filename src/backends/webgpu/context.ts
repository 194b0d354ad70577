/**
 * What a WGSL kernel module needs from the WebGPU runtime. Kernel files in src/shaders/ build
 * `GpuProgram`s and call `ctx.dispatch`; the runtime (runtime.ts) owns the device, the buffer
 * pool, the pipeline cache, the command encoder and the uniform arena.
 *
 * Binding convention for every program: storage buffers at @group(0) @binding(0..k-1) in the
 * order of `bindings`, then (if `uniforms` is given) one uniform buffer at @binding(k).
 */
import type { DType, Storage } from '../../tensor/backend.js';

export interface GpuStorage extends Storage {
  readonly buffer: GPUBuffer;
  /** Bytes of the underlying (possibly larger, pooled) buffer. */
  readonly byteSize: number;
}

export interface GpuProgram {
  /** Pipeline cache key: must change whenever wgsl() would return different code. */
  readonly key: string;
  /** Full WGSL source with a `main` compute entry point. */
  wgsl(): string;
}

export interface GpuBinding {
  storage: Storage;
  /** 'read' binds as read-only storage; 'read_write' as read-write storage. */
  access: 'read' | 'read_write';
}

export interface GpuLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupsPerDimension: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupSizeY: number;
  maxComputeWorkgroupStorageSize: number;
  maxStorageBuffersPerShaderStage: number;
}

/** The GEMM-shaped kernel families, each with a register-tiled and a workgroup-memory form. */
export type GemmFamily = 'matmul' | 'convForward' | 'convBackwardData' | 'convBackwardWeight';
export type GemmForm = 'register' | 'shared';
export type GemmForms = Readonly<Record<GemmFamily, GemmForm>>;

/**
 * Measured defaults (bench/kernels.ts, --forms both). On SwiftShader (2 CPU cores) the register form
 * won every family by 2-3x. On an NVIDIA H100 (Dawn's Vulkan backend, bench/results/kernels-h100.json)
 * the register form also won matmul (4.8 vs 1.6 TFLOP/s at 1024^3), conv forward (1.0-6x) and
 * backward-data (0.93-1.26x), but the workgroup-memory form won backward-weight by 4.5-11x on the
 * large-image layers. Other GPUs are unmeasured: they get the H100's choice; override per family
 * with WebGpuBackendOptions.gemmForms.
 */
export function defaultGemmForms(isSoftwareAdapter: boolean): GemmForms {
  if (isSoftwareAdapter) return { matmul: 'register', convForward: 'register', convBackwardData: 'register', convBackwardWeight: 'register' };
  return { matmul: 'register', convForward: 'register', convBackwardData: 'register', convBackwardWeight: 'shared' };
}

/**
 * Strided conv backward-data: 'phases' runs one stride-1 GEMM per output phase with only the taps that
 * reach it (a quarter of the multiply-adds at stride 2, plus a few small passes); 'dilated' runs one
 * GEMM over the output gradient spread onto a zero-dilated grid. Measured (bench/kernels.ts --only
 * strided, ResNet-18's stride-2 layers at batch 32): on SwiftShader phases took 2.2-2.9x less time
 * (bench/results/kernels-strided.json), since every multiply-add costs CPU time there; on an NVIDIA H100
 * dilated was 1.6-2.3x faster on the 3x3 layers in the register form (kernels-strided-h100.json: the
 * phases' four small GEMMs and extra passes leave the GPU underused), so real GPUs keep it.
 */
export type StridedBackwardData = 'phases' | 'dilated';

export function defaultStridedBackwardData(isSoftwareAdapter: boolean): StridedBackwardData {
  return isSoftwareAdapter ? 'phases' : 'dilated';
}

/**
 * 3x3 stride-1 conv forward and backward-data by Winograd F(4x4, 3x3) (conv2d-winograd.ts): a quarter of
 * the multiply-adds, plus three memory-bound transform passes. Measured on SwiftShader (bench/kernels.ts, its
 * '-winograd' rows): 2.0-2.7x less time than the direct im2col GEMM at ResNet-18's shapes. Unmeasured on
 * hardware GPUs, which keep the direct form until a run there says otherwise (WebGpuBackendOptions.winograd).
 */
export function defaultWinograd(isSoftwareAdapter: boolean): boolean {
  return isSoftwareAdapter;
}

export interface GpuContext {
  readonly device: GPUDevice;
  readonly limits: GpuLimits;
  /**
   * Reductions, softmax and random numbers: workgroup-memory versions for real GPUs, thread-per-row
   * versions for CPU-emulated adapters (SwiftShader), where workgroup memory is slow.
   */
  readonly preferWorkgroupMemory: boolean;
  /** Which form each GEMM-shaped kernel family uses (see defaultGemmForms). */
  readonly gemmForms: GemmForms;
  /** True when the adapter is a software rasteriser such as SwiftShader. */
  readonly isSoftwareAdapter: boolean;
  /** How strided conv backward-data is computed (see defaultStridedBackwardData). */
  readonly stridedBackwardData: StridedBackwardData;
  /** Whether conv forward and backward-data may split long reductions over few outputs (conv2d.ts im2colSplitPlan). */
  readonly splitIm2col: boolean;
  /** Whether 3x3 stride-1 conv forward and backward-data use Winograd F(4x4, 3x3) (see defaultWinograd). */
  readonly winograd: boolean;
  alloc(length: number, dtype: DType): GpuStorage;
  /**
   * Returns a kernel's scratch storage to the pool. Safe right after recording the dispatches that
   * read it: later users of the buffer come after them in the same ordered command stream.
   */
  release(s: Storage): void;
  /**
   * Records one dispatch into the current command encoder (no submit). `uniforms` is the raw bytes
   * of the program's uniform struct (respect WGSL alignment: pad to 16-byte multiples).
   */
  dispatch(program: GpuProgram, bindings: GpuBinding[], workgroups: readonly [number, number, number], uniforms?: ArrayBuffer | ArrayBufferView): void;
}

/**
 * Splits `count` workgroups over x and y so neither exceeds the per-dimension limit. Kernels
 * recover the linear workgroup index as `wid.y * nwg.x + wid.x` (see shaders/common.ts) and
 * must bounds-check, since x*y may exceed count.
 */
export function grid1d(count: number, maxPerDim: number): [number, number, number] {
  if (count <= maxPerDim) return [Math.max(1, count), 1, 1];
  const y = Math.ceil(count / maxPerDim);
  if (y > maxPerDim) throw new Error(`a dispatch of ${count} workgroups exceeds ${maxPerDim}^2`);
  return [Math.ceil(count / y), y, 1];
}

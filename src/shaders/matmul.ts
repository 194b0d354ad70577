/**
 * Batched matmul (MatmulParams semantics: optional transposes, batch strides with 0 = broadcast).
 * Two kernel forms: register-tiled without workgroup memory (CPU-emulated adapters) and
 * workgroup-memory tiled (real GPUs), picked by ctx.preferWorkgroupMemory.
 */
import type { MatmulParams, Storage } from '../tensor/backend.js';
import type { GpuContext } from '../backends/webgpu/context.js';
import { grid1d } from '../backends/webgpu/context.js';
import { packUniforms } from './common.js';
import { MATMUL_UNIFORMS, matmulRegisterProgram, type MatmulVariant, type RegisterConfig } from './matmul-register.js';
import { matmulSharedProgram, SHARED_TILE } from './matmul-shared.js';

/** Measured on SwiftShader (2 cores): 4x8 tiles and 64-thread workgroups; see bench/kernels.ts. */
export const MATMUL_REGISTER_CONFIG: RegisterConfig = { tm: 4, tn: 8, workgroupSize: 64 };

export function checkMatmulArgs(a: Storage, b: Storage, p: MatmulParams): void {
  const { batch, m, n, k } = p;
  for (const [name, v] of Object.entries({ batch, m, n, k, batchStrideA: p.batchStrideA, batchStrideB: p.batchStrideB })) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`matmul: ${name} must be a non-negative integer, got ${v}`);
  }
  if (a.dtype !== 'float32' || b.dtype !== 'float32') throw new Error('matmul: operands must be float32');
  if (batch === 0) return;
  const needA = (batch - 1) * p.batchStrideA + m * k;
  const needB = (batch - 1) * p.batchStrideB + k * n;
  if (a.length < needA) throw new Error(`matmul: a has ${a.length} elements, needs ${needA}`);
  if (b.length < needB) throw new Error(`matmul: b has ${b.length} elements, needs ${needB}`);
}

export function matmulVariant(p: MatmulParams): MatmulVariant {
  const aligned = (contiguous: number, stride: number) => contiguous % 4 === 0 && stride % 4 === 0;
  return {
    transA: p.transA,
    transB: p.transB,
    vecA: aligned(p.transA ? p.m : p.k, p.batchStrideA),
    vecB: aligned(p.transB ? p.k : p.n, p.batchStrideB),
    vecOut: p.n % 4 === 0,
  };
}

export function matmul(ctx: GpuContext, a: Storage, b: Storage, p: MatmulParams, cfg: RegisterConfig = MATMUL_REGISTER_CONFIG): Storage {
  checkMatmulArgs(a, b, p);
  const out = ctx.alloc(p.batch * p.m * p.n, 'float32');
  if (out.length === 0) return out;
  const v = matmulVariant(p);
  const bindings = [
    { storage: a, access: 'read' as const },
    { storage: b, access: 'read' as const },
    { storage: out, access: 'read_write' as const },
  ];
  const maxDim = ctx.limits.maxComputeWorkgroupsPerDimension;
  if (ctx.preferWorkgroupMemory) {
    const tilesN = Math.ceil(p.n / SHARED_TILE.bn);
    const tilesM = Math.ceil(p.m / SHARED_TILE.bm);
    const u = packUniforms(MATMUL_UNIFORMS.map(([, t], i) => [t, [p.m, p.n, p.k, p.batch, p.batchStrideA, p.batchStrideB, tilesN, tilesM][i]!]));
    ctx.dispatch(matmulSharedProgram(v), bindings, grid1d(tilesN * tilesM * p.batch, maxDim), u);
  } else {
    const tilesN = Math.ceil(p.n / cfg.tn);
    const tilesM = Math.ceil(p.m / cfg.tm);
    const threads = tilesN * tilesM * p.batch;
    const u = packUniforms(MATMUL_UNIFORMS.map(([, t], i) => [t, [p.m, p.n, p.k, p.batch, p.batchStrideA, p.batchStrideB, tilesN, tilesM][i]!]));
    ctx.dispatch(matmulRegisterProgram(v, cfg), bindings, grid1d(Math.ceil(threads / cfg.workgroupSize), maxDim), u);
  }
  return out;
}

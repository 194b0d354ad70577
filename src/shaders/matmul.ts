/**
 * Batched matmul (MatmulParams semantics: optional transposes, batch strides with 0 = broadcast).
 * Two kernel forms, picked by ctx.preferWorkgroupMemory: register tiles without workgroup memory
 * for CPU-emulated adapters (matmul-register.ts) and 64x64 workgroup-memory tiles for real GPUs
 * (matmul-shared.ts). Both handle any m, n, k (edge tiles are bounds-checked) and either layout.
 */
import type { MatmulParams, Storage } from '../tensor/backend.js';
import type { GpuContext } from '../backends/webgpu/context.js';
import { grid1d } from '../backends/webgpu/context.js';
import { packUniforms } from './common.js';
import { MATMUL_UNIFORMS, matmulRegisterProgram, type RegisterConfig } from './matmul-register.js';
import { matmulSharedProgram, SHARED_TILE } from './matmul-shared.js';

/** Tuned on SwiftShader (2 cores) with bench/kernels.ts. */
export const REGISTER_CONFIG: RegisterConfig = { tm: 8, tn: 16, ku: 4, workgroupSize: 16 };

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

export function matmul(ctx: GpuContext, a: Storage, b: Storage, p: MatmulParams, cfg: RegisterConfig = REGISTER_CONFIG): Storage {
  checkMatmulArgs(a, b, p);
  const out = ctx.alloc(p.batch * p.m * p.n, 'float32');
  if (out.length === 0) return out;
  const shared = ctx.gemmForms.matmul === 'shared';
  const tileRows = shared ? SHARED_TILE.bm : cfg.tm;
  const tileCols = shared ? SHARED_TILE.bn : cfg.tn;
  const tilesN = Math.ceil(p.n / tileCols);
  const tilesM = Math.ceil(p.m / tileRows);
  const u = packUniforms(MATMUL_UNIFORMS.map(([, t], i) => [t, [p.m, p.n, p.k, p.batch, p.batchStrideA, p.batchStrideB, tilesN, tilesM][i]!]));
  const program = shared ? matmulSharedProgram(p.transA, p.transB) : matmulRegisterProgram(p.transA, p.transB, cfg);
  const bindings = [
    { storage: a, access: 'read' as const },
    { storage: b, access: 'read' as const },
    { storage: out, access: 'read_write' as const },
  ];
  const problems = tilesN * tilesM * p.batch;
  const workgroups = shared ? problems : Math.ceil(problems / cfg.workgroupSize);
  ctx.dispatch(program, bindings, grid1d(workgroups, ctx.limits.maxComputeWorkgroupsPerDimension), u);
  return out;
}

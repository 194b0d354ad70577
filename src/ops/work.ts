/**
 * A running count of the floating-point operations issued to the GEMM-like primitives (the three
 * conv2d passes and matmul), so long jobs can report their arithmetic throughput beside the kernel
 * benchmark's rates. Counting is a few multiplications per call; read differences, never reset.
 * Setting `calls` to a Map also tallies every call by kind and shape (bench/awm-profile.ts times each
 * shape on its own to find the time a run would take if it did nothing but its GEMMs).
 */
import type { Conv2dParams, MatmulParams } from '../tensor/backend.js';

export type GemmKind = 'conv2d' | 'conv2dBackwardData' | 'conv2dBackwardWeight' | 'matmul';

export interface GemmTally {
  kind: GemmKind;
  params: Conv2dParams | MatmulParams;
  /** Whether the forward conv had a bias (it changes the kernel). */
  bias: boolean;
  count: number;
  flops: number;
}

export const gemmWork: { flops: number; calls: Map<string, GemmTally> | null } = { flops: 0, calls: null };

/** Adds one call's flops, and tallies it by kind and shape when `gemmWork.calls` is set. */
export function countGemm(kind: GemmKind, params: Conv2dParams | MatmulParams, flops: number, bias = false): void {
  gemmWork.flops += flops;
  const calls = gemmWork.calls;
  if (!calls) return;
  const key = `${kind}${bias ? '+bias' : ''} ${JSON.stringify(params)}`;
  const t = calls.get(key);
  if (t) {
    t.count++;
    t.flops += flops;
  } else {
    calls.set(key, { kind, params: { ...params }, bias, count: 1, flops });
  }
}

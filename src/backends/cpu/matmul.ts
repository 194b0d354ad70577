/**
 * Batched matrix multiply in i-k-j order: the innermost loop streams a row of b into a row of the
 * output, four k at a time (see madd.ts).
 */
import type { FloatArray, MatmulParams } from '../../tensor/backend.js';
import { madd1, madd4 } from './madd.js';

export function checkMatmul(aLength: number, bLength: number, p: MatmulParams): void {
  const { batch, m, n, k } = p;
  for (const [name, v] of Object.entries({ batch, m, n, k, batchStrideA: p.batchStrideA, batchStrideB: p.batchStrideB })) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`matmul: ${name} must be a non-negative integer, got ${v}`);
  }
  if (batch === 0) return;
  const needA = (batch - 1) * p.batchStrideA + m * k;
  const needB = (batch - 1) * p.batchStrideB + k * n;
  if (aLength < needA) throw new Error(`matmul: a has ${aLength} elements, needs ${needA}`);
  if (bLength < needB) throw new Error(`matmul: b has ${bLength} elements, needs ${needB}`);
}

export function matmulKernel(a: FloatArray, b: FloatArray, p: MatmulParams, out: FloatArray): void {
  const { batch, m, n, k, transA, transB } = p;
  // A(i, kk) = a[aBase + i * aRowStep + kk * aColStep] for either layout of a.
  const aRowStep = transA ? 1 : k;
  const aColStep = transA ? m : 1;
  // A transposed b is re-laid out as [k][n] once per distinct matrix so the inner loop stays contiguous;
  // same array type as b, so the hot loop only ever sees one element type (V8 keeps it monomorphic).
  const bT = transB ? (b instanceof Float64Array ? new Float64Array(k * n) : new Float32Array(k * n)) : null;
  const acc = new Float64Array(n);
  for (let bi = 0; bi < batch; bi++) {
    const aBase = bi * p.batchStrideA;
    const bBase = bi * p.batchStrideB;
    let rows: FloatArray = b;
    let rowsBase = bBase;
    if (bT) {
      if (bi === 0 || p.batchStrideB !== 0) {
        for (let j = 0; j < n; j++) for (let kk = 0; kk < k; kk++) bT[kk * n + j] = b[bBase + j * k + kk]!;
      }
      rows = bT;
      rowsBase = 0;
    }
    for (let i = 0; i < m; i++) {
      acc.fill(0);
      const aRow = aBase + i * aRowStep;
      let kk = 0;
      for (; kk + 4 <= k; kk += 4) {
        const at = aRow + kk * aColStep;
        madd4(acc, 0, 1, rows, rowsBase + kk * n, 1, n, n, a[at]!, a[at + aColStep]!, a[at + 2 * aColStep]!, a[at + 3 * aColStep]!);
      }
      for (; kk < k; kk++) madd1(acc, 0, 1, rows, rowsBase + kk * n, 1, n, a[aRow + kk * aColStep]!);
      out.set(acc, (bi * m + i) * n);
    }
  }
}

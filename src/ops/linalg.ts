/** Batched matrix multiplication with broadcasting over leading (batch) dimensions. */
import { Tensor } from '../tensor/tensor.js';
import { broadcastShapes, sizeOf } from '../tensor/shape.js';
import { record } from '../autograd/engine.js';
import { assertFloat, sameBackend, shapeStr, wrap } from './util.js';
import { expand, reshape, transpose } from './layout.js';
import { sumTo } from './elementwise.js';
import { countGemm } from './work.js';

/**
 * a [..., m, k] @ b [..., k, n] -> [..., m, n]. 1-D operands are treated as a row (a) or column (b)
 * vector and that dimension is dropped from the result, as in torch.matmul.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const be = sameBackend('matmul', a, b);
  assertFloat('matmul', a, b);
  if (a.rank === 0 || b.rank === 0) throw new Error('matmul: scalars are not matrices');
  const a2 = a.rank === 1 ? reshape(a, [1, a.shape[0]!]) : a;
  const b2 = b.rank === 1 ? reshape(b, [b.shape[0]!, 1]) : b;
  const [m, k] = a2.shape.slice(-2) as [number, number];
  const [k2, n] = b2.shape.slice(-2) as [number, number];
  if (k !== k2) throw new Error(`matmul: inner dimensions differ: ${shapeStr(a.shape)} @ ${shapeStr(b.shape)}`);
  const batchShape = broadcastShapes(a2.shape.slice(0, -2), b2.shape.slice(0, -2));
  const batch = sizeOf(batchShape);
  // A batch operand that is not the full batch must be one matrix (stride 0) or be materialised.
  const fit = (t: Tensor, rows: number, cols: number): { t: Tensor; stride: number } => {
    const tb = sizeOf(t.shape.slice(0, -2));
    if (tb === batch) return { t, stride: rows * cols };
    if (tb === 1) return { t, stride: 0 };
    return { t: expand(t, [...batchShape, rows, cols]), stride: rows * cols };
  };
  const fa = fit(a2, m, k);
  const fb = fit(b2, k, n);
  const mp = { batch, m, n, k, transA: false, transB: false, batchStrideA: fa.stride, batchStrideB: fb.stride };
  countGemm('matmul', mp, 2 * batch * m * n * k);
  const storage = be.matmul(fa.t.storage, fb.t.storage, mp);
  if (fa.t !== a2) fa.t.dispose();
  if (fb.t !== b2) fb.t.dispose();
  const out = wrap(be, storage, [...batchShape, m, n]);
  record(out, 'matmul', [a2, b2], (g) => [
    a2.requiresGrad ? sumTo(matmul(g, transpose(b2)), a2.shape) : null,
    b2.requiresGrad ? sumTo(matmul(transpose(a2), g), b2.shape) : null,
  ]);
  if (a.rank > 1 && b.rank > 1) return out;
  return reshape(out, [...batchShape, ...(a.rank === 1 ? [] : [m]), ...(b.rank === 1 ? [] : [n])]);
}

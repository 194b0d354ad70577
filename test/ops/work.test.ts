/** The GEMM work counter: each conv2d pass and each matmul adds its exact flop count. */
import { describe, expect, it } from 'vitest';
import * as ops from '../../src/ops/index.js';
import { backward, requireGrad } from '../../src/autograd/engine.js';
import { tidy } from '../../src/tensor/scope.js';
import { cpu32, randomArray } from '../helpers/backends.js';

describe('gemmWork', () => {
  it('counts conv2d forward, backward-data and backward-weight, and matmul', () => {
    tidy(() => {
      const x = requireGrad(ops.tensor(cpu32, randomArray(2 * 3 * 5 * 5, 1), [2, 3, 5, 5]));
      const w = requireGrad(ops.tensor(cpu32, randomArray(4 * 3 * 3 * 3, 2), [4, 3, 3, 3]));
      const f0 = ops.gemmWork.flops;
      const y = ops.conv2d(x, w, null, { stride: 2, padding: 1 });
      // Output 2x4x3x3; each output takes 3*3*3 multiply-adds.
      const pass = 2 * 2 * 4 * 3 * 3 * 27;
      expect(ops.gemmWork.flops - f0).toBe(pass);
      backward(ops.sum(y));
      expect(ops.gemmWork.flops - f0).toBe(3 * pass);
      const f1 = ops.gemmWork.flops;
      ops.matmul(ops.tensor(cpu32, randomArray(5 * 7, 3), [5, 7]), ops.tensor(cpu32, randomArray(7 * 2, 4), [7, 2]));
      expect(ops.gemmWork.flops - f1).toBe(2 * 5 * 2 * 7);
    });
  });
});

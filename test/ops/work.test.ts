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

  it('tallies calls by kind and shape when asked, and only then', () => {
    tidy(() => {
      const x = requireGrad(ops.tensor(cpu32, randomArray(2 * 3 * 5 * 5, 5), [2, 3, 5, 5]));
      const w = requireGrad(ops.tensor(cpu32, randomArray(4 * 3 * 3 * 3, 6), [4, 3, 3, 3]));
      ops.gemmWork.calls = new Map();
      try {
        const f0 = ops.gemmWork.flops;
        for (let i = 0; i < 2; i++) backward(ops.sum(ops.conv2d(x, w, null, { padding: 1 })));
        ops.matmul(ops.tensor(cpu32, randomArray(6, 7), [2, 3]), ops.tensor(cpu32, randomArray(3, 8), [3, 1]));
        const tallies = [...ops.gemmWork.calls.values()];
        expect(tallies.map((t) => [t.kind, t.count])).toEqual([['conv2d', 2], ['conv2dBackwardData', 2], ['conv2dBackwardWeight', 2], ['matmul', 1]]);
        expect(tallies[0]!.params).toMatchObject({ n: 2, cIn: 3, cOut: 4, h: 5, w: 5, outH: 5, outW: 5 });
        expect(tallies.reduce((s, t) => s + t.flops, 0)).toBe(ops.gemmWork.flops - f0);
      } finally {
        ops.gemmWork.calls = null;
      }
      const f1 = ops.gemmWork.flops;
      ops.conv2d(x, w);
      expect(ops.gemmWork.flops).toBeGreaterThan(f1);
    });
  });
});

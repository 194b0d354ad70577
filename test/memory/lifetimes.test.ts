/**
 * Explicit buffer lifetimes: over 1,000 training steps of a small conv network the live GPU memory
 * and the pool's total footprint stay flat (no leak, no growth), and the work of a step goes to the
 * GPU as about one submit. And AWM's rounds, with each way of recovering triggers, leave nothing live
 * once the model is disposed (the trigger's L1 norm once leaked one trigger-sized tensor a round).
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/tensor/backend.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { tidy, keep } from '../../src/tensor/scope.js';
import { backward, requireGrad } from '../../src/autograd/engine.js';
import * as ops from '../../src/ops/index.js';
import { SGD } from '../../src/optim/index.js';
import { cpu32, gpuBackend, randomArray } from '../helpers/backends.js';
import type { WebGpuBackend } from '../../src/backends/webgpu/backend.js';
import { createModel } from '../../src/nn/index.js';
import { runAwm, type AwmVariant } from '../../src/awm/awm.js';

function tinyNet(be: Backend) {
  const p = (shape: number[], seed: number) => keep(requireGrad(ops.tensor(be, randomArray(shape.reduce((a, b) => a * b, 1), seed, -0.3, 0.3), shape)));
  const params = { w1: p([4, 1, 3, 3], 1), b1: p([4], 2), gamma: p([4], 3), beta: p([4], 4), w2: p([10, 4 * 4 * 4], 5) };
  const running = { mean: keep(ops.zeros(be, [4])), var: keep(ops.ones(be, [4])) };
  const forward = (x: Tensor): Tensor => {
    let h = ops.conv2d(x, params.w1, params.b1, { padding: 1 });
    h = ops.batchNorm(h, params.gamma, params.beta, running, { training: true });
    h = ops.maxPool2d(ops.relu(h), { kernel: 2 });
    return ops.matmul(ops.flatten(h), ops.transpose(params.w2));
  };
  return { params, running, forward };
}

async function trainSteps(be: Backend, steps: number, probe: (step: number) => void): Promise<number> {
  const net = tinyNet(be);
  const opt = new SGD(Object.values(net.params), { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  const x = keep(ops.tensor(be, randomArray(8 * 8 * 8, 9, 0, 1), [8, 1, 8, 8]));
  const y = keep(ops.tensor(be, Int32Array.from({ length: 8 }, (_, i) => i % 10), [8], { dtype: 'int32' }));
  let last = 0;
  for (let step = 1; step <= steps; step++) {
    const loss = tidy(() => {
      opt.zeroGrad();
      const l = ops.crossEntropy(net.forward(x), y);
      backward(l);
      opt.step();
      return l;
    });
    // End of step: hand the step's dispatches to the GPU as one command buffer.
    be.flush();
    if (step % 100 === 0 || step === steps) last = await loss.item();
    loss.dispose();
    probe(step);
  }
  opt.dispose();
  for (const t of [...Object.values(net.params), net.running.mean, net.running.var, x, y]) t.dispose();
  return last;
}

describe('explicit lifetimes', () => {
  it('CPU: runAwm leaves nothing live after two rounds, for every way of recovering its triggers', async () => {
    const set = { images: randomArray(8 * 100, 11, 0, 1), labels: Int32Array.from([0, 1, 2, 3, 0, 1, 2, 3]), n: 8, c: 1, h: 10, w: 10, numClasses: 4 };
    const options = { outer: 2, inner: 1, batchSize: 6, alpha: 0.9, gamma: 1e-8, tau: 0.1, triggerLr: 10, maskLr: 0.01, lrDecay: 1, seed: 5 };
    const variants: AwmVariant[] = [{}, { classTriggers: true }, { keepTrigger: true }, { triggerBank: true }, { sparseTrigger: true }];
    for (const variant of variants) {
      const start = cpu32.liveBytes();
      const model = createModel(cpu32, { arch: 'resnet18', inChannels: 1, numClasses: 4, width: 2 }, { seed: 9 });
      await runAwm(model, cpu32, set, options, {}, variant);
      model.dispose();
      expect(cpu32.liveBytes(), JSON.stringify(variant)).toBe(start);
    }
  });

  it('CPU: live bytes return to the start after training and disposal', async () => {
    const start = cpu32.liveBytes();
    const loss = await trainSteps(cpu32, 50, () => {});
    expect(Number.isFinite(loss)).toBe(true);
    expect(cpu32.liveBytes()).toBe(start);
  });

  it.skipIf(!gpuBackend)('WebGPU: memory stays flat over 1,000 training steps, about one submit per step', async () => {
    const gpu = gpuBackend as WebGpuBackend;
    const rt = gpu.runtime;
    const startLive = rt.memoryStats().liveBytes;
    const samples: Array<{ live: number; total: number }> = [];
    const submitsBefore = rt.submitCount;
    const loss = await trainSteps(gpu, 1000, (step) => {
      if (step === 20 || step % 200 === 0) {
        const s = rt.memoryStats();
        samples.push({ live: s.liveBytes, total: s.liveBytes + s.freeBytes });
      }
    });
    const submits = rt.submitCount - submitsBefore;
    expect(Number.isFinite(loss)).toBe(true);
    // Between step 20 and step 1000 neither the live set nor the pool grew.
    for (const s of samples) {
      expect(s.live).toBe(samples[0]!.live);
      expect(s.total).toBe(samples[0]!.total);
    }
    expect(rt.memoryStats().liveBytes).toBe(startLive);
    // One submit per step for the work, plus the reads every 100 steps (1 uploads batch at the start).
    expect(submits).toBeGreaterThanOrEqual(1000);
    expect(submits).toBeLessThanOrEqual(1000 + 20);
  });
});

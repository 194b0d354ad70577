/**
 * One AWM round against PyTorch's golden values (test/fixtures/awm_round.safetensors, float64
 * reference): the trigger after each ascent step and its loss, the rescale into the L1 ball, the
 * first mask gradient, each mask step's loss, the masks after three Adam steps and the final logits.
 * Bounds: 1e-4 relative on the CPU backend, 1e-3 on WebGPU (max|a-b| / max|b| per tensor).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/tensor/backend.js';
import { keep, tidy } from '../../src/tensor/scope.js';
import { backward, noGrad, requireGrad } from '../../src/autograd/engine.js';
import * as ops from '../../src/ops/index.js';
import { Adam } from '../../src/optim/index.js';
import { parseSafetensors } from '../../src/io/safetensors.js';
import { attachMasks, createModel, type HostTensor } from '../../src/nn/index.js';
import { clampMasks, maskLoss, rescaleTrigger, triggerStep } from '../../src/awm/steps.js';
import { cpu32, gpuBackend } from '../helpers/backends.js';

const buf = readFileSync(new URL('../fixtures/awm_round.safetensors', import.meta.url));
const fixture = parseSafetensors(new Uint8Array(buf), 'awm_round');
const golden = (k: string): HostTensor => {
  const t = fixture.tensors.get(k);
  if (!t) throw new Error(`awm_round lacks ${k}`);
  return t;
};

function relError(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  expect(ours.length).toBe(ref.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(ours[i]! - ref[i]!);
    diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return diff === 0 ? 0 : diff / scale;
}

const backends: Array<[string, Backend | null, number]> = [
  ['cpu32', cpu32, 1e-4],
  ['webgpu', gpuBackend, 1e-3],
];

for (const [name, backend, bound] of backends) {
  describe.runIf(backend !== null)(`one AWM round matches PyTorch on ${name}`, () => {
    it('trigger steps, rescale, mask gradient, Adam steps with clamping, final logits', async () => {
      const be = backend!;
      const check = (what: string, ours: ArrayLike<number>, key: string) => {
        const err = relError(ours, golden(key).data);
        expect(err, `${what}: relative error ${err.toExponential(2)}`).toBeLessThanOrEqual(bound);
      };
      const model = createModel(be, { arch: 'resnet18', inChannels: 3, numClasses: 10, width: 4 }, { skipInit: true });
      const state = new Map<string, HostTensor>();
      for (const [k, v] of fixture.tensors) {
        if (k.startsWith('param.')) state.set(k.slice(6), v);
        else if (k.startsWith('buffer.')) state.set(k.slice(7), v);
        else if (k.startsWith('weight.')) state.set(`${k.slice(7)}.weight`, v);
      }
      model.loadStateDict(state, { strict: false });
      model.eval();
      model.setRequiresGrad(false);
      const masks = attachMasks(model);
      const maskList = [...masks.values()];
      const info = JSON.parse(readFileSync(new URL('../fixtures/fixtures.json', import.meta.url), 'utf8')).awm_round as { masked_layers: string[] };
      expect([...masks.keys()]).toEqual(info.masked_layers);

      const x = keep(ops.tensor(be, golden('input').data, golden('input').shape));
      const y = keep(ops.tensor(be, Int32Array.from(golden('target').data), [6], { dtype: 'int32' }));

      // Phase 1: three ascent steps on the same six images, masks constant.
      for (const m of maskList) m.requiresGrad = false;
      const delta = keep(requireGrad(ops.zeros(be, [1, 3, 16, 16])));
      for (let k = 0; k < 3; k++) {
        const loss = triggerStep(model, delta, x, 10);
        check(`trigger step ${k} loss`, [await loss.item()], `trigger.step${k}.loss`);
        loss.dispose();
        check(`trigger step ${k} delta`, await delta.data(), `trigger.step${k}.delta`);
      }
      requireGrad(delta, false);
      await rescaleTrigger(delta, 5);
      check('rescaled trigger', await delta.data(), 'trigger.delta_rescaled');

      // Phase 2: three Adam steps on the masks.
      for (const m of maskList) m.requiresGrad = true;
      const adam = new Adam(maskList, { lr: 1e-2 });
      for (let k = 0; k < 3; k++) {
        const loss = tidy(() => {
          adam.zeroGrad();
          const parts = maskLoss(model, maskList, x, y, delta, 0.9, 1e-8);
          backward(parts.total);
          return parts.total;
        });
        check(`mask step ${k} loss`, [await loss.item()], `mask.step${k}.loss`);
        loss.dispose();
        if (k === 0) for (const [layer, m] of masks) check(`first mask gradient of ${layer}`, await m.grad!.data(), `mask.step0.grad.${layer}`);
        adam.step();
        clampMasks(maskList);
      }
      for (const [layer, m] of masks) check(`final mask of ${layer}`, await m.data(), `mask.final.${layer}`);
      const logits = noGrad(() => model.forward(x));
      check('final logits', await logits.data(), 'logits_final');
      logits.dispose();
      adam.dispose();
      for (const t of [x, y, delta]) t.dispose();
      model.dispose();
    });
  });
}

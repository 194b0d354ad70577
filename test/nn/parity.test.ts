/**
 * PyTorch parity of the CIFAR ResNet-18 on the golden fixtures (computed in float64 by PyTorch):
 * eval-mode logits, train-mode logits and loss, every parameter gradient, the input gradient and
 * the running statistics after one train step.
 *
 * Error measure, per tensor: max|ours - torch| / max|torch| (relative to the tensor's scale, so
 * near-zero entries of a gradient do not dominate). Bounds: 1e-4 on the CPU, 1e-3 on WebGPU.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/tensor/backend.js';
import { beginScope, endScope } from '../../src/tensor/scope.js';
import { backward, noGrad } from '../../src/autograd/engine.js';
import { tensor } from '../../src/ops/create.js';
import { crossEntropy } from '../../src/ops/loss.js';
import { parseSafetensors, type SafetensorsFile } from '../../src/io/safetensors.js';
import { createModel, inferModelSpec, BatchNorm2d, type HostTensor } from '../../src/nn/index.js';
import { cpu32, gpuBackend } from '../helpers/backends.js';

interface FixtureInfo {
  in_channels: number;
  width: number;
  input_shape: number[];
}

const fixturesInfo = JSON.parse(readFileSync(new URL('../fixtures/fixtures.json', import.meta.url), 'utf8')) as Record<string, FixtureInfo>;

function loadFixture(name: string): SafetensorsFile {
  const buf = readFileSync(new URL(`../fixtures/${name}.safetensors`, import.meta.url));
  // A plain Uint8Array view: Buffer's slice() does not copy, which the parser's F32 fast path relies on.
  return parseSafetensors(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), name);
}

function relError(ours: ArrayLike<number>, torch: ArrayLike<number>): number {
  if (ours.length !== torch.length) return Infinity;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < torch.length; i++) {
    const d = Math.abs(ours[i]! - torch[i]!);
    diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
    scale = Math.max(scale, Math.abs(torch[i]!));
  }
  return diff === 0 ? 0 : diff / scale;
}

/** Worst error per group of checks, printed once at the end as the measured parity. */
const report: string[] = [];

afterAll(() => {
  if (report.length) console.log(`\nResNet-18 parity (max|a-b|/max|b| per tensor, worst per group):\n${report.join('\n')}`);
});

const backends: Array<[string, Backend | null, number]> = [
  ['cpu32', cpu32, 1e-4],
  ['webgpu', gpuBackend, 1e-3],
];

for (const [backendName, backend, bound] of backends) {
  describe.runIf(backend !== null)(`ResNet-18 parity with PyTorch on ${backendName}`, () => {
    for (const fixture of ['resnet18_w8', 'resnet18_w4_gray']) {
      it(`${fixture}: eval logits, train logits, loss, gradients and running stats`, async () => {
        const be = backend!;
        const info = fixturesInfo[fixture]!;
        const file = loadFixture(fixture);
        const golden = (key: string): HostTensor => {
          const t = file.tensors.get(key);
          if (!t) throw new Error(`fixture ${fixture} lacks "${key}"`);
          return t;
        };
        const params = new Map<string, HostTensor>();
        for (const [k, v] of file.tensors) if (k.startsWith('param.')) params.set(k.slice('param.'.length), v);

        const spec = inferModelSpec(new Map([...params].map(([k, v]) => [k, v.shape])));
        expect(spec).toMatchObject({ arch: 'resnet18', width: info.width, inChannels: info.in_channels, numClasses: 10 });
        const model = createModel(be, spec, { skipInit: true });
        const errors = new Map<string, number>();
        const check = (group: string, what: string, ours: ArrayLike<number>, torch: HostTensor) => {
          const err = relError(ours, torch.data);
          errors.set(group, Math.max(errors.get(group) ?? 0, err));
          expect(err, `${fixture} ${what}: relative error ${err.toExponential(2)} on ${backendName}`).toBeLessThanOrEqual(bound);
        };

        const scope = beginScope();
        try {
          model.loadStateDict(params, { strict: true });
          const input = golden('input');
          expect(input.shape).toEqual(info.input_shape);

          model.eval();
          const evalLogits = noGrad(() => model.forward(tensor(be, input.data, input.shape)));
          check('eval logits', 'eval logits', await evalLogits.data(), golden('logits_eval'));

          model.train();
          const x = tensor(be, input.data, input.shape, { requiresGrad: true });
          const target = golden('target');
          const logits = model.forward(x);
          const loss = crossEntropy(logits, tensor(be, Int32Array.from(target.data), target.shape, { dtype: 'int32' }));
          backward(loss);
          check('train logits', 'train logits', await logits.data(), golden('logits_train'));
          check('loss', 'loss', [await loss.item()], golden('loss_train'));
          check('input gradient', 'input gradient', await x.grad!.data(), golden('grad_input_train'));

          const named = model.namedParameters();
          const gradKeys = [...file.tensors.keys()].filter((k) => k.startsWith('grad.')).map((k) => k.slice('grad.'.length));
          expect(named.map(([k]) => k).sort()).toEqual(gradKeys.sort());
          for (const [key, p] of named) {
            expect(p.grad, `${key} has no gradient`).not.toBeNull();
            check('parameter gradients', `grad ${key}`, await p.grad!.data(), golden(`grad.${key}`));
          }

          let bnCount = 0;
          for (const [name, m] of model.namedModules()) {
            if (!(m instanceof BatchNorm2d)) continue;
            bnCount++;
            check('running stats', `${name}.running_mean`, await m.runningMean.data(), golden(`after_train_step.${name}.running_mean`));
            check('running stats', `${name}.running_var`, await m.runningVar.data(), golden(`after_train_step.${name}.running_var`));
            expect(m.numBatchesTracked).toBe(1);
          }
          expect(bnCount * 2).toBe([...file.tensors.keys()].filter((k) => k.startsWith('after_train_step.')).length);
        } finally {
          endScope(scope);
          model.dispose();
        }
        report.push(`  ${backendName} ${fixture}: ${[...errors].map(([g, e]) => `${g} ${e.toExponential(2)}`).join(', ')}`);
      });
    }
  });
}

/**
 * `awm explain`: one round of the faithful AWM on a backdoored model, step by step, with how its
 * gradients flow and checks of each (src/awm/walkthrough.ts). It runs on the CPU reference in
 * float64, where central finite differences are exact to about 1e-8, and then runs the library's
 * runAwm for one round with the same seed to show the walkthrough is the algorithm itself.
 * Defaults: the browser page's BadNets small CNN (web/demo-assets) and one Fashion-MNIST test image per class.
 */
import { join } from 'node:path';
import { attackFromMetadata, describeAttack } from '../attacks/index.js';
import { CpuBackend } from '../backends/cpu/index.js';
import { resolveAwmOptions } from '../awm/awm-defense.js';
import { validateCleanSet } from '../awm/clean-set.js';
import { explainAwmRound } from '../awm/walkthrough.js';
import { triggerFootprint } from '../awm/trigger-footprint.js';
import { explainedRoundAgrees, formatExplainedRound } from '../awm/walkthrough-text.js';
import type { ParsedFlags } from './args.js';
import { UsageError } from './args.js';
import { emitResult, type Command, type CommandIO } from './command.js';
import { fashionMnistDir, intAtLeast, openModel, positiveNumber, shippedFile } from './common.js';
import { chooseCleanSource } from './purify-sources.js';

export const explainCommand: Command = {
  name: 'explain',
  summary: 'one AWM round step by step: how the trigger and mask gradients flow, each checked (CPU, float64)',
  flags: {
    model: { type: 'string', help: 'the model (.safetensors; default: the browser page\'s BadNets small CNN, web/demo-assets/model.safetensors)' },
    clean: { type: 'string', default: 'fashion-mnist', help: 'clean images, as for awm purify: a dataset name, a folder of class subfolders, or a .safetensors file' },
    'data-dir': { type: 'string', help: 'dataset folder (default for fashion-mnist: the installed set, else the shipped subset)' },
    'per-class': { type: 'int', default: 1, help: 'clean images per class' },
    'batch-size': { type: 'int', help: 'batch size (default: the one-shot preset\'s 32 at one image per class, else 128; on a ResNet-18, --batch-size 4 --inner 1 takes seconds)' },
    inner: { type: 'int', default: 5, help: 'steps per phase per pass over the clean set' },
    alpha: { type: 'number', help: 'weight of the clean loss (default 0.99 one-shot, else 0.9)' },
    tau: { type: 'number', help: 'trigger L1 budget for a 3x32x32 input, scaled to the input size (default 100 one-shot, else 1000)' },
    seed: { type: 'int', default: 0, help: 'seed for the images drawn and the batches' },
  },
  run: runExplain,
};

async function runExplain(flags: ParsedFlags, io: CommandIO): Promise<void> {
  const seed = flags.seed as number;
  const modelPath = (flags.model as string | undefined) ?? shippedFile(join('web', 'demo-assets', 'model.safetensors'), 'the page\'s demo model (web/demo-assets/model.safetensors) was not found; pass --model');
  if (flags.clean === 'fashion-mnist' && flags['data-dir'] === undefined) flags['data-dir'] = fashionMnistDir();
  const backend = new CpuBackend({ precision: 'float64' });
  io.log('== awm explain: one round of Adversarial Weight Masking, step by step ==');
  io.log(`backend: ${backend.info.description}, so the finite differences below are exact to about 1e-10 (their rounding floor)`);
  const first = await openModel(backend, modelPath);
  const { spec, metadata } = first;
  first.model.dispose();
  io.log(`model: ${modelPath} (${spec.arch}, width ${spec.width}, ${spec.numClasses} classes)`);
  const attack = attackFromMetadata(metadata);
  if (attack) io.log(`its metadata names the attack it carries: ${describeAttack(attack)}`);
  const choice = await chooseCleanSource(flags, spec, seed);
  io.log(`clean images: ${choice.description.split(';')[0]}`);
  const size = spec.arch === 'small-cnn' ? spec.inputSize : undefined;
  validateCleanSet(choice.clean, { c: spec.inChannels, ...(size !== undefined ? { h: size, w: size } : {}), numClasses: spec.numClasses });
  const partial = {
    inner: intAtLeast(flags, 'inner', 1),
    batchSize: intAtLeast(flags, 'batch-size', 1),
    alpha: flags.alpha as number | undefined,
    tau3072: positiveNumber(flags, 'tau'),
  };
  if (partial.alpha !== undefined && !(partial.alpha >= 0 && partial.alpha <= 1)) throw new UsageError(`--alpha must be in [0, 1], got ${partial.alpha}`);
  const resolved = resolveAwmOptions(Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)), { clean: choice.clean, seed });
  const { augmentCopies, augmentFlip: _flip, oneShot, tau3072: _tau3072, ...options } = resolved;
  io.log(`settings: ${oneShot ? 'the one-shot preset' : 'the defaults'} (batch ${options.batchSize}, alpha ${options.alpha}, tau ${options.tau.toFixed(2)}, trigger lr ${options.triggerLr}, mask lr ${options.maskLr}, gamma ${options.gamma}).` +
    (augmentCopies ? ` awm purify would add ${augmentCopies} random crops of each image first; they are left out here so each step's batch is the images themselves.` : ''));
  const t0 = performance.now();
  const footprint = attack ? triggerFootprint(attack, choice.clean) : undefined;
  const explained = await explainAwmRound(async () => (await openModel(backend, modelPath)).model, backend, choice.clean, options, footprint ? { footprint } : {});
  const lines = formatExplainedRound(explained, choice.classNames);
  if (!explainedRoundAgrees(explained)) {
    for (const line of lines) io.log(line);
    throw new Error('a check disagreed (marked DISAGREE above)');
  }
  const seconds = (performance.now() - t0) / 1000;
  // The walkthrough is what this command is for, so its text is the result, not progress.
  emitResult(io, [...lines, `${seconds.toFixed(1)} s`], { walkthrough: lines, runnerDifference: explained.runnerDifference, agrees: true, seconds });
}

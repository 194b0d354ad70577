/**
 * `awm purify` end to end on the CPU backend with a tiny ResNet-18 and a tiny clean set given as a
 * safetensors file: the output keeps the input's key names and shapes, the same seed gives the same
 * masks, and bad input fails with a clear message and leaves no output file.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseFlags } from '../../src/cli/args.js';
import type { CommandIO } from '../../src/cli/command.js';
import { purifyCommand } from '../../src/cli/cmd-purify.js';
import { CpuBackend } from '../../src/backends/cpu/index.js';
import { createModel, saveModel } from '../../src/nn/index.js';
import { parseSafetensors, serializeSafetensors } from '../../src/io/safetensors.js';
import { makeTempDir } from '../data/fixtures.js';
import { gpuBackend, randomArray } from '../helpers/backends.js';
import { suspectedTarget } from '../../src/awm/awm-plus.js';

const io: CommandIO = { log: () => {}, warn: () => {} };
const run = async (argv: string[]) => purifyCommand.run(parseFlags(argv, purifyCommand.flags), io);
const tiny = ['--backend', 'cpu', '--outer', '1', '--inner', '1', '--batch-size', '4', '--augment-copies', '0'];

function cleanFile(path: string, opts: { n?: number; c?: number; labels?: number[]; nan?: boolean } = {}): void {
  const n = opts.n ?? 4;
  const c = opts.c ?? 1;
  const images = randomArray(n * c * 12 * 12, 5, 0, 1);
  if (opts.nan) images[3] = Number.NaN;
  const labels = Int32Array.from(opts.labels ?? Array.from({ length: n }, (_, i) => i % 4));
  writeFileSync(path, serializeSafetensors({ images: { shape: [n, c, 12, 12], data: images }, labels: { shape: [n], data: labels, dtype: 'I64' } }));
}

describe('awm purify (CPU backend)', () => {
  let dir: string;
  let modelPath: string;
  beforeAll(async () => {
    dir = makeTempDir('purify');
    const model = createModel(new CpuBackend(), { arch: 'resnet18', inChannels: 1, numClasses: 4, width: 4 }, { seed: 3 });
    modelPath = join(dir, 'model.safetensors');
    writeFileSync(modelPath, await saveModel(model));
    model.dispose();
    cleanFile(join(dir, 'clean.safetensors'));
  });

  it('writes a purified model with the input keys and shapes, masks, and a report', async () => {
    const out = join(dir, 'out.safetensors');
    await run(['--model', modelPath, '--clean', join(dir, 'clean.safetensors'), '--out', out, '--masks', join(dir, 'masks.safetensors'), '--report', join(dir, 'r.json'), ...tiny]);
    const before = parseSafetensors(new Uint8Array(readFileSync(modelPath)));
    const after = parseSafetensors(new Uint8Array(readFileSync(out)));
    expect([...after.tensors.keys()].sort()).toEqual([...before.tensors.keys()].sort());
    for (const [k, t] of before.tensors) expect(after.tensors.get(k)!.shape, k).toEqual(t.shape);
    // Conv weights changed (masks folded in), BatchNorm statistics did not (eval mode throughout).
    expect(after.tensors.get('conv1.weight')!.data).not.toEqual(before.tensors.get('conv1.weight')!.data);
    expect(after.tensors.get('bn1.running_var')!.data).toEqual(before.tensors.get('bn1.running_var')!.data);
    const masks = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'masks.safetensors'))));
    expect(masks.tensors.get('layer2.0.shortcut.0.mask')!.shape).toEqual([8, 4, 1, 1]);
    const report = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'));
    expect(report.method).toBe('awm');
    expect(report.maskStats).toHaveLength(20);
    expect(existsSync(join(dir, 'r.md'))).toBe(true);
    expect(existsSync(join(dir, 'r-triggers.png'))).toBe(true);
    expect(existsSync(join(dir, 'r-masks.png'))).toBe(true);
  });

  it('gives the same masks for the same seed and different ones for another seed', async () => {
    const masksFor = async (seed: string, name: string) => {
      await run(['--model', modelPath, '--clean', join(dir, 'clean.safetensors'), '--out', join(dir, `${name}.safetensors`), '--masks', join(dir, `${name}-m.safetensors`), '--seed', seed, ...tiny]);
      return readFileSync(join(dir, `${name}-m.safetensors`));
    };
    const a = await masksFor('7', 'a');
    const b = await masksFor('7', 'b');
    const c = await masksFor('8', 'c');
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(false);
  });

  it('AWM+ with --candidates runs each seed, self-checks it and keeps the lowest score', async () => {
    const plus = ['--method', 'awm+', '--mixup', '0', '--seed', '3'];
    const out = join(dir, 'cand.safetensors');
    await run(['--model', modelPath, '--clean', join(dir, 'clean.safetensors'), '--out', out, '--masks', join(dir, 'cand-m.safetensors'), '--report', join(dir, 'cand.json'), ...tiny, ...plus, '--candidates', '2']);
    const check = JSON.parse(readFileSync(join(dir, 'cand.json'), 'utf8')).details.selfCheck;
    expect(check.before.agreement).toBe(1);
    expect(check.candidates.map((c: { seed: number }) => c.seed)).toEqual([3, 4]);
    const scores = check.candidates.map((c: { score: number }) => c.score);
    expect(check.kept).toBe(scores.indexOf(Math.min(...scores)));
    // The kept candidate's masks are the ones a single run with its seed gives.
    const keptSeed = String(check.candidates[check.kept].seed);
    const single = join(dir, 'cand-single');
    await run(['--model', modelPath, '--clean', join(dir, 'clean.safetensors'), '--out', `${single}.safetensors`, '--masks', `${single}-m.safetensors`, ...tiny, ...plus.slice(0, -1), keptSeed]);
    // A single run draws its clean images with its own seed too, so compare only when the clean set is the same (a file: always).
    expect(readFileSync(join(dir, 'cand-m.safetensors')).equals(readFileSync(`${single}-m.safetensors`))).toBe(true);
    await expect(run(['--model', modelPath, '--clean', join(dir, 'clean.safetensors'), '--out', join(dir, 'never.safetensors'), ...tiny, ...plus, '--candidates', '0'])).rejects.toThrow(/--candidates must be at least 1, got '0'/);
    await expect(run(['--model', modelPath, '--clean', join(dir, 'clean.safetensors'), '--out', join(dir, 'never.safetensors'), ...tiny, ...plus, '--candidates', '2', '--self-check=false'])).rejects.toThrow(/--candidates needs the self-check/);
    // Without the check (one candidate) the masks are the same and the report has no self-check. With it, the suspect
    // triggers were on (the default) but no two searches agreed on this random model, so nothing was unlearned: the
    // masks cannot differ from a run without them.
    const cand = JSON.parse(readFileSync(join(dir, 'cand.json'), 'utf8'));
    expect(cand.settings.suspectTrigger).toBe(true);
    expect(cand.details.suspectShift.search.agreeing).toBeLessThan(2);
    expect(cand.details).not.toHaveProperty('suspectTrigger');
    // The output check ran on the kept output (the fallback is on with the self-check) and is in the Markdown.
    // On this random model the masks send every composite to one class, and so do the faithful AWM's: AWM+'s is kept.
    expect(cand.details.outputCheck).toMatchObject({ limit: 0.25, compositeFlip: 1, kept: 'awm+', faithful: { compositeFlip: 1 } });
    expect(readFileSync(join(dir, 'cand.md'), 'utf8')).toMatch(/## Output check\n\nAWM\+'s output moved 100\.0 % of one kind of composite of the clean images \(cut-and-paste or mixtures\) into class \d \(limit 25\.0 %\); the faithful AWM, run on the same clean images, moved 100\.0 % into class \d, no fewer/);
    await run(['--model', modelPath, '--clean', join(dir, 'clean.safetensors'), '--out', join(dir, 'nocheck.safetensors'), '--masks', join(dir, 'nocheck-m.safetensors'), '--report', join(dir, 'nocheck.json'), ...tiny, ...plus.slice(0, -1), keptSeed, '--self-check=false']);
    expect(readFileSync(join(dir, 'nocheck-m.safetensors')).equals(readFileSync(`${single}-m.safetensors`))).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'nocheck.json'), 'utf8')).details.selfCheck).toBeUndefined();
  });

  it('AWM+ with --select-round keeps the best-scoring round, whose masks a run stopped there gives', async () => {
    // --fallback=false: on this random model the output check would hand the output to the faithful AWM (see above).
    const plus = ['--method', 'awm+', '--mixup', '0', '--seed', '6', '--fallback=false'];
    const tinyRounds = tiny.filter((_, i) => tiny[i] !== '--outer' && tiny[i - 1] !== '--outer');
    const clean = ['--model', modelPath, '--clean', join(dir, 'clean.safetensors')];
    await run([...clean, '--out', join(dir, 'sel.safetensors'), '--masks', join(dir, 'sel-m.safetensors'), '--report', join(dir, 'sel.json'), ...tinyRounds, ...plus, '--outer', '4', '--select-round']);
    const report = JSON.parse(readFileSync(join(dir, 'sel.json'), 'utf8'));
    const cand = report.details.selfCheck.candidates[0];
    const scores = cand.rounds.map((c: { score: number }) => c.score);
    expect(scores).toHaveLength(4);
    expect(cand.keptRound).toBe(scores.indexOf(Math.min(...scores)) + 1);
    expect(cand.score).toBe(Math.min(...scores));
    // Every round still appears in the report; the output holds the kept round's masks.
    expect(report.details.rounds).toHaveLength(4);
    await run([...clean, '--out', join(dir, 'sel-stop.safetensors'), '--masks', join(dir, 'sel-stop-m.safetensors'), ...tinyRounds, ...plus, '--outer', String(cand.keptRound), '--select-round=false']);
    expect(readFileSync(join(dir, 'sel-m.safetensors')).equals(readFileSync(join(dir, 'sel-stop-m.safetensors')))).toBe(true);
    await expect(run([...clean, '--out', join(dir, 'never.safetensors'), ...tinyRounds, ...plus, '--select-round', '--self-check=false'])).rejects.toThrow(/--select-round needs the self-check/);
  });

  it('AWM+ with --calibrate-head: the bias fit shifts only the head bias by the reported shift, the linear fit changes only the head; masks stay', async () => {
    const plus = ['--method', 'awm+', '--mixup', '0', '--seed', '2', '--self-check=false'];
    const clean = ['--model', modelPath, '--clean', join(dir, 'clean.safetensors')];
    await run([...clean, '--out', join(dir, 'cal.safetensors'), '--masks', join(dir, 'cal-m.safetensors'), '--report', join(dir, 'cal.json'), ...tiny, ...plus, '--calibrate-head', '--head-fit', 'bias']);
    await run([...clean, '--out', join(dir, 'lin.safetensors'), '--masks', join(dir, 'lin-m.safetensors'), '--report', join(dir, 'lin.json'), ...tiny, ...plus, '--calibrate-head']);
    await run([...clean, '--out', join(dir, 'nocal.safetensors'), '--masks', join(dir, 'nocal-m.safetensors'), ...tiny, ...plus, '--calibrate-head=false']);
    for (const name of ['cal', 'lin']) expect(readFileSync(join(dir, `${name}-m.safetensors`)).equals(readFileSync(join(dir, 'nocal-m.safetensors'))), name).toBe(true);
    const calReport = JSON.parse(readFileSync(join(dir, 'cal.json'), 'utf8'));
    expect(calReport.details.headCalibration.mode).toBe('bias');
    const shift: number[] = calReport.details.headCalibration.shift;
    expect(shift).toHaveLength(4);
    expect(shift.some((v) => Math.abs(v) > 1e-4)).toBe(true);
    const tensors = (name: string) => parseSafetensors(new Uint8Array(readFileSync(join(dir, `${name}.safetensors`)))).tensors;
    const cal = tensors('cal');
    const lin = tensors('lin');
    const nocal = tensors('nocal');
    for (const [k, t] of nocal) {
      if (k === 'linear.bias') Array.from(t.data).forEach((v, c) => expect(Number(cal.get(k)!.data[c]) - Number(v)).toBeCloseTo(shift[c]!, 5));
      else expect(cal.get(k)!.data, k).toEqual(t.data);
      if (k === 'linear.weight' || k === 'linear.bias') expect(lin.get(k)!.data, k).not.toEqual(t.data);
      else expect(lin.get(k)!.data, k).toEqual(t.data);
    }
    const linCal = JSON.parse(readFileSync(join(dir, 'lin.json'), 'utf8')).details.headCalibration;
    expect(linCal).toMatchObject({ mode: 'linear' });
    expect(linCal.weightChange).toBeGreaterThan(0);
    expect(linCal.lossAfter).toBeLessThan(linCal.lossBefore);
    expect(readFileSync(join(dir, 'lin.md'), 'utf8')).toMatch(/## Head calibration\n\nthe last layer refitted \(weight moved [\d.]+ %\); cross-entropy to the original model/);
    expect(readFileSync(join(dir, 'cal.md'), 'utf8')).toMatch(/## Head calibration\n\nbias shift per class \[-?[\d.]+, /);
    // Triggered copies: each round is in the report and its Markdown, and only the head differs from the plain fit.
    await run([...clean, '--out', join(dir, 'trig.safetensors'), '--masks', join(dir, 'trig-m.safetensors'), '--report', join(dir, 'trig.json'), ...tiny, ...plus, '--calibrate-head', '--calibration-triggers', '2']);
    expect(readFileSync(join(dir, 'trig-m.safetensors')).equals(readFileSync(join(dir, 'nocal-m.safetensors')))).toBe(true);
    const rounds = JSON.parse(readFileSync(join(dir, 'trig.json'), 'utf8')).details.headCalibration.triggerRounds;
    expect(rounds).toHaveLength(2);
    for (const t of rounds) expect(t.l1).toBeGreaterThan(0);
    expect(readFileSync(join(dir, 'trig.md'), 'utf8')).toMatch(/Triggered copies, one recovered trigger per round[^\n]*\n\n\| round \| trigger L1 \| crops moved off the original's answer \|\n\|---\|---\|---\|\n\| 1 \| [\d.]+ \| [\d.]+ % \|\n\| 2 \|/);
    await expect(run([...clean, '--out', join(dir, 'never.safetensors'), ...tiny, ...plus, '--calibrate-head', '--head-fit', 'full'])).rejects.toThrow(/--head-fit must be one of bias, linear, got full/);
    expect(existsSync(join(dir, 'never.safetensors'))).toBe(false);
  });

  it('with a known patch attack, the report says where each round\'s trigger lay against the patch (evaluation only)', async () => {
    const clean = ['--model', 'web/demo-assets/model.safetensors', '--clean', 'fashion-mnist', '--data-dir', 'data/fashion-mnist-subset', '--per-class', '1', '--eval-count', '50'];
    await run([...clean, '--out', join(dir, 'fp.safetensors'), '--report', join(dir, 'fp.json'), ...tiny, '--outer', '2', '--seed', '3']);
    const report = JSON.parse(readFileSync(join(dir, 'fp.json'), 'utf8'));
    const t = report.triggerOnAttack;
    expect(t.areaShare).toBeCloseTo(9 / 784, 12);
    expect(t.perRound).toHaveLength(2);
    for (const share of t.perRound) expect(share).toBeGreaterThanOrEqual(0);
    expect(t.found).toBe(t.perRound.filter((share: number) => share >= 5 * t.areaShare).length);
    expect(readFileSync(join(dir, 'fp.md'), 'utf8')).toMatch(/## Recovered triggers on the attack's own trigger \(evaluation only\)\n\nThe attack's trigger covers 1.15 % of the image; the defense never saw it. \d of 2 rounds' triggers[^\n]*\n\n\| round \|[^\n]*\n\|---\|---\|\n\| 1 \| [\d.]+ % \|\n\| 2 \| [\d.]+ % \|/);
    // Without evaluation there is no attack to compare with.
    const images = join(dir, 'fp-clean.safetensors');
    writeFileSync(images, serializeSafetensors({ images: { shape: [10, 1, 28, 28], data: randomArray(10 * 784, 8, 0, 1) }, labels: { shape: [10], data: Int32Array.from({ length: 10 }, (_, i) => i), dtype: 'I64' } }));
    await run(['--model', 'web/demo-assets/model.safetensors', '--clean', images, '--out', join(dir, 'fp2.safetensors'), '--report', join(dir, 'fp2.json'), ...tiny, '--outer', '1']);
    expect(JSON.parse(readFileSync(join(dir, 'fp2.json'), 'utf8'))).not.toHaveProperty('triggerOnAttack');
  });

  it('AWM+ with --suspect-shift on a backdoored model: its target is suspected, and only that class\'s head bias moves, by the shift, as the report and its Markdown say', async () => {
    // The browser page's demo model: a small CNN with a BadNets patch to class 0, and the repo's Fashion-MNIST subset.
    const plus = ['--method', 'awm+', '--mixup', '0', '--seed', '2', '--select-round=false', '--fallback=false'];
    const clean = ['--model', 'web/demo-assets/model.safetensors', '--clean', 'fashion-mnist', '--data-dir', 'data/fashion-mnist-subset', '--per-class', '1', '--eval-count', '50'];
    // --check-starts changes only the self-checks (here just the one after the run: no round selection), not the masks;
    // nor does the shift (the suspect search runs for the suspect triggers either way).
    await run([...clean, '--out', join(dir, 'sus.safetensors'), '--masks', join(dir, 'sus-m.safetensors'), '--report', join(dir, 'sus.json'), ...tiny, ...plus, '--suspect-shift', '0.5', '--check-starts', '1']);
    await run([...clean, '--out', join(dir, 'nosus.safetensors'), '--masks', join(dir, 'nosus-m.safetensors'), ...tiny, ...plus, '--suspect-shift', '0']);
    expect(readFileSync(join(dir, 'sus-m.safetensors')).equals(readFileSync(join(dir, 'nosus-m.safetensors')))).toBe(true);
    const report = JSON.parse(readFileSync(join(dir, 'sus.json'), 'utf8'));
    const { cls, flip, shift, via, search } = report.details.suspectShift;
    const before = report.details.selfCheck.before;
    expect(shift).toBe(0.5);
    expect(report.settings).toMatchObject({ checkStarts: 1, suspectStarts: 6, suspectTrigger: true });
    // The suspect search ran from zero and from the default 6 random starts, and names the attack's target.
    expect(search.searches).toHaveLength(7);
    expect(search.flip).toBe(Math.max(...search.searches.filter((t: { cls: number }) => t.cls === search.cls).map((t: { flip: number }) => t.flip)));
    expect(cls).toBe(0);
    expect({ cls, flip, via }).toEqual(suspectedTarget(before, search));
    const sus = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'sus.safetensors')))).tensors;
    for (const [k, t] of parseSafetensors(new Uint8Array(readFileSync(join(dir, 'nosus.safetensors')))).tensors) {
      if (k === 'fc2.bias') Array.from(t.data).forEach((v, c) => expect(Number(sus.get(k)!.data[c]), `bias ${c}`).toBeCloseTo(Number(v) - (c === cls ? 0.5 : 0), 6));
      else expect(sus.get(k)!.data, k).toEqual(t.data);
    }
    expect(readFileSync(join(dir, 'sus.md'), 'utf8')).toMatch(/## Suspect-class shift\n\nClass 0's bias in the last layer lowered by 0.5: the (suspect search's strongest trigger|noise probe of the self-check before masking) sent [\d.]+ % of the check images there.\n\nSuspect search: 7 trigger searches \(\d sent 95.0 % or more to class 0\)/);
    // --suspect-trigger (on by default): the agreeing random-start searches' triggers (the one from zero is the
    // self-check's, taken as given, without a trigger) were unlearned beside the recovered one; without them, other masks.
    const fromStarts = search.searches.slice(1).filter((t: { cls: number; flip: number }) => t.cls === 0 && t.flip >= 0.95).length;
    expect(fromStarts).toBeGreaterThan(0);
    expect(report.details.suspectTrigger).toEqual({ cls: 0, count: fromStarts });
    expect(search).not.toHaveProperty('triggers');
    expect(readFileSync(join(dir, 'sus.md'), 'utf8')).toMatch(new RegExp(`## Suspect triggers unlearned\n\nThe suspect search's ${fromStarts} trigger\\(s\\) into class 0 took every other triggered image`));
    await run([...clean, '--out', join(dir, 'st.safetensors'), '--masks', join(dir, 'st-m.safetensors'), '--report', join(dir, 'st.json'), ...tiny, ...plus, '--suspect-shift', '0.5', '--suspect-trigger=false']);
    const st = JSON.parse(readFileSync(join(dir, 'st.json'), 'utf8'));
    expect(st.details.suspectShift.search).toEqual(search);
    expect(st.details).not.toHaveProperty('suspectTrigger');
    expect(st.settings.suspectTrigger).toBe(false);
    expect(readFileSync(join(dir, 'st-m.safetensors')).equals(readFileSync(join(dir, 'sus-m.safetensors')))).toBe(false);
    // --suspect-trigger-tau: triggers from as many searches again at a fraction of tau (they agree on class 0 here).
    // With --suspect-target as well: a trigger searched towards class 0 each round, and in the self-check after.
    await run([...clean, '--out', join(dir, 'tt.safetensors'), '--masks', join(dir, 'tt-m.safetensors'), '--report', join(dir, 'tt.json'), ...tiny, ...plus, '--suspect-shift', '0.5', '--suspect-trigger-tau', '0.35', '--suspect-target', '0.4']);
    const tt = JSON.parse(readFileSync(join(dir, 'tt.json'), 'utf8')).details;
    expect(tt.suspectTarget).toEqual({ cls: 0, budget: expect.closeTo(0.4 * JSON.parse(readFileSync(join(dir, 'tt.json'), 'utf8')).settings.tau, 6), steps: 20 });
    expect(tt.rounds[0].targetedLoss).toEqual(expect.any(Number));
    expect(tt.selfCheck.candidates[0].targetedFlip).toEqual(expect.any(Number));
    expect(report.details.selfCheck.candidates[0]).not.toHaveProperty('targetedFlip');
    expect(readFileSync(join(dir, 'tt.md'), 'utf8')).toMatch(/## Trigger searched towards the suspect\n\nEach round, 20 steps of descent towards class 0 inside L1 [\d.]+/);
    expect(tt.suspectShift.search).toEqual(search);
    expect(tt.suspectTrigger.cls).toBe(0);
    expect(tt.suspectTrigger.tauFraction).toBe(0.35);
    expect(tt.suspectTrigger.count).toBeGreaterThanOrEqual(2);
    expect(report.details.suspectTrigger).not.toHaveProperty('tauFraction');
    expect(readFileSync(join(dir, 'tt-m.safetensors')).equals(readFileSync(join(dir, 'sus-m.safetensors')))).toBe(false);
    await expect(run([...clean, '--out', join(dir, 'never.safetensors'), ...tiny, ...plus, '--suspect-target', '2'])).rejects.toThrow(/--suspect-target must be between 0 and 1, got '2'/);
    await expect(run([...clean, '--out', join(dir, 'never.safetensors'), ...tiny, ...plus, '--suspect-target', '0.4', '--suspect-starts', '0'])).rejects.toThrow(/--suspect-target needs the suspect search/);
    await expect(run([...clean, '--out', join(dir, 'never.safetensors'), ...tiny, ...plus, '--suspect-trigger-tau', '0'])).rejects.toThrow(/--suspect-trigger-tau must be above 0 and at most 1, got '0'/);
    await expect(run([...clean, '--out', join(dir, 'never.safetensors'), ...tiny, ...plus, '--suspect-trigger', '--suspect-starts', '0'])).rejects.toThrow(/--suspect-trigger needs the suspect search/);
    await expect(run([...clean, '--out', join(dir, 'never.safetensors'), ...tiny, ...plus, '--suspect-shift', '1', '--self-check=false'])).rejects.toThrow(/--suspect-shift needs the self-check/);
    await expect(run([...clean, '--out', join(dir, 'never.safetensors'), ...tiny, ...plus, '--suspect-starts', '-1'])).rejects.toThrow(/--suspect-starts must be at least 0, got '-1'/);
    expect(existsSync(join(dir, 'never.safetensors'))).toBe(false);
  }, 300_000);

  it.skipIf(!gpuBackend)('on WebGPU too, the same seed gives bit-identical masks', async () => {
    const masksFor = async (name: string) => {
      await run(['--model', modelPath, '--clean', join(dir, 'clean.safetensors'), '--out', join(dir, `${name}.safetensors`), '--masks', join(dir, `${name}-m.safetensors`), '--seed', '5', ...tiny, '--backend', 'webgpu']);
      return readFileSync(join(dir, `${name}-m.safetensors`));
    };
    expect((await masksFor('g1')).equals(await masksFor('g2'))).toBe(true);
  });

  const bad: Array<[string, (p: string) => void, RegExp]> = [
    ['a class with no clean image', (p) => cleanFile(p, { labels: [0, 1, 2, 2] }), /class 3 has no clean image/],
    ['images with the wrong channel count', (p) => cleanFile(p, { c: 3 }), /3 channel\(s\) but the model takes 1/],
    ['a label outside the classes', (p) => cleanFile(p, { labels: [0, 1, 2, 7] }), /label 7, outside the model's 4 classes/],
    ['a NaN pixel', (p) => cleanFile(p, { nan: true }), /outside \[0, 1\]/],
  ];
  for (const [what, make, message] of bad) {
    it(`rejects ${what} and writes nothing`, async () => {
      const clean = join(dir, `bad-${what.length}.safetensors`);
      make(clean);
      const out = join(dir, `never-${what.length}.safetensors`);
      await expect(run(['--model', modelPath, '--clean', clean, '--out', out, '--report', `${out}.json`, ...tiny])).rejects.toThrow(message);
      expect(existsSync(out)).toBe(false);
      expect(existsSync(`${out}.json`)).toBe(false);
    });
  }

  it('rejects a file that is not a model', async () => {
    const notModel = join(dir, 'not-a-model.safetensors');
    writeFileSync(notModel, 'hello, this is not safetensors');
    await expect(run(['--model', notModel, '--clean', join(dir, 'clean.safetensors'), '--out', join(dir, 'x.safetensors'), ...tiny])).rejects.toThrow(/not-a-model/);
    expect(existsSync(join(dir, 'x.safetensors'))).toBe(false);
  });
});

/**
 * AWM+ settings sweep (`npm run bench awm-sweep [-- flags]`; never part of `npm test`): looks for one
 * setting that takes BOTH PyTorch ResNets (BadNets, Blend) to ASR <= 5 % with at most 8 points of
 * clean accuracy lost, from one clean image per class. Each run is `awm purify` (dist/awm.mjs) in its own
 * process, `--parallel` at a time (on a GPU several processes overlap well: the runs are dispatch-bound).
 * Then the `--best` settings that did best (fewest failed goals, then lowest worst-case ASR) run again at
 * each of `--best-seeds`, to see whether the result holds beyond seed 1. Results merge into `--out`
 * after every run, keyed by setting, model, seed and evaluation size; a stopped sweep resumes.
 * On SwiftShader a ResNet run takes 5-7 minutes, so the whole grid belongs on a GPU.
 * A setting's flags go on top of AWM+'s defaults in the build that runs it, so a results file holds what that
 * build's defaults plus the flags gave: bench/results/awm-sweep-12seeds-h100.json ran `cur` with no suspect search
 * and no output check, as --suspect-starts 0 --fallback=false would (docs/defenses.md, "AWM+ across seeds").
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFlags } from '../src/cli/args.js';
import { writeFileAtomic } from '../src/io/atomic-write.node.js';
import { readPurifyReport, type PurifyFigures } from './_purify-report.js';

const CLI = 'dist/awm.mjs';

/** The noise-blend recipe at the core of AWM+'s defaults (noise blends 0.2, alpha 0.3, mask lr 0.02) and its neighbours. */
const BASE = ['--noise-blend', '0.2', '--alpha', '0.3', '--mask-lr', '0.02'];
const SETTINGS: Array<{ name: string; flags: string[] }> = [
  { name: 'nb-o5', flags: [...BASE, '--outer', '5'] },
  { name: 'nb-o6', flags: [...BASE, '--outer', '6'] },
  { name: 'nb-o7', flags: [...BASE, '--outer', '7'] },
  { name: 'nb-share25-o5', flags: [...BASE, '--noise-share', '0.25', '--outer', '5'] },
  { name: 'nb-share25-o7', flags: [...BASE, '--noise-share', '0.25', '--outer', '7'] },
  { name: 'nb-share33-o6', flags: [...BASE, '--noise-share', '0.33', '--outer', '6'] },
  { name: 'nb-b32-o5', flags: [...BASE, '--batch-size', '32', '--outer', '5'] },
  { name: 'nb-b32-o7', flags: [...BASE, '--batch-size', '32', '--outer', '7'] },
  { name: 'nb-b32-share33-o6', flags: [...BASE, '--batch-size', '32', '--noise-share', '0.33', '--outer', '6'] },
  { name: 'nb-b32-share25-o7', flags: [...BASE, '--batch-size', '32', '--noise-share', '0.25', '--outer', '7'] },
  { name: 'nb-a04-o7', flags: [...BASE, '--alpha', '0.4', '--outer', '7'] },
  { name: 'nb-a02-o5', flags: [...BASE, '--alpha', '0.2', '--outer', '5'] },
  { name: 'nb03-o5', flags: [...BASE, '--noise-blend', '0.3', '--outer', '5'] },
  { name: 'nb015-o6', flags: [...BASE, '--noise-blend', '0.15', '--outer', '6'] },
  { name: 'nb-lr015-o8', flags: [...BASE, '--mask-lr', '0.015', '--outer', '8'] },
  { name: 'nb-lr03-o4', flags: [...BASE, '--mask-lr', '0.03', '--outer', '4'] },
  { name: 'nb-inner2-o5', flags: [...BASE, '--inner', '2', '--outer', '5'] },
  { name: 'nb-mixup400-o6', flags: [...BASE, '--mixup', '400', '--outer', '6'] },
  { name: 'defaults-nb', flags: ['--noise-blend', '0.2'] },
  { name: 'defaults-nb-share25-a05', flags: ['--noise-blend', '0.2', '--noise-share', '0.25', '--alpha', '0.5'] },
  // Several candidate runs per purification, the one with the best self-check kept (src/awm/self-check.ts).
  { name: 'nb-o6-c3', flags: [...BASE, '--outer', '6', '--candidates', '3'] },
  { name: 'nb-o7-c3', flags: [...BASE, '--outer', '7', '--candidates', '3'] },
  { name: 'nb-o6-c5', flags: [...BASE, '--outer', '6', '--candidates', '5'] },
  { name: 'nb-o6-c8', flags: [...BASE, '--outer', '6', '--candidates', '8'] },
  { name: 'nb-lr03-o4-c3', flags: [...BASE, '--mask-lr', '0.03', '--outer', '4', '--candidates', '3'] },
  { name: 'nb-o5-c3', flags: [...BASE, '--outer', '5', '--candidates', '3'] },
  // Longer runs, each keeping the round with the best self-check score (--select-round: early stopping on held-out crops).
  { name: 'nb-o8-sel-c8', flags: [...BASE, '--outer', '8', '--select-round', '--candidates', '8'] },
  { name: 'nb-o10-sel-c4', flags: [...BASE, '--outer', '10', '--select-round', '--candidates', '4'] },
  { name: 'nb-o8-sel', flags: [...BASE, '--outer', '8', '--select-round'] },
  // On top of the defaults: the options tried on the Blend ResNet at seeds 2 and 3 (docs/defenses.md, "Options off by default").
  { name: 'cur-lrd85-a02', flags: ['--lr-decay', '0.85', '--alpha', '0.2'] },
  { name: 'cur-lrd85', flags: ['--lr-decay', '0.85'] },
  { name: 'cur-lrd85-mx400', flags: ['--lr-decay', '0.85', '--mixup', '400'] },
  { name: 'cur-layer-adam', flags: ['--mask-optimizer', 'layer-adam'] },
  { name: 'cur-layer-adam-lrd85-a02', flags: ['--mask-optimizer', 'layer-adam', '--lr-decay', '0.85', '--alpha', '0.2'] },
  { name: 'cur-blend-ascent8', flags: ['--blend-ascent', '8'] },
  // The head calibration (src/awm/head-refit.ts) alone and on the two closest Blend settings; cur-cal-bias is the
  // bias-only fit on crops of 8-100 % of the area, without noise copies (src/awm/head-calibration.ts).
  { name: 'cur-cal', flags: ['--calibrate-head'] },
  // cur is AWM+'s defaults; cur-nocal the masks alone, with no head fit and no suspect shift.
  { name: 'cur', flags: [] },
  { name: 'cur-noshift', flags: ['--suspect-shift', '0'] },
  // cur-notrigger: the defaults without unlearning the suspect search's triggers.
  { name: 'cur-notrigger', flags: ['--suspect-trigger=false'] },
  { name: 'cur-nocal', flags: ['--calibrate-head=false', '--suspect-shift', '0'] },
  { name: 'cur-cal-bias', flags: ['--calibrate-head', '--head-fit', 'bias', '--calibration-scale', '0.08', '--calibration-noise', '0'] },
  { name: 'cur-cal-lrd85-mx400', flags: ['--calibrate-head', '--lr-decay', '0.85', '--mixup', '400'] },
  { name: 'cur-cal-lrd85-a02', flags: ['--calibrate-head', '--lr-decay', '0.85', '--alpha', '0.2'] },
  // Checks the harness in seconds; never run unless named.
  { name: 'smoke', flags: ['--outer', '2', '--mixup', '0', '--augment-copies', '0', '--noise-blend', '0.2', '--candidates', '2', '--select-round'] },
];
const MODELS = ['fmnist_resnet18w16_badnets', 'fmnist_resnet18w16_blend'];
const GOAL = { asr: 0.05, accLoss: 0.08 };

const FLAGS = {
  'data-dir': { type: 'string', default: '/usr/share/datasets/fashion-mnist', help: 'Fashion-MNIST folder' },
  settings: { type: 'string', default: '', help: 'comma-separated setting names to run (default: all)' },
  seeds: { type: 'string', default: '1', help: 'seeds for the grid' },
  best: { type: 'int', default: 0, help: 'then rerun this many best settings at --best-seeds' },
  'best-seeds': { type: 'string', default: '2,3', help: 'seeds for the best settings' },
  'eval-count': { type: 'int', default: 0, help: 'evaluate on this many test images (0: the whole test split minus the clean images)' },
  parallel: { type: 'int', default: 1, help: 'runs at once' },
  out: { type: 'string', default: 'bench/results/awm-sweep.json', help: 'results file (merged after every run)' },
  'keep-dir': { type: 'string', default: '', help: 'keep each purified model here as <setting>-<model>-s<seed>.safetensors' },
  backend: { type: 'string', choices: ['webgpu', 'cpu', 'auto'], default: 'webgpu', help: 'compute backend' },
} as const;

interface RunResult extends PurifyFigures {
  setting: string;
  flags: string[];
  model: string;
  seed: number;
  date: string;
  /** AWM+'s self-check figures (before, each candidate, which was kept), from the report. */
  selfCheck?: unknown;
}

interface Results {
  runs: Record<string, RunResult | { setting: string; model: string; seed: number; error: string; date: string }>;
  updated: string;
}

const list = (text: string) => text.split(',').map((s) => s.trim()).filter(Boolean);
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

function purify(setting: { name: string; flags: string[] }, model: string, seed: number, f: Record<string, unknown>): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'awm-sweep-'));
  const args = [
    CLI, 'purify', '--model', `models/${model}.safetensors`, '--clean', 'fashion-mnist', '--data-dir', String(f['data-dir']),
    '--per-class', '1', '--method', 'awm+', '--seed', String(seed), '--backend', String(f.backend),
    '--out', join(dir, 'out.safetensors'), '--report', join(dir, 'report.json'), ...setting.flags,
  ];
  if ((f['eval-count'] as number) > 0) args.push('--eval-count', String(f['eval-count']));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000); });
    child.on('close', (status) => {
      try {
        if (status !== 0) throw new Error(`awm purify exited with status ${status}: ${stderr.trim().split('\n').pop()}`);
        const { report, figures } = readPurifyReport(join(dir, 'report.json'));
        const keep = f['keep-dir'] as string;
        if (keep) {
          mkdirSync(keep, { recursive: true });
          renameSync(join(dir, 'out.safetensors'), join(keep, `${setting.name}-${model}-s${seed}.safetensors`));
        }
        resolve({ setting: setting.name, flags: setting.flags, model, seed, ...figures, date: new Date().toISOString(), selfCheck: report.details.selfCheck });
      } catch (e) {
        reject(e);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

/** Runs the jobs `parallel` at a time, merging each result into the results file as it lands. */
async function runAll(jobs: Array<{ key: string; run: () => Promise<RunResult>; label: Pick<RunResult, 'setting' | 'model' | 'seed'> }>, results: Results, out: string, parallel: number): Promise<void> {
  let next = 0;
  let saving = Promise.resolve();
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      try {
        const r = await job.run();
        results.runs[job.key] = r;
        console.log(`${r.setting} ${r.model} seed ${r.seed}: ACC ${pct(r.accBefore)} -> ${pct(r.accAfter)}, ASR ${pct(r.asrBefore)} -> ${pct(r.asrAfter)}, ${r.seconds.toFixed(1)} s`);
      } catch (e) {
        results.runs[job.key] = { ...job.label, error: e instanceof Error ? e.message : String(e), date: new Date().toISOString() };
        console.log(`${job.label.setting} ${job.label.model} seed ${job.label.seed}: FAILED ${e instanceof Error ? e.message : e}`);
      }
      results.updated = new Date().toISOString();
      saving = saving.then(() => writeFileAtomic(out, JSON.stringify(results, null, 2) + '\n'));
      await saving;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, parallel) }, worker));
}

interface Verdict {
  setting: string;
  runs: RunResult[];
  failed: number;
  worstAsr: number;
  worstLoss: number;
}

/** Per setting over the given seeds: how many (model, seed) runs miss a goal, the worst ASR and ACC loss. */
function verdicts(results: Results, seeds: number[], evalKey: string): Verdict[] {
  const out: Verdict[] = [];
  for (const s of SETTINGS) {
    const runs: RunResult[] = [];
    let missing = false;
    for (const model of MODELS) {
      for (const seed of seeds) {
        const r = results.runs[`${s.name}|${model}|s${seed}|${evalKey}`];
        if (r && !('error' in r)) runs.push(r);
        else missing = true;
      }
    }
    if (missing || runs.length === 0) continue;
    const failed = runs.filter((r) => r.asrAfter > GOAL.asr || r.accBefore - r.accAfter > GOAL.accLoss).length;
    out.push({ setting: s.name, runs, failed, worstAsr: Math.max(...runs.map((r) => r.asrAfter)), worstLoss: Math.max(...runs.map((r) => r.accBefore - r.accAfter)) });
  }
  return out.sort((a, b) => a.failed - b.failed || a.worstAsr - b.worstAsr || a.worstLoss - b.worstLoss);
}

function table(vs: Verdict[], seeds: number[]): string {
  const lines = [`Seeds ${seeds.join(', ')}; goal: ASR <= 5 % and ACC loss <= 8 points on both models.`,
    '| setting | flags | BadNets ACC / ASR after | Blend ACC / ASR after | runs missing the goal |', '|---|---|---|---|---|'];
  for (const v of vs) {
    const cell = (model: string) => v.runs.filter((r) => r.model === model).map((r) => `${pct(r.accAfter)} / ${pct(r.asrAfter)}`).join('; ');
    lines.push(`| ${v.setting} | \`${SETTINGS.find((s) => s.name === v.setting)!.flags.join(' ')}\` | ${cell(MODELS[0]!)} | ${cell(MODELS[1]!)} | ${v.failed} of ${v.runs.length} |`);
  }
  return lines.join('\n');
}

const f = parseFlags(process.argv.slice(2), FLAGS);
if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build:cli\` first`);
const out = f.out as string;
const results: Results = existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as Results) : { runs: {}, updated: '' };
const evalKey = `eval${(f['eval-count'] as number) || 'all'}`;
const chosen = list(f.settings as string);
const unknown = chosen.filter((n) => !SETTINGS.some((s) => s.name === n));
if (unknown.length) throw new Error(`unknown settings: ${unknown.join(', ')} (known: ${SETTINGS.map((s) => s.name).join(', ')})`);
const settings = chosen.length ? SETTINGS.filter((s) => chosen.includes(s.name)) : SETTINGS.filter((s) => s.name !== 'smoke');

const jobsFor = (ss: typeof SETTINGS, seeds: number[]) => ss.flatMap((s) => MODELS.flatMap((model) => seeds.map((seed) => ({
  key: `${s.name}|${model}|s${seed}|${evalKey}`, label: { setting: s.name, model, seed }, run: () => purify(s, model, seed, f),
})))).filter((j) => !(j.key in results.runs) || 'error' in results.runs[j.key]!);

const seeds = list(f.seeds as string).map(Number);
await runAll(jobsFor(settings, seeds), results, out, f.parallel as number);
const grid = verdicts(results, seeds, evalKey).filter((v) => settings.some((s) => s.name === v.setting));
console.log('\n' + table(grid, seeds));
if ((f.best as number) > 0) {
  const extra = list(f['best-seeds'] as string).map(Number);
  const best = grid.slice(0, f.best as number).map((v) => SETTINGS.find((s) => s.name === v.setting)!);
  await runAll(jobsFor(best, extra), results, out, f.parallel as number);
  const all = [...seeds, ...extra];
  console.log('\n' + table(verdicts(results, all, evalKey).filter((v) => best.some((s) => s.name === v.setting)), all));
}

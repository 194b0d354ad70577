/**
 * The zoo benchmark (`npm run bench zoo [-- flags]`; never part of `npm test`): every model of the development zoo
 * purified by each defense from a few clean Fashion-MNIST test images, as a user would (the built CLI, dist/awm.mjs,
 * one process per cell), at 1 image per class (clean-image seeds 0, 1, 2) and at 10 per class (seed 0).
 *
 * Per cell: clean accuracy and ASR before and after (ASR from the model's own triggered images, `--triggered`, for the
 * PyTorch models; from the attack spec beside the model for the ones this project backdoors), the defense's seconds,
 * and "comes back?": the ASR after the purified model is fine-tuned on the same clean images for a few steps (after
 * PAM, NeurIPS 2024: a defense that only hides the backdoor lets it return under brief re-tuning).
 *
 * The zoo is split in two halves (ZOO below, and models/zoo/README.md): defaults are chosen on the development half
 * only; the held-out half is reported in its own table and never used to adjust a default.
 *
 * Results are merged into bench/results/zoo.json after every cell, so an interrupted run resumes (`--redo` runs cells
 * again), and docs/zoo.md is written from everything in that file. Run in parts with --models, --methods,
 * --per-class and --seeds. On SwiftShader (2 cores) a ResNet-18 cell takes many minutes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFlags } from '../src/cli/args.js';
import { writeFileAtomic } from '../src/io/atomic-write.node.js';
import { readPurifyReport, type PurifyFigures } from './_purify-report.js';

const CLI = 'dist/awm.mjs';

export type ZooSplit = 'development' | 'held-out';

export interface ZooModel {
  /** Short name used on the command line and in the tables. */
  id: string;
  file: string;
  /** Pre-triggered test images (the PyTorch models); without it ASR comes from the attack spec beside the model. */
  triggered?: string;
  arch: string;
  attack: string;
  split: ZooSplit;
}

const torch = (id: string, stem: string, arch: string, attack: string, split: ZooSplit): ZooModel => ({
  id, file: `models/zoo/${stem}.safetensors`, triggered: `models/zoo/${stem}.triggered.safetensors`, arch, attack, split,
});
const own = (attack: string, split: ZooSplit): ZooModel => ({
  id: `cnn-${attack}`, file: `bench/models/smallcnn-${attack}.safetensors`, arch: 'small CNN', attack, split,
});

/**
 * The zoo and its halves. The development half holds the models earlier defaults were shaped on (the ResNet BadNets and
 * Blend models, the small CNNs' patch attacks) and the two families the defaults failed on (all-to-all, SIG); the held-out
 * half holds a warp, another architecture, clean models and attacks no default was measured on.
 */
export const ZOO: readonly ZooModel[] = [
  torch('r18-badnets', 'fmnist_resnet18w16_badnets', 'ResNet-18', 'BadNets 3x3 patch', 'development'),
  torch('r18-blend', 'fmnist_resnet18w16_blend', 'ResNet-18', 'noise blend 0.2', 'development'),
  torch('r18-a2a', 'fmnist_resnet18w16_a2a', 'ResNet-18', '4x4 chequer, all-to-all', 'development'),
  torch('r18-sig', 'fmnist_resnet18w16_sig', 'ResNet-18', 'SIG sinusoid', 'development'),
  own('badnets', 'development'),
  own('blend', 'development'),
  own('trojan-sq', 'development'),
  own('clb', 'development'),
  torch('r18-wanet', 'fmnist_resnet18w16_wanet', 'ResNet-18', 'WaNet-style warp', 'held-out'),
  torch('preact-badnets', 'fmnist_preact18w16_badnets', 'PreAct-ResNet18', 'BadNets 3x3 patch', 'held-out'),
  torch('r18-clean', 'fmnist_resnet18w16_clean', 'ResNet-18', 'none (clean)', 'held-out'),
  own('trojan-wm', 'held-out'),
  own('wanet', 'held-out'),
  own('multi', 'held-out'),
];

const FLAGS = {
  'data-dir': { type: 'string', default: '/usr/share/datasets/fashion-mnist', help: 'Fashion-MNIST folder' },
  models: { type: 'string', default: 'all', help: `comma-separated model ids, 'development', 'held-out' or 'all' (${ZOO.map((m) => m.id).join(', ')})` },
  methods: { type: 'string', default: 'awm-dual,awm,ft,anp', help: 'defenses (awm purify --method), each optionally with settings: awm-dual:alpha=0.7:mask-lr=0.01' },
  'per-class': { type: 'string', default: '1,10', help: 'clean images per class' },
  seeds: { type: 'string', default: '', help: 'clean-image seeds (default: 0,1,2 at 1 per class, 0 at more)' },
  'eval-count': { type: 'int', default: 1000, help: 'clean test images evaluated (seeded subset of the test split minus the clean images; 0: all)' },
  'comeback-steps': { type: 'int', default: 100, help: 'fine-tuning steps of the "comes back?" check (0: skip it)' },
  'comeback-lr': { type: 'number', default: 0.01, help: 'learning rate of the "comes back?" fine-tuning' },
  results: { type: 'string', default: 'bench/results/zoo.json', help: 'results file (merged after every cell)' },
  doc: { type: 'string', default: 'docs/zoo.md', help: 'the Markdown tables written from the results file' },
  redo: { type: 'boolean', default: false, help: 'run cells again even when the results file has them' },
  'table-only': { type: 'boolean', default: false, help: 'run nothing; write the tables from the results file' },
  backend: { type: 'string', choices: ['webgpu', 'cpu', 'auto'], default: 'webgpu', help: 'compute backend' },
} as const;

interface Cell {
  key: string;
  model: ZooModel;
  method: string;
  perClass: number;
  seed: number;
}

interface CellResult extends PurifyFigures {
  model: string;
  method: string;
  perClass: number;
  seed: number;
  /** ASR after the "comes back?" fine-tuning, when run. */
  comebackAsr?: number;
  comebackSteps?: number;
  /** The whole `awm purify` process, compile and evaluation included. */
  wallSeconds: number;
  date: string;
}

interface Results {
  cells: Record<string, CellResult | { error: string; date: string }>;
  updated: string;
}

const list = (text: string): string[] => text.split(',').map((s) => s.trim()).filter(Boolean);

function wholeNumbers(flag: string, text: string, min: number): number[] {
  const values = list(text).map(Number);
  if (!values.length || values.some((v) => !(Number.isInteger(v) && v >= min))) {
    throw new Error(`--${flag}: expected whole numbers >= ${min} separated by commas, got '${text}'`);
  }
  return values;
}

export function selectModels(text: string): ZooModel[] {
  const picked = new Set<ZooModel>();
  for (const word of list(text)) {
    if (word === 'all') ZOO.forEach((m) => picked.add(m));
    else if (word === 'development' || word === 'held-out') ZOO.filter((m) => m.split === word).forEach((m) => picked.add(m));
    else {
      const m = ZOO.find((z) => z.id === word);
      if (!m) throw new Error(`--models: unknown model '${word}' (${ZOO.map((z) => z.id).join(', ')}, development, held-out, all)`);
      picked.add(m);
    }
  }
  return ZOO.filter((m) => picked.has(m));
}

export const cellKey = (model: ZooModel, method: string, perClass: number, seed: number, evalCount: number): string =>
  `${model.id}|${method}|${perClass}|seed${seed}|eval${evalCount || 'all'}`;

function planCells(flags: Record<string, unknown>): Cell[] {
  const models = selectModels(flags.models as string);
  const methods = list(flags.methods as string);
  const perClass = wholeNumbers('per-class', flags['per-class'] as string, 1);
  const given = flags.seeds as string;
  const evalCount = flags['eval-count'] as number;
  const cells: Cell[] = [];
  for (const model of models) {
    for (const k of perClass) {
      const seeds = given ? wholeNumbers('seeds', given, 0) : k === 1 ? [0, 1, 2] : [0];
      for (const method of methods) {
        for (const seed of seeds) cells.push({ key: cellKey(model, method, k, seed, evalCount), model, method, perClass: k, seed });
      }
    }
  }
  return cells;
}

function readResults(path: string): Results {
  if (!existsSync(path)) return { cells: {}, updated: '' };
  return JSON.parse(readFileSync(path, 'utf8')) as Results;
}

/** A method with settings, `awm-dual:alpha=0.7:mask-lr=0.01`, as awm purify flags (`--method awm-dual --alpha 0.7 --mask-lr 0.01`). */
export function methodArgs(method: string): string[] {
  const [name, ...settings] = method.split(':');
  const args = ['--method', name!];
  for (const setting of settings) {
    const eq = setting.indexOf('=');
    if (eq <= 0) throw new Error(`--methods: '${setting}' in '${method}' is not flag=value`);
    args.push(`--${setting.slice(0, eq)}`, setting.slice(eq + 1));
  }
  return args;
}

function purifyArgs(cell: Cell, flags: Record<string, unknown>, model: string, method: string, out: string, report: string): string[] {
  const args = [
    CLI, 'purify', '--model', model, '--clean', 'fashion-mnist', '--data-dir', String(flags['data-dir']),
    '--per-class', String(cell.perClass), ...methodArgs(method), '--seed', String(cell.seed),
    '--backend', String(flags.backend), '--out', out, '--report', report,
  ];
  if (cell.model.triggered) args.push('--triggered', cell.model.triggered, ...targetFlags(cell.model));
  const evalCount = flags['eval-count'] as number;
  if (evalCount > 0) args.push('--eval-count', String(evalCount));
  return args;
}

/** The target of a PyTorch model, from its model card, named on the command line: the purified copy has no card beside it. */
function targetFlags(model: ZooModel): string[] {
  const card = JSON.parse(readFileSync(model.file.replace(/\.safetensors$/, '.json'), 'utf8')) as { target: number; all2all: boolean };
  return card.all2all ? ['--all-to-all'] : ['--target', String(card.target)];
}

function runCli(args: string[]): void {
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`awm purify exited with status ${r.status ?? r.signal}`);
}

function runCell(cell: Cell, flags: Record<string, unknown>): CellResult {
  const dir = mkdtempSync(join(tmpdir(), 'awm-zoo-'));
  try {
    const out = join(dir, 'out.safetensors');
    const t0 = performance.now();
    runCli(purifyArgs(cell, flags, cell.model.file, cell.method, out, join(dir, 'report.json')));
    const wallSeconds = (performance.now() - t0) / 1000;
    const { figures } = readPurifyReport(join(dir, 'report.json'));
    const result: CellResult = { model: cell.model.id, method: cell.method, perClass: cell.perClass, seed: cell.seed, ...figures, wallSeconds, date: new Date().toISOString() };
    const steps = flags['comeback-steps'] as number;
    if (steps > 0) {
      console.log(`  comes back? fine-tuning the purified model for ${steps} steps on the same clean images`);
      const args = purifyArgs(cell, flags, out, 'ft', join(dir, 'tuned.safetensors'), join(dir, 'tuned.json'));
      runCli([...args, '--steps', String(steps), '--lr', String(flags['comeback-lr'])]);
      result.comebackAsr = readPurifyReport(join(dir, 'tuned.json')).figures.asrAfter;
      result.comebackSteps = steps;
    }
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const pct = (x: number) => `${(100 * x).toFixed(1)}`;
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

/** One row per model, method and clean-set size: means over the seeds run, the worst seed's ASR beside the mean. */
export function zooTables(results: Results, evalCount: number): string {
  const done = Object.values(results.cells).filter((r): r is CellResult => !('error' in r));
  const failed = Object.entries(results.cells).filter(([, r]) => 'error' in r);
  const backends = [...new Set(done.map((r) => r.backend))];
  const lines: string[] = [
    '# The development zoo',
    '',
    'Each defense purifies each model from k clean Fashion-MNIST test images per class (the rest of the test split is',
    `evaluated: ${evalCount || 'all'} images, seeded). ACC is clean accuracy, ASR the attack success rate (target class excluded;`,
    "all images for all-to-all; from the model's own triggered images for the PyTorch models), both in %, before -> after,",
    'the mean over the clean-image seeds run, with the worst seed in brackets. "Comes back" is the ASR after the purified',
    'model is fine-tuned on the same clean images (plain SGD). Seconds are the defense\'s own; "x AWM" is that time over',
    'the faithful AWM\'s on the same model and clean set.',
    '',
    'Goal from 1 image per class: ASR <= 5 % (no seed above 10 %) with <= 5 points lost (<= 3 on a clean model); from 10',
    'per class: ASR <= 2 % with <= 3 points lost. Defaults are chosen on the development half only.',
    '',
    'Reproduce: `npm run build:cli && npm run bench zoo` (parts: `-- --models r18-sig --methods awm --per-class 1 --seeds 0`;',
    '`-- --table-only` rewrites this file from bench/results/zoo.json).',
    '',
    `Measured on: ${backends.length ? backends.join('; ') : 'nothing yet'}.`,
  ];
  for (const split of ['development', 'held-out'] as const) {
    lines.push('', `## ${split === 'development' ? 'Development half' : 'Held-out half (never used to choose a default)'}`, '');
    lines.push('| model | arch | attack | method | k/class | seeds | ACC before -> after | ASR before -> after [worst] | comes back | seconds | x AWM | goal |');
    lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
    let rows = 0;
    for (const m of ZOO.filter((z) => z.split === split)) {
      const mine = done.filter((r) => r.model === m.id);
      const groups = new Map<string, CellResult[]>();
      for (const r of mine) {
        const g = `${r.method}|${r.perClass}`;
        groups.set(g, [...(groups.get(g) ?? []), r]);
      }
      for (const [g, rs] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
        const [method, k] = g.split('|') as [string, string];
        const asr = rs.map((r) => r.asrAfter);
        const lost = mean(rs.map((r) => r.accBefore - r.accAfter));
        const tuned = rs.filter((r) => r.comebackAsr !== undefined);
        const back = tuned.map((r) => r.comebackAsr!);
        const steps = [...new Set(tuned.map((r) => r.comebackSteps))].join('/');
        const secs = mean(rs.map((r) => r.seconds));
        const awm = mine.filter((r) => r.method === 'awm' && String(r.perClass) === k && rs.some((x) => x.seed === r.seed));
        const ratio = awm.length && method !== 'awm' ? (secs / mean(awm.map((r) => r.seconds))).toFixed(2) : '';
        const clean = m.attack.startsWith('none');
        const perClass = Number(k);
        const asrGoal = perClass === 1 ? mean(asr) <= 0.05 && Math.max(...asr) <= 0.1 : mean(asr) <= 0.02;
        const lossGoal = lost <= (clean || perClass > 1 ? 0.03 : 0.05) + 1e-9;
        const goal = (clean ? lossGoal : asrGoal && lossGoal) ? 'met' : `missed (${clean ? '' : `ASR ${pct(mean(asr))}, `}${(100 * lost).toFixed(1)} pts lost)`;
        lines.push(`| ${m.id} | ${m.arch} | ${m.attack} | ${method} | ${k} | ${rs.map((r) => r.seed).sort().join(',')} | ` +
          `${pct(mean(rs.map((r) => r.accBefore)))} -> ${pct(mean(rs.map((r) => r.accAfter)))} | ` +
          `${pct(mean(rs.map((r) => r.asrBefore)))} -> ${pct(mean(asr))} [${pct(Math.max(...asr))}] | ` +
          `${back.length ? `${pct(mean(back))} (${steps} steps)` : ''} | ${Math.round(secs)} | ${ratio} | ${goal} |`);
        rows++;
      }
    }
    if (!rows) lines.push('| (no cell run yet) | | | | | | | | | | | |');
    const missing = ZOO.filter((z) => z.split === split && !done.some((r) => r.model === z.id)).map((z) => z.id);
    if (missing.length) lines.push('', `Not run yet: ${missing.join(', ')}.`);
  }
  if (failed.length) lines.push('', '## Failed cells', '', ...failed.map(([k, r]) => `- ${k}: ${(r as { error: string }).error}`));
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), FLAGS);
  const out = flags.results as string;
  const results = readResults(out);
  if (!flags['table-only']) {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'npm run build:cli' first`);
    const cells = planCells(flags);
    for (const [i, cell] of cells.entries()) {
      const done = results.cells[cell.key];
      if (done && !('error' in done) && !flags.redo) continue;
      if (!existsSync(cell.model.file)) {
        const hint = cell.model.file.startsWith('bench/models/') ? " (run 'npm run bench attacks' first)" : '';
        console.log(`[${i + 1}/${cells.length}] skipped ${cell.model.id}: ${cell.model.file} not found${hint}`);
        continue;
      }
      console.log(`\n[${i + 1}/${cells.length}] ${cell.method} on ${cell.model.id}, ${cell.perClass} image(s) per class, seed ${cell.seed}`);
      try {
        results.cells[cell.key] = runCell(cell, flags);
      } catch (e) {
        results.cells[cell.key] = { error: (e as Error).message, date: new Date().toISOString() };
        console.log(`  failed: ${(e as Error).message}`);
      }
      results.updated = new Date().toISOString();
      await writeFileAtomic(out, `${JSON.stringify(results, null, 2)}\n`);
    }
  }
  const doc = flags.doc as string;
  await writeFileAtomic(doc, zooTables(results, flags['eval-count'] as number));
  console.log(`\nwrote ${out} and ${doc}`);
}

if (process.argv[1]?.endsWith('zoo.mjs')) await main();

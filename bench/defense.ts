/**
 * Defense benchmark (`npm run bench defense [-- flags]`; never part of `npm test`): the defense tables of
 * docs/defenses.md. Each cell runs `awm purify` (the built CLI, dist/awm.mjs, as a user would) in its own process
 * and reads the report it writes:
 *   - on the two PyTorch-trained ResNet-18 w16 Fashion-MNIST models in models/ (BadNets, Blend):
 *     AWM, AWM+, FT and ANP at 1 and 10 clean images per class;
 *   - on the small CNNs that `npm run bench attacks` backdoors (bench/models/smallcnn-<attack>.safetensors):
 *     AWM and AWM+ at 1 clean image per class (`--smallcnn-per-class 1,10` adds 10).
 * ACC and ASR (target excluded) before and after, on the test split minus the clean images (or a seeded
 * `--eval-count` subset of it), and the seconds of the defense itself. Results are merged into
 * bench/results/defense.json after every cell, so an interrupted run resumes where it stopped
 * (`--redo` runs cells again). On SwiftShader a ResNet cell takes minutes, so the whole table takes hours.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFlags } from '../src/cli/args.js';
import { writeFileAtomic } from '../src/io/atomic-write.node.js';
import { readPurifyReport, type PurifyFigures } from './_purify-report.js';

const CLI = 'dist/awm.mjs';
const RESNETS = ['fmnist_resnet18w16_badnets', 'fmnist_resnet18w16_blend'];
const SMALL_CNN_ATTACKS = ['badnets', 'blend', 'trojan-sq', 'trojan-wm', 'wanet', 'clb', 'multi'];

const FLAGS = {
  'data-dir': { type: 'string', default: '/usr/share/datasets/fashion-mnist', help: 'Fashion-MNIST folder' },
  groups: { type: 'string', default: 'resnet,smallcnn', help: "which models: 'resnet' (models/), 'smallcnn' (bench/models/, from npm run bench attacks)" },
  methods: { type: 'string', default: 'awm,awm+,ft,anp', help: 'defenses for the ResNets (small CNNs get awm and awm+ among these)' },
  'per-class': { type: 'string', default: '1,10', help: 'clean images per class for the ResNets' },
  'smallcnn-per-class': { type: 'string', default: '1', help: 'clean images per class for the small CNNs' },
  'eval-count': { type: 'int', default: 1000, help: 'evaluate on this many test images (0: the whole test split minus the clean images)' },
  seed: { type: 'int', default: 1, help: 'seed of every run' },
  out: { type: 'string', default: 'bench/results/defense.json', help: 'results file (merged after every cell)' },
  redo: { type: 'boolean', default: false, help: 'run cells again even when the results file has them' },
  backend: { type: 'string', choices: ['webgpu', 'cpu', 'auto'], default: 'webgpu', help: 'compute backend' },
} as const;

interface Cell {
  key: string;
  group: 'resnet' | 'smallcnn';
  model: string;
  attack: string;
  method: string;
  perClass: number;
}

interface CellResult extends PurifyFigures {
  model: string;
  attack: string;
  method: string;
  perClass: number;
  seed: number;
  /** The whole `awm purify` process, compile and evaluation included. */
  wallSeconds: number;
  gemmGflop?: number;
  date: string;
}

interface Results {
  cells: Record<string, CellResult | { error: string; date: string }>;
  updated: string;
}

function list(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

/** A comma-separated list of clean-image counts per class, each a whole number >= 1. */
function counts(flag: string, text: string): number[] {
  const values = list(text).map(Number);
  const bad = values.find((v) => !(Number.isInteger(v) && v >= 1));
  if (bad !== undefined || !values.length) throw new Error(`--${flag}: expected whole numbers >= 1 separated by commas, got '${text}'`);
  return values;
}

function planCells(flags: Record<string, unknown>): Cell[] {
  const groups = list(flags.groups as string);
  const methods = list(flags.methods as string);
  const perClass = counts('per-class', flags['per-class'] as string);
  const cells: Cell[] = [];
  const seed = flags.seed as number;
  const evalCount = flags['eval-count'] as number;
  const key = (model: string, method: string, k: number) => `${model}|${method}|${k}|seed${seed}|eval${evalCount || 'all'}`;
  if (groups.includes('resnet')) {
    for (const name of RESNETS) {
      for (const k of perClass) {
        for (const method of methods) {
          const model = `models/${name}.safetensors`;
          cells.push({ key: key(model, method, k), group: 'resnet', model, attack: name.split('_').pop()!, method, perClass: k });
        }
      }
    }
  }
  if (groups.includes('smallcnn')) {
    const smallPerClass = counts('smallcnn-per-class', flags['smallcnn-per-class'] as string);
    for (const attack of SMALL_CNN_ATTACKS) {
      for (const k of smallPerClass) {
        for (const method of methods.filter((m) => m === 'awm' || m === 'awm+')) {
          const model = `bench/models/smallcnn-${attack}.safetensors`;
          cells.push({ key: key(model, method, k), group: 'smallcnn', model, attack, method, perClass: k });
        }
      }
    }
  }
  return cells;
}

function readResults(path: string): Results {
  if (!existsSync(path)) return { cells: {}, updated: '' };
  return JSON.parse(readFileSync(path, 'utf8')) as Results;
}

function runCell(cell: Cell, flags: Record<string, unknown>): CellResult {
  const dir = mkdtempSync(join(tmpdir(), 'awm-defense-'));
  try {
    const args = [
      CLI, 'purify', '--model', cell.model, '--clean', 'fashion-mnist', '--data-dir', String(flags['data-dir']),
      '--per-class', String(cell.perClass), '--method', cell.method, '--seed', String(flags.seed),
      '--backend', String(flags.backend), '--out', join(dir, 'out.safetensors'), '--report', join(dir, 'report.json'),
    ];
    const evalCount = flags['eval-count'] as number;
    if (evalCount > 0) args.push('--eval-count', String(evalCount));
    const t0 = performance.now();
    const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    const wallSeconds = (performance.now() - t0) / 1000;
    if (r.status !== 0) throw new Error(`awm purify exited with status ${r.status ?? r.signal}`);
    const { report, figures } = readPurifyReport(join(dir, 'report.json'));
    return {
      model: cell.model, attack: cell.attack, method: cell.method, perClass: cell.perClass, seed: flags.seed as number,
      ...figures, wallSeconds, gemmGflop: typeof report.details.gemmGflop === 'number' ? report.details.gemmGflop : undefined,
      date: new Date().toISOString(),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

function table(results: Results, cells: Cell[]): string {
  const lines = ['| model | attack | method | clean images/class | ACC before -> after | ASR before -> after | seconds |', '|---|---|---|---|---|---|---|'];
  for (const c of cells) {
    const r = results.cells[c.key];
    if (!r) continue;
    const name = c.group === 'resnet' ? 'ResNet-18 w16 (PyTorch)' : 'small CNN';
    if ('error' in r) lines.push(`| ${name} | ${c.attack} | ${c.method} | ${c.perClass} | error: ${r.error} | | |`);
    else lines.push(`| ${name} | ${c.attack} | ${c.method} | ${c.perClass} | ${pct(r.accBefore)} -> ${pct(r.accAfter)} | ${pct(r.asrBefore)} -> ${pct(r.asrAfter)} | ${Math.round(r.seconds)} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), FLAGS);
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'npm run build:cli' first`);
  const out = flags.out as string;
  const cells = planCells(flags);
  const results = readResults(out);
  for (const [i, cell] of cells.entries()) {
    const done = results.cells[cell.key];
    if (done && !('error' in done) && !flags.redo) continue;
    if (!existsSync(cell.model)) {
      console.log(`[${i + 1}/${cells.length}] skipped ${cell.model}: not found${cell.group === 'smallcnn' ? " (run 'npm run bench attacks' first)" : ''}`);
      continue;
    }
    console.log(`\n[${i + 1}/${cells.length}] ${cell.method} on ${cell.model}, ${cell.perClass} image(s) per class`);
    try {
      results.cells[cell.key] = runCell(cell, flags);
    } catch (e) {
      results.cells[cell.key] = { error: (e as Error).message, date: new Date().toISOString() };
      console.log(`  failed: ${(e as Error).message}`);
    }
    results.updated = new Date().toISOString();
    await writeFileAtomic(out, `${JSON.stringify(results, null, 2)}\n`);
  }
  console.log(`\n${table(results, cells)}\n\nwrote ${out}`);
}

await main();

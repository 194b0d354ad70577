/**
 * The scan on the zoo (`npm run bench scan -- [flags]`; never part of `npm test`).
 *
 *   npm run bench scan
 *   npm run bench scan -- --models r18-badnets,r18-clean --per-class 1 --seeds 0
 *
 * Scans every zoo model (bench/zoo.ts ZOO, plus the page's BadNets small CNN) from k clean Fashion-MNIST test images
 * per class (scanModel, the code `awm scan` runs), and writes bench/results/scan.json (merged after every cell, so a
 * stopped run resumes) and docs/scan.md: the truth from the model's card or metadata, the verdict, the target, the
 * evidence and the seconds.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { parseFlags } from '../src/cli/args.js';
import { createBackend } from '../src/backends/index.js';
import { openModel } from '../src/cli/common.js';
import { chooseCleanSource } from '../src/cli/purify-sources.js';
import { decideScan, scanModel, SCAN_DEFAULTS, SCAN_RULE, type ScanResult } from '../src/awm/scan.js';
import { attackFromMetadata } from '../src/attacks/index.js';
import { writeFileAtomic } from '../src/io/atomic-write.node.js';
import { ZOO, type ZooSplit } from './zoo.js';

interface ScanModel {
  id: string;
  file: string;
  arch: string;
  attack: string;
  split: ZooSplit;
}

/** Clean small CNNs this bench trains itself when missing (seeded), for the false-positive count. */
const CLEAN_CNN_SEEDS = [1, 2, 3];
const cleanCnnFile = (seed: number) => `bench/models/clean-cnn-s${seed}.safetensors`;
/** `awm train` on the Fashion-MNIST subset that ships in data/ (6,000 training images): about a minute per epoch here. */
const cleanCnnArgs = (seed: number) => ['dist/awm.mjs', 'train', '--dataset', 'fashion-mnist', '--data-dir', 'data/fashion-mnist-subset', '--arch', 'small-cnn', '--epochs', '4', '--seed', String(seed), '--out', cleanCnnFile(seed), '--quiet'];

/** The zoo, the page's BadNets small CNN (development: the project's defaults were first shaped on it), and clean small CNNs. */
const MODELS: readonly ScanModel[] = [
  ...ZOO,
  { id: 'page-cnn', file: 'web/demo-assets/model.safetensors', arch: 'small CNN', attack: 'BadNets 3x3 patch', split: 'development' },
  ...CLEAN_CNN_SEEDS.map((seed) => ({ id: `clean-cnn-s${seed}`, file: cleanCnnFile(seed), arch: 'small CNN', attack: 'none (clean)', split: 'held-out' as const })),
];

function trainCleanCnn(seed: number): void {
  if (!existsSync('dist/awm.mjs')) throw new Error("dist/awm.mjs is missing: run 'npm run build:cli' first");
  mkdirSync('bench/models', { recursive: true });
  console.log(`training ${cleanCnnFile(seed)}: node ${cleanCnnArgs(seed).join(' ')}`);
  const r = spawnSync(process.execPath, cleanCnnArgs(seed), { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`awm train exited with status ${r.status ?? r.signal}`);
}

interface Truth {
  backdoored: boolean;
  /** The attacked classes (several for a multi-trigger attack; none for a clean or an all-to-all model). */
  targets: number[];
  allToAll: boolean;
}

interface Cell {
  model: string;
  split: ZooSplit;
  perClass: number;
  seed: number;
  truth: Truth;
  backdoored: boolean;
  target: number | null;
  allToAll: boolean;
  right: boolean;
  bestScore: number;
  medianScore: number;
  lead: number;
  untargetedMoved: number;
  untargetedTopDestination: number;
  scores: ScanResult['scores'];
  /** Settings other than the defaults, as in the key ('' for the defaults, the only cells the table shows). */
  variant?: string;
  seconds: number;
  /** Another job ran on the machine during the scan: its seconds are an upper bound. */
  sharedMachine?: boolean;
  backend: string;
  date: string;
}

/** The truth from the PyTorch model's card beside it, or the attack in the model's metadata. */
function truthOf(file: string, metadata: Record<string, string>): Truth {
  const card = file.replace(/\.safetensors$/, '.json');
  if (existsSync(card)) {
    const c = JSON.parse(readFileSync(card, 'utf8')) as { attack: string; target: number; all2all: boolean };
    if (c.attack === 'none') return { backdoored: false, targets: [], allToAll: false };
    return c.all2all ? { backdoored: true, targets: [], allToAll: true } : { backdoored: true, targets: [c.target], allToAll: false };
  }
  const attack = attackFromMetadata(metadata);
  if (!attack) return { backdoored: false, targets: [], allToAll: false };
  const targets = [...new Set(attack.backdoors.flatMap((b) => (b.label.type === 'all-to-all' ? [] : [b.label.target])))];
  return { backdoored: true, targets, allToAll: targets.length === 0 };
}

/** Right when the verdict, the all-to-all call and the target (one of the attacked classes) all agree with the truth. */
function isRight(r: Pick<ScanResult, 'backdoored' | 'target' | 'allToAll'>, t: Truth): boolean {
  if (r.backdoored !== t.backdoored || r.allToAll !== t.allToAll) return false;
  return t.targets.length === 0 ? r.target === null : r.target !== null && t.targets.includes(r.target);
}

const flags = parseFlags(process.argv.slice(2), {
  'data-dir': { type: 'string', default: '/usr/share/datasets/fashion-mnist', help: 'Fashion-MNIST folder' },
  models: { type: 'string', default: 'all', help: `comma-separated ids, 'development', 'held-out' or 'all' (${MODELS.map((m) => m.id).join(', ')})` },
  'per-class': { type: 'string', default: '1,10', help: 'clean images per class' },
  seeds: { type: 'string', default: '', help: 'clean-image seeds (default: 0,1,2 at 1 per class, 0 at more)' },
  results: { type: 'string', default: 'bench/results/scan.json', help: 'results file (merged after every cell)' },
  doc: { type: 'string', default: 'docs/scan.md', help: 'the Markdown table written from the results' },
  redo: { type: 'boolean', default: false, help: 'scan again cells the results file has' },
  'table-only': { type: 'boolean', default: false, help: 'scan nothing; write the table from the results file' },
  backend: { type: 'string', choices: ['webgpu', 'cpu', 'auto'], default: 'webgpu', help: 'compute backend' },
  shared: { type: 'boolean', default: false, help: 'say in the results that another job shared the machine (its seconds are then upper bounds)' },
  'dense-eps': { type: 'number', above: 0, max: 1, default: SCAN_DEFAULTS.denseEps, help: 'the dense triggers\' bound (a cell key holds it when it is not the default)' },
  steps: { type: 'int', min: 1, default: SCAN_DEFAULTS.steps, help: 'descent steps (a cell key holds it when it is not the default)' },
});
const settings = { ...SCAN_DEFAULTS, denseEps: Number(flags['dense-eps']), steps: Number(flags.steps) };
const settingsKey = `${settings.denseEps !== SCAN_DEFAULTS.denseEps ? `|eps=${settings.denseEps}` : ''}${settings.steps !== SCAN_DEFAULTS.steps ? `|steps=${settings.steps}` : ''}`;

const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
const which = String(flags.models);
const models = which === 'all' ? MODELS : which === 'development' || which === 'held-out' ? MODELS.filter((m) => m.split === which) : list(which).map((id) => {
  const m = MODELS.find((x) => x.id === id);
  if (!m) throw new Error(`--models: unknown model '${id}' (${MODELS.map((x) => x.id).join(', ')})`);
  return m;
});
const resultsPath = String(flags.results);
const results: { cells: Record<string, Cell>; updated: string } = existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')) : { cells: {}, updated: '' };

if (!flags['table-only']) {
  const backend = await createBackend(String(flags.backend) as 'webgpu', { onFallback: (m) => console.warn(m) });
  for (const model of models) {
    const cleanSeed = CLEAN_CNN_SEEDS.find((seed) => cleanCnnFile(seed) === model.file);
    if (cleanSeed !== undefined && !existsSync(model.file)) trainCleanCnn(cleanSeed);
    if (!existsSync(model.file)) {
      console.log(`skipped ${model.id}: ${model.file} not found${model.file.startsWith('bench/models/') ? " (run 'npm run bench attacks' first)" : ''}`);
      continue;
    }
    for (const perClass of list(String(flags['per-class'])).map(Number)) {
      const seeds = flags.seeds ? list(String(flags.seeds)).map(Number) : perClass === 1 ? [0, 1, 2] : [0];
      for (const seed of seeds) {
        const key = `${model.id}|${perClass}|${seed}${settingsKey}`;
        if (results.cells[key] && !flags.redo) continue;
        const opened = await openModel(backend, model.file);
        try {
          const { clean } = await chooseCleanSource({ clean: 'fashion-mnist', 'per-class': perClass, 'data-dir': flags['data-dir'] }, opened.spec, seed);
          const r = await scanModel(opened.model, backend, clean, { ...settings, seed });
          const truth = truthOf(model.file, opened.metadata);
          const right = isRight(r, truth);
          const best = Math.max(...r.scores.map((s) => s.score));
          results.cells[key] = {
            model: model.id, split: model.split, perClass, seed, truth, backdoored: r.backdoored, target: r.target, allToAll: r.allToAll, right,
            bestScore: best, medianScore: r.medianScore, lead: r.lead, untargetedMoved: r.untargeted.moved, untargetedTopDestination: r.untargeted.topDestinationShare,
            scores: r.scores, variant: settingsKey, seconds: r.seconds, ...(flags.shared ? { sharedMachine: true } : {}), backend: backend.info.description, date: new Date().toISOString(),
          };
          console.log(`${key}: ${right ? 'right' : 'WRONG'}  ${r.verdict}  (${r.seconds.toFixed(0)} s)`);
          console.log(`  scores ${r.scores.map((s) => `${s.cls}:${(100 * s.sparseFlip).toFixed(0)}/${(100 * s.denseFlip).toFixed(0)}`).join(' ')}  untargeted moved ${(100 * r.untargeted.moved).toFixed(0)} %, top destination ${(100 * r.untargeted.topDestinationShare).toFixed(0)} %`);
        } finally {
          opened.model.dispose();
        }
        results.updated = new Date().toISOString();
        await writeFileAtomic(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
      }
    }
  }
}

const pct = (x: number) => (100 * x).toFixed(0);
const truthText = (t: Truth) => (!t.backdoored ? 'clean' : t.allToAll ? 'all-to-all' : `target ${t.targets.join(', ')}`);
const verdictText = (c: Cell) => (!c.backdoored ? 'clean' : c.allToAll ? 'all-to-all' : `target ${c.target}`);
// The verdicts are decided again from the stored evidence, so the table always shows the rule as it is now.
for (const c of Object.values(results.cells)) {
  const d = decideScan(c.scores, { moved: c.untargetedMoved, topDestinationShare: c.untargetedTopDestination });
  Object.assign(c, { backdoored: d.backdoored, target: d.target, allToAll: d.allToAll, medianScore: d.medianScore, lead: d.lead, right: isRight(d, c.truth) });
}
const cells = Object.values(results.cells).filter((c) => !c.variant).sort((a, b) => a.split.localeCompare(b.split) || a.model.localeCompare(b.model) || a.perClass - b.perClass || a.seed - b.seed);
const table = (split: ZooSplit) => {
  const rows = cells.filter((c) => c.split === split);
  if (!rows.length) return ['(no cell run yet)'];
  return [
    '| model | k/class | seed | truth | verdict | right | best class score | median | lead | untargeted moved / top destination | seconds |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((c) => `| ${c.model} | ${c.perClass} | ${c.seed} | ${truthText(c.truth)} | ${verdictText(c)} | ${c.right ? 'yes' : '**no**'} | ${pct(c.bestScore)} % | ${pct(c.medianScore)} % | ${pct(c.lead)} | ${pct(c.untargetedMoved)} % / ${pct(c.untargetedTopDestination)} % | ${c.seconds.toFixed(0)}${c.sharedMachine ? '*' : ''} |`),
  ];
};
const cleanCells = cells.filter((c) => !c.truth.backdoored);
const backends = [...new Set(cells.map((c) => c.backend))];
const doc = [
  '# awm scan on the zoo',
  '',
  'Each cell scans one model from k clean Fashion-MNIST test images per class (seeded). A class\'s score is the larger share',
  'of the other classes\' clean images that its sparse trigger (L1 budget 2 % of the image\'s values) or its dense trigger',
  `(eps ${SCAN_DEFAULTS.denseEps} per value) sends to it after ${SCAN_DEFAULTS.steps} descent steps; the lead is the best class's score over the median class's.`,
  `The rule (src/awm/scan.ts SCAN_RULE): a target when its score is at least ${pct(SCAN_RULE.targetMinFlip)} % and its lead at least ${pct(SCAN_RULE.targetMinLead)} points;`,
  `else all-to-all when one untargeted sparse trigger changes at least ${pct(SCAN_RULE.allToAllMinMoved)} % of the answers with no destination above ${pct(SCAN_RULE.allToAllMaxDestination)} % of them; else clean.`,
  '',
  'Reproduce: `npm run bench scan` (parts: `-- --models r18-sig --per-class 1 --seeds 0`; `-- --table-only` rewrites this file).',
  '',
  `Measured on: ${backends.join(', ') || '(nothing yet)'}, 2-core machine. Seconds are the scan's own (loading and`,
  'evaluation excluded); * marks a scan that shared the machine with another benchmark, so its seconds are an upper bound.',
  '',
  `Clean models flagged: ${cleanCells.filter((c) => c.backdoored).length} of ${cleanCells.length} scans. ` +
  `Right (verdict, all-to-all call and target): ${(['development', 'held-out'] as const).map((h) => { const r = cells.filter((c) => c.split === h); return `${r.filter((c) => c.right).length} of ${r.length} ${h} scans`; }).join(', ')}.`,
  '',
  '## Development half',
  '',
  ...table('development'),
  '',
  '## Held-out half (never used to choose the rule)',
  '',
  ...table('held-out'),
  '',
].join('\n');
await writeFileAtomic(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
await writeFileAtomic(String(flags.doc), doc);
console.log(`wrote ${resultsPath} and ${flags.doc}`);
process.exit(0);

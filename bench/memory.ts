/**
 * Memory over long runs (`npm run bench memory -- [flags]`; never part of `npm test`).
 *
 *   npm run bench memory
 *   npm run bench memory -- --steps 1000 --repeats 2 --backend webgpu
 *
 * Two measurements, both through purifyModel (the code `awm purify` and the page run), on the page's BadNets small
 * CNN and one clean image per class from the Fashion-MNIST subset that ships in data/:
 * - one long AWM run of at least --steps mask steps (the one-shot preset's 15 steps per round, so 67 rounds for
 *   1,000), with the backend's live storages and the process's resident set sampled at every round;
 * - every method with its defaults (ANP with --anp-iterations), --repeats times over, in one process (as a zoo bench
 *   or the page's repeated runs would), each on a fresh copy of the model that is disposed afterwards, sampled between runs.
 * A leak shows as live storages that climb from round to round or do not come back to the baseline between runs,
 * or as a resident set that keeps growing once the kernels are compiled. Writes bench/results/memory.json.
 */
import { readFileSync } from 'node:fs';
import { parseFlags } from '../src/cli/args.js';
import { createBackend } from '../src/backends/index.js';
import { chooseCleanSource } from '../src/cli/purify-sources.js';
import { loadModelFile } from '../src/nn/model-file.js';
import { purifyModel } from '../src/awm/purify.js';
import { memorySample, type MemorySample } from '../src/awm/memory-watch.js';
import { AWM_ONE_SHOT, stepsPerPhase } from '../src/awm/options.js';
import type { DefenseMethod } from '../src/awm/defense.js';
import { writeFileAtomic } from '../src/io/atomic-write.node.js';

const ALL_METHODS: DefenseMethod[] = ['awm-dual', 'awm', 'awm+', 'ft', 'anp'];
/** The one-shot AWM's clean pool: 10 images and 9 augmented copies of each. */
const ONE_SHOT_POOL = 100;

const flags = parseFlags(process.argv.slice(2), {
  model: { type: 'string', default: 'web/demo-assets/model.safetensors', help: 'the model to purify' },
  'data-dir': { type: 'string', default: 'data/fashion-mnist-subset', help: 'Fashion-MNIST IDX folder' },
  steps: { type: 'int', default: 1000, min: 1, help: 'mask steps in the long AWM run (at least)' },
  repeats: { type: 'int', default: 2, min: 1, help: 'times each method runs in the second measurement' },
  methods: { type: 'string', default: ALL_METHODS.join(','), help: 'the methods of the second measurement, comma-separated' },
  'anp-iterations': { type: 'int', default: 200, min: 1, help: 'ANP\'s iterations in the second measurement (its default 2000 takes most of an hour on SwiftShader)' },
  backend: { type: 'string', default: 'auto', help: 'auto, webgpu or cpu' },
  out: { type: 'string', default: 'bench/results/memory.json', help: 'where the figures go' },
});

const METHODS = String(flags.methods).split(',').map((m) => m.trim()).filter(Boolean) as DefenseMethod[];
for (const m of METHODS) if (!ALL_METHODS.includes(m)) throw new Error(`--methods: unknown method '${m}' (${ALL_METHODS.join(', ')})`);
const backend = await createBackend(String(flags.backend) as 'auto', { onFallback: (m) => console.warn(m) });
const bytes = new Uint8Array(readFileSync(String(flags.model)));
const open = () => loadModelFile(backend, bytes, { source: String(flags.model) });
const first = open();
const { clean } = await chooseCleanSource({ clean: 'fashion-mnist', 'per-class': 1, 'data-dir': flags['data-dir'] }, first.spec, 0);
first.model.dispose();
const quiet = { log: () => {} };

// The long run.
const perRound = stepsPerPhase(ONE_SHOT_POOL, AWM_ONE_SHOT.batchSize, 5);
const rounds = Math.ceil(Number(flags.steps) / perRound);
console.log(`long run: AWM, ${rounds} rounds x ${perRound} mask steps = ${rounds * perRound} mask steps (and as many trigger steps) on ${backend.info.description}`);
const baseline = memorySample(backend, 'before');
const long = open();
const t0 = performance.now();
const { report } = await purifyModel(backend, long.model, clean, { method: 'awm', seed: 0, awm: { outer: rounds } }, quiet);
long.model.dispose();
const longSeconds = (performance.now() - t0) / 1000;
const roundSamples = report.memory!.samples.filter((s) => s.at.startsWith('round'));
const rss = roundSamples.map((s) => s.rssMiB ?? Number.NaN);
const half = Math.floor(rss.length / 2);
const longRun = {
  method: 'awm', rounds, maskSteps: rounds * perRound, seconds: longSeconds,
  liveStoragesPerRound: { min: Math.min(...roundSamples.map((s) => s.liveStorages)), max: Math.max(...roundSamples.map((s) => s.liveStorages)) },
  /** Before the model was loaded and after it was disposed. */
  liveStoragesBeforeAndAfter: [baseline.liveStorages, backend.liveStorages()],
  rssMiB: { firstRound: rss[0], middle: rss[half], lastRound: rss[rss.length - 1], peak: report.memory!.peakRssMiB },
  /** Resident-set growth over the second half of the rounds, per 100 mask steps. */
  rssGrowthMiBPer100Steps: rss.length > 2 ? ((rss[rss.length - 1]! - rss[half]!) / ((rss.length - 1 - half) * perRound)) * 100 : Number.NaN,
  samples: report.memory!.samples,
};
console.log(`  live storages per round ${longRun.liveStoragesPerRound.min}-${longRun.liveStoragesPerRound.max}, before/after ${longRun.liveStoragesBeforeAndAfter.join(' / ')}; ` +
  `RSS ${rss[0]!.toFixed(0)} -> ${rss[half]!.toFixed(0)} -> ${rss[rss.length - 1]!.toFixed(0)} MiB (${longRun.rssGrowthMiBPer100Steps.toFixed(2)} MiB per 100 steps over the second half); ${longSeconds.toFixed(0)} s`);

// Every method, repeatedly, in one process.
const between: Array<MemorySample & { method: DefenseMethod | 'start'; repeat: number; peakRssMiB?: number; seconds?: number }> = [{ ...memorySample(backend, 'start'), method: 'start', repeat: 0 }];
for (let repeat = 1; repeat <= Number(flags.repeats); repeat++) {
  for (const method of METHODS) {
    const loaded = open();
    const t = performance.now();
    const r = await purifyModel(backend, loaded.model, clean, { method, seed: repeat, anp: { iterations: Number(flags['anp-iterations']) } }, { log: (line) => process.stdout.write(`\r${line.slice(0, 100).padEnd(100)}`) });
    process.stdout.write('\r'.padEnd(101) + '\r');
    loaded.model.dispose();
    const s = { ...memorySample(backend, 'after'), method, repeat, peakRssMiB: r.report.memory!.peakRssMiB, seconds: (performance.now() - t) / 1000 };
    between.push(s);
    console.log(`  ${method.padEnd(8)} #${repeat}: live storages after ${s.liveStorages} (start ${between[0]!.liveStorages}), RSS ${s.rssMiB?.toFixed(0)} MiB, peak ${s.peakRssMiB?.toFixed(0)} MiB, ${s.seconds.toFixed(0)} s`);
  }
}
const afterFirstPass = between.slice(1, 1 + METHODS.length);
const lastPass = between.slice(-METHODS.length);
const methodsRun = {
  methods: METHODS, repeats: Number(flags.repeats),
  liveStoragesAfterEachRun: between.slice(1).map((s) => s.liveStorages),
  liveStoragesAtStart: between[0]!.liveStorages,
  rssAfterFirstPassMiB: afterFirstPass[afterFirstPass.length - 1]!.rssMiB,
  rssAfterLastPassMiB: lastPass[lastPass.length - 1]!.rssMiB,
  runs: between,
};

const result = { command: ['npm run bench memory', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '), backend: backend.info.description, model: String(flags.model), date: new Date().toISOString(), longRun, methodsRun };
await writeFileAtomic(String(flags.out), JSON.stringify(result, null, 2) + '\n');
console.log(`wrote ${flags.out}`);
process.exit(0);

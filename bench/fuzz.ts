/**
 * Fuzz benchmark (`npm run bench fuzz -- --runs N --seed S`; never part of `npm test`): the targets of
 * test/fuzz with many more inputs. For each parser it prints the inputs tried, accepted, rejected with
 * the project's own error, and failed (another error, a broken property, a crash, or a hang), with the
 * first failures' messages and inputs, and writes bench/results/fuzz.json.
 *
 * Each target runs in a worker thread that reports its progress as it goes: a worker that reports
 * nothing for --stall-s seconds is stopped and its input counted as a hang, and one that dies (out of
 * memory, a native crash) as a crash, so one bad input cannot stop the run.
 */
import { cpus } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import fc from 'fast-check';
import { parseFlags } from '../src/cli/args.js';
import { writeFileAtomic } from '../src/io/atomic-write.node.js';
import { FUZZ_SEED, type SomeFuzzTarget } from '../test/fuzz/target.js';
import { cifar10Target, gtsrbCsvTarget, gtsrbImageTarget, idxTarget } from '../test/fuzz/targets-data.js';
import { imageTarget, pngTarget, pnmTarget, safetensorsTarget } from '../test/fuzz/targets-io.js';
import { attackSpecTarget, cliArgsTarget, pageImagesTarget, pageModelTarget } from '../test/fuzz/targets-other.js';

const RESULTS = 'bench/results/fuzz.json';
/** An input slower than this is reported as slow (a hang that did end). */
const SLOW_MS = 1000;
const EXAMPLES = 5;

const TARGETS: SomeFuzzTarget[] = [
  safetensorsTarget, pngTarget, pnmTarget, imageTarget, idxTarget, cifar10Target, gtsrbCsvTarget, gtsrbImageTarget,
  attackSpecTarget, cliArgsTarget(), pageModelTarget, pageImagesTarget,
];

interface Failure {
  error: string;
  input: string;
}

interface Progress {
  tried: number;
  accepted: number;
  rejected: number;
  failed: number;
  slow: number;
  failures: Failure[];
  done: boolean;
}

interface Row extends Omit<Progress, 'done'> {
  target: string;
  parser: string;
  hangs: number;
  crashes: number;
  seconds: number;
}

if (isMainThread) await main();
else await fuzzInWorker(workerData as { name: string; runs: number; seed: number });

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), {
    runs: { type: 'int', help: 'inputs per parser', default: 2000 },
    seed: { type: 'int', help: 'fast-check seed', default: FUZZ_SEED },
    only: { type: 'string', help: 'comma-separated target names' },
    'stall-s': { type: 'number', help: 'seconds without progress that count as a hang', default: 30 },
    out: { type: 'string', help: 'results file', default: RESULTS },
  });
  const runs = flags.runs as number;
  const seed = flags.seed as number;
  const only = flags.only === undefined ? null : String(flags.only).split(',');
  const chosen = TARGETS.filter((t) => only === null || only.includes(t.name));
  if (chosen.length === 0) throw new Error(`--only names no target (targets: ${TARGETS.map((t) => t.name).join(', ')})`);
  console.log(`fuzz: ${runs} inputs per parser, seed ${seed}, ${cpus().length} CPU(s), Node ${process.version}`);
  const rows: Row[] = [];
  for (const target of chosen) {
    const row = await runTarget(target, runs, seed, (flags['stall-s'] as number) * 1000);
    rows.push(row);
    console.log(`  ${row.target}: ${row.tried} tried, ${row.accepted} accepted, ${row.rejected} rejected, ${row.failed + row.hangs + row.crashes} failures (${row.seconds.toFixed(1)} s)`);
  }
  console.log(`\n${table(rows)}`);
  for (const row of rows) {
    for (const f of row.failures) console.log(`\n${row.target} failure: ${f.error}\n  input: ${f.input}`);
  }
  const results = { runs, seed, node: process.version, cpus: cpus().length, date: new Date().toISOString(), targets: rows };
  await writeFileAtomic(flags.out as string, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwrote ${flags.out}`);
}

function runTarget(target: SomeFuzzTarget, runs: number, seed: number, stallMs: number): Promise<Row> {
  const started = Date.now();
  const row: Row = { target: target.name, parser: target.parser, tried: 0, accepted: 0, rejected: 0, failed: 0, slow: 0, hangs: 0, crashes: 0, failures: [], seconds: 0 };
  return new Promise((resolve) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: { name: target.name, runs, seed }, resourceLimits: { maxOldGenerationSizeMb: 2048 } });
    let heard = Date.now();
    let finished = false;
    let stopped = false;
    // What the main thread saw (hangs, crashes); the worker's own failures arrive with its progress.
    const seen: Failure[] = [];
    const watchdog = setInterval(() => {
      if (stopped || Date.now() - heard < stallMs) return;
      stopped = true;
      row.hangs++;
      seen.push({ error: `hang: no progress for ${stallMs / 1000} s`, input: `input #${row.tried + 1} (rerun with --only ${target.name} --runs ${row.tried + 1} --seed ${seed})` });
      void worker.terminate();
    }, 1000);
    worker.on('message', (p: Progress) => {
      heard = Date.now();
      Object.assign(row, { tried: p.tried, accepted: p.accepted, rejected: p.rejected, failed: p.failed, slow: p.slow, failures: p.failures });
      finished = p.done;
    });
    worker.on('error', (e) => {
      row.crashes++;
      seen.push({ error: `crash: ${e.name}: ${e.message}`, input: `input #${row.tried + 1}` });
    });
    worker.on('exit', () => {
      clearInterval(watchdog);
      if (!finished && row.hangs === 0 && row.crashes === 0) {
        row.crashes++;
        seen.push({ error: 'crash: the worker exited before finishing', input: `input #${row.tried + 1}` });
      }
      row.failures = [...row.failures, ...seen];
      row.seconds = (Date.now() - started) / 1000;
      resolve(row);
    });
  });
}

async function fuzzInWorker({ name, runs, seed }: { name: string; runs: number; seed: number }): Promise<void> {
  const target = TARGETS.find((t) => t.name === name)!;
  await target.setup?.();
  const progress: Progress = { tried: 0, accepted: 0, rejected: 0, failed: 0, slow: 0, failures: [], done: false };
  let posted = 0;
  const post = (force = false) => {
    if (!force && Date.now() - posted < 200) return;
    posted = Date.now();
    parentPort!.postMessage(progress);
  };
  post(true);
  await fc.check(
    fc.asyncProperty(target.input(), async (input) => {
      const started = performance.now();
      try {
        progress[await target.run(input)]++;
      } catch (e) {
        progress.failed++;
        if (progress.failures.length < EXAMPLES) progress.failures.push({ error: describe(e), input: fc.stringify(input).slice(0, 400) });
      }
      const ms = performance.now() - started;
      if (ms > SLOW_MS) {
        progress.slow++;
        if (progress.failures.length < EXAMPLES) progress.failures.push({ error: `slow: ${ms.toFixed(0)} ms`, input: fc.stringify(input).slice(0, 400) });
      }
      progress.tried++;
      post();
      return true;
    }),
    { seed, numRuns: runs },
  );
  progress.done = true;
  post(true);
}

function describe(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message.slice(0, 300)}` : `thrown non-error ${String(e).slice(0, 100)}`;
}

function table(rows: Row[]): string {
  const lines = ['| parser | function | inputs | accepted | rejected (own error) | failures | slow (> 1 s) | seconds |', '|---|---|---:|---:|---:|---:|---:|---:|'];
  for (const r of rows) {
    const failures = r.failed + r.hangs + r.crashes;
    const kinds = [r.failed && `${r.failed} errors`, r.hangs && `${r.hangs} hangs`, r.crashes && `${r.crashes} crashes`].filter(Boolean).join(', ');
    lines.push(`| ${r.target} | ${r.parser} | ${r.tried} | ${r.accepted} | ${r.rejected} | ${failures}${kinds ? ` (${kinds})` : ''} | ${r.slow} | ${r.seconds.toFixed(1)} |`);
  }
  return lines.join('\n');
}

/**
 * How close a purification run comes to the time its GEMMs alone would take
 * (`npm run bench awm-profile -- [--reps N] [--out FILE] -- <awm purify flags>`; never part of `npm test`).
 * The goal: a one-shot run within 1.3x the time of its GEMM work at the kernels' rate (docs/benchmarks.md).
 * The kernel benchmark's rates are for the CIFAR ResNet layers at batch 32; a defense runs other shapes
 * (batch 16, 28x28, width 16), so this script measures the rate of the run's own shapes:
 *   1. runs the defense in this process (as `awm purify` does, without the evaluation before and after),
 *      with every conv2d pass and matmul tallied by kind and shape (src/ops/work.ts);
 *   2. times each distinct shape on its own on the same adapter (one warm-up, then `--reps` calls
 *      between two waits);
 *   3. reports the run's seconds against the sum over shapes of calls x seconds per call.
 * The gap is everything else: elementwise and normalisation kernels, the host (batch assembly, noise,
 * trigger sparsification), readbacks and waits. On WebGPU it also counts the run's dispatches by
 * program family, since on a CPU-emulated adapter each one has a fixed cost besides its work.
 */
import { writeFileSync } from 'node:fs';
import { parseFlags } from '../src/cli/args.js';
import { purifyCommand, purifyOptions } from '../src/cli/cmd-purify.js';
import { chooseCleanSource } from '../src/cli/purify-sources.js';
import { openBackend, openModel, backendLine } from '../src/cli/common.js';
import type { DefenseMethod } from '../src/awm/defense.js';
import { purifyModel } from '../src/awm/purify.js';
import { gemmWork, type GemmTally } from '../src/ops/work.js';
import type { Backend, Conv2dParams, MatmulParams } from '../src/tensor/backend.js';
import { WebGpuBackend } from '../src/backends/webgpu/backend.js';

const argv = process.argv.slice(2);
const split = argv.indexOf('--');
const own = split >= 0 ? argv.slice(0, split) : [];
const purifyArgs = split >= 0 ? argv.slice(split + 1) : argv;
const ownFlag = (name: string, fallback: string) => {
  const i = own.indexOf(`--${name}`);
  return i >= 0 && own[i + 1] !== undefined ? own[i + 1]! : fallback;
};
const reps = Number(ownFlag('reps', '3'));
const outPath = ownFlag('out', 'bench/results/awm-profile.json');
if (!(reps >= 1)) throw new Error('--reps must be >= 1');

const io = { log: (l: string) => console.log(l), warn: (l: string) => console.warn(l) };
const flags = parseFlags(purifyArgs.includes('--out') ? purifyArgs : [...purifyArgs, '--out', '/tmp/awm-profile.safetensors'], purifyCommand.flags);
const seed = flags.seed as number;
const method = flags.method as DefenseMethod;
const backend = await openBackend(flags, io);
const { model, spec } = await openModel(backend, String(flags.model));
const choice = await chooseCleanSource(flags, spec, seed);
io.log(`model: ${String(flags.model)}; clean: ${choice.description}`);

gemmWork.calls = new Map();
// Dispatches by program family (the key up to its first ':'), on WebGPU: where the work outside the GEMMs goes.
const runtime = backend instanceof WebGpuBackend ? backend.runtime : null;
const families = new Map<string, number>();
if (runtime) {
  const dispatch = runtime.dispatch.bind(runtime);
  runtime.dispatch = (program, bindings, workgroups, uniforms) => {
    const family = program.key.split(':')[0]!;
    families.set(family, (families.get(family) ?? 0) + 1);
    dispatch(program, bindings, workgroups, uniforms);
  };
}
const { outcome } = await purifyModel(backend, model, choice.clean, purifyOptions(flags, method, seed), io);
const dispatches = [...families.values()].reduce((s, n) => s + n, 0);
const topFamilies = [...families].sort((a, b) => b[1] - a[1]).slice(0, 20);
const tallies = [...gemmWork.calls.values()];
gemmWork.calls = null;
model.dispose();

/** Seconds per call of one shape, alone: a warm-up (compiles the kernel), then `reps` calls between two waits. */
async function timeShape(be: Backend, t: GemmTally): Promise<number> {
  const fill = (n: number) => be.fill(n, 0.5, 'float32');
  const run = () => {
    if (t.kind === 'matmul') {
      const p = t.params as MatmulParams;
      const a = fill(p.batchStrideA === 0 ? p.m * p.k : p.batch * p.m * p.k);
      const b = fill(p.batchStrideB === 0 ? p.k * p.n : p.batch * p.k * p.n);
      return [a, b, be.matmul(a, b, p)];
    }
    const p = t.params as Conv2dParams;
    const x = fill(p.n * p.cIn * p.h * p.w);
    const w = fill(p.cOut * p.cIn * p.kh * p.kw);
    const dy = fill(p.n * p.cOut * p.outH * p.outW);
    const bias = t.bias ? fill(p.cOut) : null;
    const out = t.kind === 'conv2d' ? be.conv2d(x, w, bias, p) : t.kind === 'conv2dBackwardData' ? be.conv2dBackwardData(dy, w, p) : be.conv2dBackwardWeight(x, dy, p);
    return [x, w, dy, ...(bias ? [bias] : []), out];
  };
  for (const s of run()) be.release(s);
  await be.sync();
  const t0 = performance.now();
  const held: ReturnType<typeof run> = [];
  for (let r = 0; r < reps; r++) held.push(...run());
  await be.sync();
  const seconds = (performance.now() - t0) / 1000 / reps;
  for (const s of held) be.release(s);
  return seconds;
}

io.log(`timing ${tallies.length} distinct GEMM shapes (${reps} reps each)...`);
interface Row { kind: GemmTally['kind']; bias: boolean; params: GemmTally['params']; count: number; gflop: number; secondsPerCall: number; seconds: number }
const rows: Row[] = [];
for (const t of tallies) {
  const perCall = await timeShape(backend, t);
  rows.push({ kind: t.kind, bias: t.bias, params: t.params, count: t.count, gflop: t.flops / 1e9, secondsPerCall: perCall, seconds: perCall * t.count });
}
rows.sort((a, b) => b.seconds - a.seconds);
const kernelSeconds = rows.reduce((s, r) => s + r.seconds, 0);
const gflop = rows.reduce((s, r) => s + r.gflop, 0);
const result = {
  date: new Date().toISOString(), backend: backendLine(backend), purifyArgs, reps,
  defenseSeconds: outcome.seconds, kernelBoundSeconds: kernelSeconds, ratio: outcome.seconds / kernelSeconds,
  gflop, runGflopPerSecond: gflop / outcome.seconds, kernelGflopPerSecond: gflop / kernelSeconds,
  dispatches: runtime ? dispatches : null, dispatchFamilies: runtime ? Object.fromEntries(topFamilies) : null, shapes: rows,
};
writeFileSync(outPath, JSON.stringify(result, null, 2) + '\n');
const shape = (r: Row) => (r.kind === 'matmul'
  ? (({ batch, m, n, k }) => `${batch}x${m}x${n}x${k}`)(r.params as MatmulParams)
  : (({ n, cIn, h, w, cOut, kh, strideH }) => `n${n} ${cIn}->${cOut} ${h}x${w} k${kh} s${strideH}`)(r.params as Conv2dParams));
console.log('\n| kernel | shape | calls | ms per call | GFLOP/s | seconds in the run (alone) |\n|---|---|---|---|---|---|');
for (const r of rows.slice(0, 15)) console.log(`| ${r.kind}${r.bias ? '+bias' : ''} | ${shape(r)} | ${r.count} | ${(r.secondsPerCall * 1000).toFixed(2)} | ${(r.gflop / r.count / r.secondsPerCall).toFixed(2)} | ${r.seconds.toFixed(1)} |`);
if (runtime) console.log(`\n${dispatches} dispatches in the defense; most frequent programs: ${topFamilies.slice(0, 10).map(([k, n]) => `${k} ${n}`).join(', ')}`);
console.log(`\ndefense: ${outcome.seconds.toFixed(1)} s for ${gflop.toFixed(0)} GFLOP of GEMM work (${result.runGflopPerSecond.toFixed(2)} GFLOP/s); ` +
  `the same GEMMs alone: ${kernelSeconds.toFixed(1)} s (${result.kernelGflopPerSecond.toFixed(2)} GFLOP/s); ratio ${result.ratio.toFixed(2)}x (goal <= 1.3x). Written to ${outPath}`);
process.exit(0);

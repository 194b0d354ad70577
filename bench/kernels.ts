/**
 * Kernel benchmark (`npm run bench kernels -- [flags]`; never part of `npm test`): GFLOP/s and ms of
 *   - matmul 512^3 and 1024^3,
 *   - conv2d forward, backward-data and backward-weight at the ResNet-18 CIFAR layer shapes
 *     (batch 32, 3x3, stride 1, padding 1, cIn = cOut: 64x32x32, 128x16x16, 256x8x8, 512x4x4),
 *   - conv2d backward-data of the stride-2 downsampling layers, per output phase and dilated,
 * for each kernel form (register-tiled and workgroup-memory; by default each also with Winograd F(4x4, 3x3) for the
 * stride-1 conv forward and backward-data, as '<form>-winograd' rows), optionally also the conv path that
 * WebGpuBackend itself routes to (whichever that is), for comparison. Each case is warmed up, then `reps` repetitions are recorded in one batch
 * between two `await backend.sync()`; ms is wall time per repetition (with `--trials T`, T such batches back to back and
 * ms their median, each batch's figure kept in the row's trialsMs). cpuMs is this process's CPU
 * time per repetition (SwiftShader's worker threads included), which stays meaningful when other
 * processes share the cores.
 *
 * Dawn's robustness setting is fixed per process, so `--robustness both` (the default) runs this
 * file twice as child processes and merges their results into the one `--out` JSON.
 *
 * `--tfjs` (default on) also times the same shapes with TensorFlow.js's WebGPU backend on the same
 * GPU object, in the same process after ours (the robustness-on process under `--robustness both`),
 * and prints a combined table with speedup = our GFLOP/s / tfjs GFLOP/s. `--shapes` keeps only the
 * cases whose "kernel shape" contains one of its comma-separated substrings.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseFlags } from '../src/cli/args.js';
import { describeAdapter, getGPU } from '../src/device/gpu.js';
import { WebGpuBackend } from '../src/backends/webgpu/backend.js';
import type { Conv2dParams, MatmulParams, Storage } from '../src/tensor/backend.js';
import { matmul } from '../src/shaders/matmul.js';
import { conv2dParams } from '../src/ops/conv.js';
import { conv2d, conv2dBackwardData, conv2dBackwardWeight } from '../src/shaders/conv2d.js';
import type { StridedBackwardData } from '../src/backends/webgpu/context.js';
import { timeTfjs, type TfjsResult, type TfjsShape } from './_tfjs.js';

const FLAGS = {
  out: { type: 'string', default: 'bench/results/kernels.json', help: 'results file (JSON)' },
  forms: { type: 'string', choices: ['both', 'register', 'shared'], default: 'both', help: 'kernel forms to time' },
  robustness: { type: 'string', choices: ['both', 'on', 'off'], default: 'both', help: "Dawn's bounds-check injection" },
  reps: { type: 'int', default: 3, help: 'timed repetitions per case (register form)' },
  trials: { type: 'int', default: 1, help: 'timed batches of reps per case; ms is their median and every batch is recorded (a transient slowdown of the machine then moves one trial, not the figure)' },
  'shared-reps': { type: 'int', default: 1, help: 'timed repetitions per case (workgroup-memory form; slow on SwiftShader)' },
  only: { type: 'string', choices: ['all', 'matmul', 'conv', 'strided'], default: 'all', help: 'which kernels (strided: backward-data of the stride-2 layers, per phase and dilated)' },
  'compare-backend': { type: 'boolean', default: false, help: "also time conv through WebGpuBackend's own methods" },
  tfjs: { type: 'boolean', default: true, help: "also time TensorFlow.js's WebGPU backend on the same adapter (--tfjs=false to skip)" },
  shapes: { type: 'string', default: 'all', help: "comma-separated substrings of 'kernel shape' to keep, e.g. '512x512,32x256x8'" },
  'no-split': { type: 'boolean', default: false, help: 'also time each form with the conv forward / backward-data reduction split off (WebGpuBackendOptions.splitIm2col)' },
  winograd: { type: 'boolean', default: true, help: 'also time each form with Winograd F(4x4, 3x3) for conv forward and backward-data (the plain forms run the im2col GEMM)' },
} as const;

type Form = 'register' | 'shared' | 'backend' | 'register-nosplit' | 'shared-nosplit' | 'register-winograd' | 'shared-winograd';

/** The cases the Winograd forms run: stride-1 3x3 forward and backward-data (the others do not take that path). */
const winogradCase = (c: Case) => c.kernel === 'conv2d forward' || c.kernel === 'conv2d backward-data';

interface Row {
  kernel: string;
  shape: string;
  form: Form;
  robustness: 'on' | 'off';
  gflop: number;
  reps: number;
  ms: number;
  gflops: number;
  cpuMs: number;
  /** ms per run of each timed batch, when there were several (ms is their median). */
  trialsMs?: number[];
}

interface Case {
  kernel: string;
  shape: string;
  flop: number;
  /** The same problem for bench/_tfjs.ts (none for the strided cases). */
  tfjs?: TfjsShape;
  /** Records one run and returns the storages to release after it. */
  run(be: WebGpuBackend, form: Form): Storage[];
  /** Same kernels at a tiny size, to compile pipelines without paying for a full slow run. */
  warm(be: WebGpuBackend, form: Form): Storage[];
}

function randomData(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

/** Uploads are cached per backend and size, so timing covers kernels only. */
const inputs = new WeakMap<WebGpuBackend, Map<string, Storage>>();
function input(be: WebGpuBackend, n: number, seed: number): Storage {
  let m = inputs.get(be);
  if (!m) inputs.set(be, (m = new Map()));
  const key = `${n}:${seed}`;
  let s = m.get(key);
  if (!s) m.set(key, (s = be.upload(randomData(n, seed), 'float32')));
  return s;
}

function matmulCase(size: number): Case {
  const params = (s: number): MatmulParams => ({ batch: 1, m: s, n: s, k: s, transA: false, transB: false, batchStrideA: 0, batchStrideB: 0 });
  const go = (be: WebGpuBackend, s: number) => [matmul(be.runtime, input(be, s * s, 1), input(be, s * s, 2), params(s))];
  const kernel = 'matmul', shape = `${size}x${size}x${size}`, flop = 2 * size ** 3;
  return { kernel, shape, flop, tfjs: { kernel, shape, flop, matmul: size }, run: (be) => go(be, size), warm: (be) => go(be, 8) };
}

function convParams(n: number, c: number, hw: number): Conv2dParams {
  return { n, cIn: c, h: hw, w: hw, cOut: c, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, outH: hw, outW: hw };
}

type Pass = 'forward' | 'backward-data' | 'backward-weight';

function convCase(pass: Pass, c: number, hw: number): Case {
  const go = (be: WebGpuBackend, form: Form, p: Conv2dParams): Storage[] => {
    const x = input(be, p.n * p.cIn * p.h * p.w, 3);
    const w = input(be, p.cOut * p.cIn * p.kh * p.kw, 4);
    const dy = input(be, p.n * p.cOut * p.outH * p.outW, 5);
    const bias = input(be, p.cOut, 6);
    const ctx = be.runtime;
    if (form === 'backend') {
      if (pass === 'forward') return [be.conv2d(x, w, bias, p)];
      if (pass === 'backward-data') return [be.conv2dBackwardData(dy, w, p)];
      return [be.conv2dBackwardWeight(x, dy, p)];
    }
    if (pass === 'forward') return [conv2d(ctx, x, w, bias, p)];
    if (pass === 'backward-data') return [conv2dBackwardData(ctx, dy, w, p)];
    return [conv2dBackwardWeight(ctx, x, dy, p)];
  };
  const p = convParams(32, c, hw);
  const kernel = `conv2d ${pass}`, shape = `32x${c}x${hw}x${hw}, 3x3`, flop = 2 * p.n * p.cOut * p.outH * p.outW * p.cIn * p.kh * p.kw;
  return {
    kernel,
    shape,
    flop,
    tfjs: { kernel, shape, flop, conv: { pass, n: p.n, c, hw } },
    run: (be, form) => go(be, form, p),
    warm: (be, form) => go(be, form, convParams(2, c, 5)),
  };
}

/**
 * Backward-data of ResNet-18's downsampling convs (stride 2: the 3x3 and the 1x1 shortcut), in both
 * versions: per output phase (the default) and over the zero-dilated grid it replaced. GFLOP/s counts
 * the dense convolution's flops for both, so the ratio of their times is the speed-up.
 */
function stridedCase(version: StridedBackwardData, cIn: number, hw: number, k: number): Case {
  const pad = (k - 1) / 2;
  const params = (n: number, side: number) => conv2dParams([n, cIn, side, side], [2 * cIn, cIn, k, k], { stride: 2, padding: pad });
  const go = (be: WebGpuBackend, p: Conv2dParams) => {
    const w = input(be, p.cOut * p.cIn * p.kh * p.kw, 4);
    const dy = input(be, p.n * p.cOut * p.outH * p.outW, 5);
    return [conv2dBackwardData(be.runtime, dy, w, p, undefined, version)];
  };
  const p = params(32, hw);
  const kernel = `conv2d backward-data s2 ${version}`;
  const shape = `32x${cIn}x${hw}x${hw} -> ${p.cOut}x${p.outH}x${p.outW}, ${k}x${k}`;
  return { kernel, shape, flop: 2 * p.n * p.cOut * p.outH * p.outW * p.cIn * k * k, run: (be) => go(be, p), warm: (be) => go(be, params(2, 5)) };
}

function cases(only: string, shapes: string): Case[] {
  const list: Case[] = [];
  if (only === 'all' || only === 'matmul') list.push(matmulCase(512), matmulCase(1024));
  if (only === 'all' || only === 'conv') {
    for (const [c, hw] of [[64, 32], [128, 16], [256, 8], [512, 4]] as const) {
      for (const pass of ['forward', 'backward-data', 'backward-weight'] as const) list.push(convCase(pass, c, hw));
    }
  }
  if (only === 'all' || only === 'strided') {
    for (const [c, hw, k] of [[64, 32, 3], [128, 16, 3], [256, 8, 3], [64, 32, 1]] as const) {
      for (const version of ['phases', 'dilated'] as const) list.push(stridedCase(version, c, hw, k));
    }
  }
  if (shapes === 'all' || shapes === '') return list;
  const keep = shapes.split(',').map((t) => t.trim()).filter(Boolean);
  return list.filter((c) => keep.some((k) => `${c.kernel} ${c.shape}`.includes(k)));
}

async function time(be: WebGpuBackend, c: Case, form: Form, reps: number, robustness: 'on' | 'off', trials: number): Promise<Row> {
  const release = (ss: Storage[]) => ss.forEach((s) => be.release(s));
  release(c.warm(be, form));
  // A full-size warm-up where it is cheap, so the buffer pool already holds the outputs.
  if (!form.startsWith('shared')) release(c.run(be, form));
  await be.sync();
  const perRun: number[] = [];
  const cpuPerRun: number[] = [];
  for (let t = 0; t < trials; t++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) release(c.run(be, form));
    await be.sync();
    perRun.push((performance.now() - t0) / reps);
    const cpu = process.cpuUsage(cpu0);
    cpuPerRun.push((cpu.user + cpu.system) / 1000 / reps);
  }
  const ms = median(perRun);
  const row: Row = {
    kernel: c.kernel, shape: c.shape, form, robustness, gflop: c.flop / 1e9, reps,
    ms: round(ms), gflops: round(c.flop / ms / 1e6), cpuMs: round(median(cpuPerRun)),
    ...(trials > 1 ? { trialsMs: perRun.map(round) } : {}),
  };
  const spread = trials > 1 ? ` (trials ${perRun.map((v) => round(c.flop / v / 1e6)).join(', ')} GFLOP/s)` : '';
  console.log(`| ${row.kernel} | ${row.shape} | ${form} | ${robustness} | ${row.ms} | ${row.gflops}${spread} | ${row.cpuMs} |`);
  return row;
}

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

const round = (v: number) => Math.round(v * 100) / 100;

interface Measured {
  adapter: string;
  rows: Row[];
  tfjs?: TfjsResult;
  tfjsError?: string;
}

async function measure(flags: Record<string, unknown>, robustness: 'on' | 'off'): Promise<Measured> {
  const handle = await getGPU({ disableRobustness: robustness === 'off' });
  const forms: Form[] = flags.forms === 'both' ? ['register', 'shared'] : [flags.forms as Form];
  const rows: Row[] = [];
  console.log(`\n${describeAdapter(handle.report)}; robustness ${robustness}`);
  console.log('| kernel | shape | form | robustness | ms | GFLOP/s | cpu ms |\n|---|---|---|---|---|---|---|');
  const noSplit: Form[] = flags['no-split'] ? forms.map((f) => (f === 'shared' ? 'shared-nosplit' : 'register-nosplit')) : [];
  const winograd: Form[] = flags.winograd ? forms.map((f) => (f === 'shared' ? 'shared-winograd' : 'register-winograd')) : [];
  for (const form of [...forms, ...noSplit, ...winograd, ...(flags['compare-backend'] ? ['backend' as const] : [])]) {
    // The backend's own path follows the adapter's default choices; the named forms fix theirs.
    const be = new WebGpuBackend(handle, form === 'backend' ? {} : { preferWorkgroupMemory: form.startsWith('shared'), splitIm2col: !form.endsWith('-nosplit'), winograd: form.endsWith('-winograd') });
    const reps = form.startsWith('shared') ? (flags['shared-reps'] as number) : (flags.reps as number);
    for (const c of cases(flags.only as string, flags.shapes as string)) {
      if ((form === 'backend' || form.endsWith('-nosplit')) && c.kernel === 'matmul') continue;
      if (form.endsWith('-winograd') && !winogradCase(c)) continue;
      rows.push(await time(be, c, form, reps, robustness, flags.trials as number));
    }
  }
  const result: Measured = { adapter: describeAdapter(handle.report), rows };
  if (flags.tfjs) {
    console.log(`\nTensorFlow.js WebGPU, same process (robustness ${robustness})`);
    console.log('| kernel | shape | ms | GFLOP/s | cpu ms |\n|---|---|---|---|---|');
    try {
      result.tfjs = await timeTfjs(handle.gpu, cases(flags.only as string, flags.shapes as string).flatMap((c) => (c.tfjs ? [c.tfjs] : [])), flags.reps as number);
      console.log(`tfjs ${result.tfjs.version} on: ${result.tfjs.adapter}`);
    } catch (e) {
      result.tfjsError = e instanceof Error ? e.message : String(e);
      console.log(`TensorFlow.js WebGPU skipped: ${result.tfjsError}`);
    }
  }
  return result;
}

/** Our rows next to tfjs's for the same shape, speedup = our GFLOP/s / tfjs GFLOP/s. */
function printCombined(rows: Row[], tfjs: TfjsResult | undefined): void {
  if (!tfjs) return;
  console.log(`\nOurs vs TensorFlow.js ${tfjs.version} WebGPU (${tfjs.adapter})`);
  console.log('| kernel | shape | form | robustness | ours ms | ours GFLOP/s | tfjs ms | tfjs GFLOP/s | speedup |\n|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const t = tfjs.rows.find((x) => x.kernel === r.kernel && x.shape === r.shape);
    const ok = t && !t.error && t.gflops > 0;
    const speedup = ok ? `${round(r.gflops / t.gflops)}x` : t?.error ? 'tfjs error' : 'n/a';
    console.log(`| ${r.kernel} | ${r.shape} | ${r.form} | ${r.robustness} | ${r.ms} | ${r.gflops} | ${ok ? t.ms : '-'} | ${ok ? t.gflops : '-'} | ${speedup} |`);
  }
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), FLAGS);
  if ((flags.trials as number) < 1 || (flags.reps as number) < 1) throw new Error('--reps and --trials must be at least 1');
  const out = flags.out as string;
  mkdirSync(dirname(out) || '.', { recursive: true });
  if (flags.robustness !== 'both') {
    const r = await measure(flags, flags.robustness as 'on' | 'off');
    printCombined(r.rows, r.tfjs);
    writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), adapter: r.adapter, rows: r.rows, tfjs: r.tfjs, tfjsError: r.tfjsError }, null, 2) + '\n');
    return;
  }
  // One child process per robustness setting, each writing a partial file merged here.
  const rows: Row[] = [];
  let adapter = '';
  let tfjs: TfjsResult | undefined;
  let tfjsError: string | undefined;
  for (const setting of ['off', 'on']) {
    const part = `${out}.${setting}.tmp`;
    const args = ['forms', 'reps', 'trials', 'shared-reps', 'only', 'compare-backend', 'shapes', 'no-split', 'winograd'].map((f) => `--${f}=${String(flags[f])}`);
    // tfjs runs once, in the robustness-on process (Dawn's default, as tfjs would normally get).
    args.push(`--tfjs=${setting === 'on' && flags.tfjs ? 'true' : 'false'}`);
    const r = spawnSync(process.execPath, [process.argv[1]!, ...args, `--robustness=${setting}`, `--out=${part}`], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`the robustness ${setting} run failed (exit ${r.status})`);
    const parsed = JSON.parse(readFileSync(part, 'utf8')) as Measured;
    adapter = parsed.adapter;
    rows.push(...parsed.rows);
    tfjs ??= parsed.tfjs;
    tfjsError ??= parsed.tfjsError;
    rmSync(part);
  }
  printCombined(rows, tfjs);
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), adapter, rows, tfjs, tfjsError }, null, 2) + '\n');
  console.log(`\nwrote ${out}`);
}

await main();

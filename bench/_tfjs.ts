/**
 * TensorFlow.js WebGPU timings for the kernel benchmark (imported by bench/kernels.ts; the leading
 * underscore keeps scripts/run-bench.mjs from running it on its own). TensorFlow.js is a
 * devDependency only and is marked external by the bench bundler, so it loads from node_modules.
 *
 * Its WebGPU backend registers itself at import time only when `globalThis.navigator.gpu` exists, so
 * the GPU object our engine got from the `webgpu` package is installed there first; tfjs then asks
 * that same GPU object for its adapter and creates its own device. tfjs's conv2d is NHWC with
 * HWIO filters; the backward passes run its `Conv2DBackpropInput` / `Conv2DBackpropFilter` kernels
 * directly (no gradient registrations needed).
 *
 * Timing per shape: one warm-up run (pipeline compilation) read back with `await data()`, then
 * `reps` runs recorded back to back, and wall time until the last output's `data()` resolves
 * (including that one read-back, which tfjs needs to flush and wait for its queue).
 */

export type TfjsPass = 'forward' | 'backward-data' | 'backward-weight';

export interface TfjsShape {
  kernel: string;
  shape: string;
  flop: number;
  matmul?: number;
  conv?: { pass: TfjsPass; n: number; c: number; hw: number };
}

export interface TfjsRow {
  kernel: string;
  shape: string;
  gflop: number;
  reps: number;
  ms: number;
  gflops: number;
  cpuMs: number;
  error?: string;
}

export interface TfjsResult {
  version: string;
  adapter: string;
  rows: TfjsRow[];
}

type Tf = typeof import('@tensorflow/tfjs-core');
type Tensor = import('@tensorflow/tfjs-core').Tensor;

const round = (v: number) => Math.round(v * 100) / 100;

export async function timeTfjs(gpu: GPU, shapes: TfjsShape[], reps: number, log: (line: string) => void = console.log): Promise<TfjsResult> {
  const g = globalThis as { navigator?: unknown };
  // Node 21+ defines a read-only navigator getter; replace it with a plain value.
  Object.defineProperty(g, 'navigator', { value: { ...(g.navigator as object | undefined), gpu }, configurable: true, writable: true });
  const tf: Tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error("tf.setBackend('webgpu') returned false (backend failed to initialise)");
  await tf.ready();
  const be = tf.backend() as unknown as { adapterInfo?: { vendor?: string; architecture?: string; device?: string; description?: string } };
  const info = be.adapterInfo ?? {};
  const adapter = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'unknown adapter';

  const rows: TfjsRow[] = [];
  for (const s of shapes) {
    const row: TfjsRow = { kernel: s.kernel, shape: s.shape, gflop: s.flop / 1e9, reps, ms: NaN, gflops: NaN, cpuMs: NaN };
    try {
      const { run, inputs } = makeCase(tf, s);
      const once = async () => {
        const out = run();
        await out.data();
        out.dispose();
      };
      await once();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const outs: Tensor[] = [];
      for (let i = 0; i < reps; i++) outs.push(run());
      await outs[outs.length - 1]!.data();
      const ms = (performance.now() - t0) / reps;
      const cpu = process.cpuUsage(cpu0);
      outs.forEach((t) => t.dispose());
      inputs.forEach((t) => t.dispose());
      row.ms = round(ms);
      row.gflops = round(s.flop / ms / 1e6);
      row.cpuMs = round((cpu.user + cpu.system) / 1000 / reps);
    } catch (e) {
      row.error = e instanceof Error ? e.message : String(e);
    }
    log(`| tfjs ${row.kernel} | ${row.shape} | ${row.error ? `error: ${row.error}` : `${row.ms} | ${row.gflops} | ${row.cpuMs}`} |`);
    rows.push(row);
  }
  return { version: tf.version_core, adapter, rows };
}

function random(tf: Tf, shape: number[], seed: number): Tensor {
  return tf.randomUniform(shape, -0.5, 0.5, 'float32', seed);
}

function makeCase(tf: Tf, s: TfjsShape): { run: () => Tensor; inputs: Tensor[] } {
  if (s.matmul) {
    const a = random(tf, [s.matmul, s.matmul], 1);
    const b = random(tf, [s.matmul, s.matmul], 2);
    return { run: () => tf.matMul(a, b), inputs: [a, b] };
  }
  if (!s.conv) throw new Error(`no tfjs op for ${s.kernel}`);
  const { pass, n, c, hw } = s.conv;
  const x = random(tf, [n, hw, hw, c], 3) as import('@tensorflow/tfjs-core').Tensor4D;
  const w = random(tf, [3, 3, c, c], 4) as import('@tensorflow/tfjs-core').Tensor4D;
  const dy = random(tf, [n, hw, hw, c], 5) as import('@tensorflow/tfjs-core').Tensor4D;
  const inputs = [x, w, dy];
  if (pass === 'forward') return { run: () => tf.conv2d(x, w, 1, 'same'), inputs };
  // tfjs-core does not export its conv2DBackpropInput/Filter ops, so their kernels are run directly
  // (the same kernels tf.conv2dTranspose and conv2d's gradient use).
  const common = { strides: 1, pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined };
  const kernel = (name: string, ins: Record<string, Tensor>, attrs: object) =>
    tf.engine().runKernel(name, ins as never, attrs as never) as Tensor;
  if (pass === 'backward-data') return { run: () => kernel(tf.Conv2DBackpropInput, { dy, filter: w }, { ...common, inputShape: [n, hw, hw, c] }), inputs };
  return { run: () => kernel(tf.Conv2DBackpropFilter, { x, dy }, { ...common, filterShape: [3, 3, c, c] }), inputs };
}

/**
 * What one dispatch costs: many tiny kernels recorded into one command buffer (the engine's normal
 * mode: about one submit per training step), and a dispatch followed by a wait for the GPU (the
 * latency of a read; our waits route Dawn's setImmediate polling through a 1 ms timer, see
 * src/device/poll-throttle.ts).
 * Run: npm run bench dispatch [-- --count 2000]
 */
import { createWebGpuBackend } from '../src/backends/index.js';
import { describeAdapter } from '../src/device/gpu.js';

const args = process.argv.slice(2);
const count = Number(args[args.indexOf('--count') + 1] ?? 2000) || 2000;
const be = await createWebGpuBackend();
console.log(`adapter: ${describeAdapter(be.handle.report)}`);
const x = be.fill(64, 1, 'float32');

async function batched(n: number): Promise<number> {
  const outs = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) outs.push(be.unary('neg', x));
  await be.sync();
  const us = ((performance.now() - t0) * 1000) / n;
  for (const o of outs) be.release(o);
  return us;
}

async function waited(n: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const o = be.unary('neg', x);
    await be.sync();
    be.release(o);
  }
  return ((performance.now() - t0) * 1000) / n;
}

await batched(50);
const rows = [
  ['one dispatch in a batch of ' + count + ' (one submit)', await batched(count)],
  ['one dispatch + submit + wait', await waited(Math.min(200, count))],
] as const;
console.log('| what | microseconds |\n|---|---|');
for (const [what, us] of rows) console.log(`| ${what} | ${us.toFixed(1)} |`);

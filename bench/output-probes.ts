/**
 * Which inputs, made from the clean images alone, tell a defense that wrecked a model from one that did not
 * (`npm run bench output-probes -- --model ORIGINAL --outputs A.safetensors,B.safetensors --seed S`; never part of
 * `npm test`). The outputs are `awm purify` results made with `--clean fashion-mnist --per-class K --seed S`; this draws
 * the same clean images, makes each kind of probe from them (crops as AWM+'s self-check makes them, the composites
 * its output check uses, mixtures, warps, noise, shifts, erasures), and prints, per output and probe, how often the
 * output agrees with the original model and its largest flip into one class (self-check.ts maxClassFlip), beside the
 * same figures on test images that are not clean images (the truth the probes stand in for). AWM+'s output check
 * uses the composites because of what this showed (docs/defenses.md, "What the output check sees").
 */
import { parseFlags } from '../src/cli/args.js';
import { createBackend } from '../src/backends/index.js';
import { openModel } from '../src/cli/common.js';
import { chooseCleanSource } from '../src/cli/purify-sources.js';
import { augmentOneShot } from '../src/awm/clean-set.js';
import { planSelfCheck, resolveAwmPlusOptions } from '../src/awm/awm-plus.js';
import { compositeFlip } from '../src/awm/self-check.js';
import { maxClassFlip } from '../src/awm/trigger-flips.js';
import { Rng } from '../src/data/rng.js';
import { predictClasses } from '../src/train/train.js';
import { writeFileAtomic } from '../src/io/atomic-write.node.js';

const flags = parseFlags(process.argv.slice(2), {
  model: { type: 'string', help: 'the model before the defense (safetensors)' },
  outputs: { type: 'string', help: 'comma-separated defended models, each made from the same clean images' },
  seed: { type: 'int', default: 1, help: 'the awm purify --seed the outputs were made with' },
  clean: { type: 'string', default: 'fashion-mnist', help: 'the clean source, as awm purify takes it' },
  'per-class': { type: 'int', default: 1, help: 'as given to awm purify' },
  'data-dir': { type: 'string', help: 'as given to awm purify' },
  probes: { type: 'int', default: 256, help: 'probes of each kind' },
  'test-count': { type: 'int', default: 1000, help: 'test images (not clean images) for the truth row' },
  backend: { type: 'string', default: 'auto', help: 'auto, webgpu or cpu' },
  out: { type: 'string', help: 'also write the figures here as JSON' },
} as const);
if (!flags.model || !flags.outputs) throw new Error('--model and --outputs are required');
const backend = await createBackend(String(flags.backend) as 'auto', { onFallback: (m) => console.warn(m) });
const orig = await openModel(backend, String(flags.model));
const seed = Number(flags.seed);
const { clean, rest } = await chooseCleanSource(flags, orig.spec, seed);
const { c, h, w, n, numClasses: k } = clean;
const per = c * h * w;
const img = (i: number) => clean.images.subarray(i * per, (i + 1) * per);
const clamp = (x: number) => Math.min(1, Math.max(0, x));
const other = (r: Rng, i: number) => { const j = r.int(n - 1); return j >= i ? j + 1 : j; };
function gauss(r: Rng) { return Math.sqrt(-2 * Math.log(1 - r.uniform())) * Math.cos(2 * Math.PI * r.uniform()); }
function bilinear(src: Float32Array, y: number, x: number, ch: number) {
  const y0 = Math.floor(y), x0 = Math.floor(x), fy = y - y0, fx = x - x0;
  const at = (yy: number, xx: number) => (yy < 0 || xx < 0 || yy >= h || xx >= w ? 0 : src[ch * h * w + yy * w + xx]!);
  return (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
}
function warp(src: Float32Array, s: number, r: Rng) {
  const g = 4; const dy = Array.from({ length: g * g }, () => s * (2 * r.uniform() - 1)); const dx = Array.from({ length: g * g }, () => s * (2 * r.uniform() - 1));
  const out = new Float32Array(per);
  for (let ch = 0; ch < c; ch++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const gy = (y / (h - 1)) * (g - 1), gx = (x / (w - 1)) * (g - 1);
    const field = (f: number[]) => { const y0 = Math.min(g - 2, Math.floor(gy)), x0 = Math.min(g - 2, Math.floor(gx)), fy = gy - y0, fx = gx - x0; return (1 - fy) * ((1 - fx) * f[y0 * g + x0]! + fx * f[y0 * g + x0 + 1]!) + fy * ((1 - fx) * f[(y0 + 1) * g + x0]! + fx * f[(y0 + 1) * g + x0 + 1]!); };
    out[ch * h * w + y * w + x] = bilinear(src, y + field(dy), x + field(dx), ch);
  }
  return out;
}
type Gen = (r: Rng) => Float32Array;
const M = Number(flags.probes);
const makers: Record<string, Gen> = {
  'mixup 0.5-0.8': (r) => { const i = r.int(n); const j = other(r, i); const l = 0.5 + 0.3 * r.uniform(); return Float32Array.from(img(i), (v, q) => l * v + (1 - l) * img(j)[q]!); },
  'cutmix 25-50%': (r) => { const i = r.int(n); const j = other(r, i); const a = 0.25 + 0.25 * r.uniform(); const bh = Math.round(h * Math.sqrt(a)), bw = Math.round(w * Math.sqrt(a)); const y0 = r.int(h - bh + 1), x0 = r.int(w - bw + 1); const o = Float32Array.from(img(i)); for (let ch = 0; ch < c; ch++) for (let y = y0; y < y0 + bh; y++) for (let x = x0; x < x0 + bw; x++) o[ch * h * w + y * w + x] = img(j)[ch * h * w + y * w + x]!; return o; },
  'warp 1px': (r) => warp(img(r.int(n)), 1, r),
  'warp 2px': (r) => warp(img(r.int(n)), 2, r),
  'warp 3px': (r) => warp(img(r.int(n)), 3, r),
  'gauss 0.1': (r) => Float32Array.from(img(r.int(n)), (v) => clamp(v + 0.1 * gauss(r))),
  'gauss 0.2': (r) => Float32Array.from(img(r.int(n)), (v) => clamp(v + 0.2 * gauss(r))),
  'shift 3px': (r) => { const s = img(r.int(n)); const ty = r.int(7) - 3, tx = r.int(7) - 3; const o = new Float32Array(per); for (let ch = 0; ch < c; ch++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) { const yy = y - ty, xx = x - tx; o[ch * h * w + y * w + x] = yy < 0 || xx < 0 || yy >= h || xx >= w ? 0 : s[ch * h * w + yy * w + xx]!; } return o; },
  'erase 30%': (r) => { const o = Float32Array.from(img(r.int(n))); const bh = Math.round(h * 0.55), bw = Math.round(w * 0.55); const y0 = r.int(h - bh + 1), x0 = r.int(w - bw + 1); for (let ch = 0; ch < c; ch++) for (let y = y0; y < y0 + bh; y++) for (let x = x0; x < x0 + bw; x++) o[ch * h * w + y * w + x] = 0; return o; },
  'uniform noise': (r) => Float32Array.from({ length: per }, () => r.uniform()),
  'noise blend 0.5': (r) => Float32Array.from(img(r.int(n)), (v) => 0.5 * v + 0.5 * r.uniform()),
};
const kinds: Array<[string, Float32Array]> = [];
const crops = await augmentOneShot(backend, clean, { copies: 8, flip: false, seed: 99 });
kinds.push(['crops', crops.images.subarray(n * per)]);
const rng = new Rng(1234);
for (const [name, gen] of Object.entries(makers)) {
  const r = new Rng(rng.int(1 << 30));
  const all = new Float32Array(M * per);
  for (let q = 0; q < M; q++) all.set(gen(r), q * per);
  kinds.push([name, all]);
}
if (rest) {
  const m = Math.min(Number(flags['test-count']), rest.n);
  kinds.push(['TRUTH: test images', Float32Array.from(rest.images.subarray(0, m * per), (v) => v / 255)]);
}
const reference = new Map<string, Int32Array>();
for (const [name, images] of kinds) reference.set(name, await predictClasses(orig.model, backend, images, [images.length / per, c, h, w]));
// The output check's own probe, made as awm purify --method awm+ makes it (the pool size only sets search steps).
const { composites } = await planSelfCheck(orig.model, backend, clean, resolveAwmPlusOptions({ seed }, { clean, seed }), 1);
const results: unknown[] = [];
for (const path of String(flags.outputs).split(',')) {
  const out = await openModel(backend, path);
  console.log(`\n${path} (against ${flags.model}, seed ${seed})`);
  const rows = [];
  for (const [name, images] of kinds) {
    const a = reference.get(name)!;
    const b = await predictClasses(out.model, backend, images, [a.length, c, h, w]);
    const agreement = a.reduce((s, v, i) => s + (v === b[i] ? 1 : 0), 0) / a.length;
    const flip = maxClassFlip(a, b, k);
    rows.push({ probe: name, count: a.length, agreement, flip: flip.rate, flipClass: flip.cls });
    console.log(`  ${name.padEnd(26)} agreement ${(100 * agreement).toFixed(1).padStart(5)} %   flip ${(100 * flip.rate).toFixed(1).padStart(5)} % (to class ${flip.cls})`);
  }
  const check = composites ? await compositeFlip(out.model, backend, composites, clean) : undefined;
  if (check) console.log(`  ${'OUTPUT CHECK (both kinds)'.padEnd(26)}                     flip ${(100 * check.rate).toFixed(1).padStart(5)} % (to class ${check.cls})`);
  results.push({ output: path, rows, ...(check ? { outputCheck: { flip: check.rate, flipClass: check.cls } } : {}) });
}
if (flags.out) await writeFileAtomic(String(flags.out), JSON.stringify({ model: flags.model, seed, count: M, results }, null, 1));
process.exit(0);

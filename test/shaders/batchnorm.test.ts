/**
 * The fused batch-norm WGSL kernels (statistics with the running update, forward, backward) and the
 * fused ReLU backward against the CPU reference (cpu32), at odd shapes (N = 1, 3; C = 1, 5, 33;
 * HW = 1, 7, 49) and long reductions (HW = 32*32*32), on both chunking targets (the register form
 * aims at CPU-emulated adapters, the workgroup-memory form at GPUs). Also: the batchNorm op stays a
 * handful of dispatches per layer, and the fused epilogue (+ residual, ReLU) matches the CPU.
 */
import { describe, expect, it } from 'vitest';
import type { Backend, BatchNormParams, HostArray, Storage } from '../../src/tensor/backend.js';
import { WebGpuBackend } from '../../src/backends/webgpu/backend.js';
import * as ops from '../../src/ops/index.js';
import { backward } from '../../src/autograd/engine.js';
import { tidy } from '../../src/tensor/scope.js';
import { cpu32, expectClose, gpuBackend, randomArray } from '../helpers/backends.js';

const gpu = gpuBackend!;
const gpuForms: Array<[string, WebGpuBackend]> = gpuBackend
  ? [false, true].map((shared) => [shared ? 'GPU chunking' : 'CPU-emulated chunking', new WebGpuBackend(gpu.handle, { preferWorkgroupMemory: shared })])
  : [];

const SMALL: Array<[number, number, number]> = [];
for (const n of [1, 3]) for (const c of [1, 5, 33]) for (const hw of [1, 7, 49]) SMALL.push([n, c, hw]);
const LARGE: Array<[number, number, number]> = [[1, 1, 32 * 32 * 32], [3, 5, 32 * 32 * 32]];

/** Runs `op` on `be` with freshly uploaded inputs, reads every returned storage, releases everything. */
async function run(be: Backend, inputs: Record<string, ArrayLike<number> | null>, op: (s: Record<string, Storage | null>) => Record<string, Storage | null>): Promise<Record<string, HostArray | null>> {
  const up: Record<string, Storage | null> = {};
  for (const [k, v] of Object.entries(inputs)) up[k] = v ? be.upload(v, 'float32') : null;
  const outs = op(up);
  const res: Record<string, HostArray | null> = {};
  for (const [k, s] of Object.entries(outs)) res[k] = s ? await be.read(s) : null;
  // Inputs that were updated in place are read back too.
  for (const [k, s] of Object.entries(up)) if (s) res[`in:${k}`] = await be.read(s);
  for (const s of [...Object.values(outs), ...Object.values(up)]) if (s) be.release(s);
  return res;
}

function data(n: number, c: number, hw: number, seed: number, offset = 0): Float32Array {
  const x = randomArray(n * c * hw, seed, -2, 2);
  // Channels get different offsets and scales, so a mixed-up channel index shows.
  for (let i = 0; i < x.length; i++) {
    const ch = Math.floor(i / hw) % c;
    x[i] = x[i]! * (0.5 + (ch % 4)) + offset + ch * 0.25;
  }
  return x;
}

const channels = (c: number, seed: number, lo: number, hi: number): Float32Array => randomArray(c, seed, lo, hi);

describe.skipIf(!gpuBackend)('WebGPU fused batch norm', () => {
  for (const [form, be] of gpuForms) {
    it(`batchNormStats: mean, biased variance and the running update (${form})`, async () => {
      for (const [n, c, hw] of [...SMALL, ...LARGE]) {
        for (const offset of [0, 100]) {
          const p: BatchNormParams = { n, c, hw, eps: 1e-5 };
          const inputs = { x: data(n, c, hw, n * 1000 + c * 10 + hw, offset), rm: channels(c, 1, -1, 1), rv: channels(c, 2, 0.5, 2) };
          const op = (b: Backend) => (s: Record<string, Storage | null>) =>
            b.batchNormStats(s.x!, p, n * hw > 1 ? { mean: s.rm!, var: s.rv!, momentum: 0.1 } : undefined);
          const got = await run(be, inputs, op(be));
          const want = await run(cpu32, inputs, op(cpu32));
          const what = `[${n}, ${c}, ${hw}] + ${offset}`;
          // No sqrt(length) allowance: compensated sums must stay at float32 rounding however long.
          expectClose(got.mean!, want.mean!, { rtol: 2e-6, atol: 1e-7 * (1 + offset), what: `mean ${what}` });
          expectClose(got.var!, want.var!, { rtol: 1e-5, atol: 1e-7, what: `var ${what}` });
          expectClose(got['in:rm']!, want['in:rm']!, { rtol: 2e-6, atol: 1e-6 * (1 + offset), what: `running mean ${what}` });
          expectClose(got['in:rv']!, want['in:rv']!, { rtol: 1e-5, atol: 1e-7, what: `running var ${what}` });
        }
      }
    });

    it(`batchNormForward with and without weight and bias (${form})`, async () => {
      for (const [n, c, hw] of SMALL) {
        for (const [w, b] of [[true, true], [false, false], [true, false], [false, true]]) {
          const p: BatchNormParams = { n, c, hw, eps: 1e-3 };
          const inputs = {
            x: data(n, c, hw, 7 + hw), mean: channels(c, 3, -1, 1), var: channels(c, 4, 0.1, 3),
            w: w ? channels(c, 5, -1.5, 1.5) : null, b: b ? channels(c, 6, -1, 1) : null,
          };
          const op = (be2: Backend) => (s: Record<string, Storage | null>) => ({ y: be2.batchNormForward(s.x!, s.mean!, s.var!, s.w ?? null, s.b ?? null, p) });
          const got = await run(be, inputs, op(be));
          const want = await run(cpu32, inputs, op(cpu32));
          expectClose(got.y!, want.y!, { rtol: 1e-5, atol: 1e-5, what: `forward [${n}, ${c}, ${hw}] w ${w} b ${b}` });
        }
      }
    });

    it(`batchNormForward's epilogue: + residual, ReLU, both (${form})`, async () => {
      for (const [n, c, hw] of SMALL) {
        for (const [res, relu] of [[true, false], [false, true], [true, true]] as const) {
          const p: BatchNormParams = { n, c, hw, eps: 1e-3 };
          const inputs = {
            x: data(n, c, hw, 8 + hw), mean: channels(c, 3, -1, 1), var: channels(c, 4, 0.1, 3),
            w: channels(c, 5, -1.5, 1.5), b: channels(c, 6, -1, 1), r: res ? randomArray(n * c * hw, 9 + c, -2, 2) : null,
          };
          const op = (be2: Backend) => (s: Record<string, Storage | null>) => ({ y: be2.batchNormForward(s.x!, s.mean!, s.var!, s.w, s.b, p, { residual: s.r, relu }) });
          const got = await run(be, inputs, op(be));
          const want = await run(cpu32, inputs, op(cpu32));
          const what = `[${n}, ${c}, ${hw}] residual ${res} relu ${relu}`;
          expectClose(got.y!, want.y!, { rtol: 1e-5, atol: 1e-5, what: `forward ${what}` });
          // The cases are built so that ReLU has work: some outputs are cut to zero, others pass.
          if (relu && n * c * hw > 8) {
            expect(want.y!.some((v) => v === 0), what).toBe(true);
            expect(want.y!.some((v) => v > 0), what).toBe(true);
          }
        }
      }
      await expect(run(be, { x: data(1, 2, 3, 1), m: channels(2, 1, 0, 1), v: channels(2, 2, 1, 2), r: randomArray(5, 3) },
        (s) => ({ y: be.batchNormForward(s.x!, s.m!, s.v!, null, null, { n: 1, c: 2, hw: 3, eps: 1e-5 }, { residual: s.r }) }))).rejects.toThrow(/residual: expected 6/);
    });

    it(`batchNormBackward in train and eval mode, every subset of outputs (${form})`, async () => {
      const wants = [
        { dx: true, dweight: true, dbias: true }, { dx: true, dweight: false, dbias: false },
        { dx: false, dweight: true, dbias: false }, { dx: false, dweight: false, dbias: true },
      ];
      for (const [n, c, hw] of [...SMALL, ...LARGE]) {
        for (const training of [true, false]) {
          for (const [k, want] of wants.entries()) {
            if (hw > 49 && k > 1) continue; // the long cases only need the full set and dx alone
            const p: BatchNormParams = { n, c, hw, eps: 1e-5 };
            const x = data(n, c, hw, 11 + c);
            // Train mode uses x's own statistics (the backward formula assumes them).
            const stats = await run(cpu32, { x }, (s) => cpu32.batchNormStats(s.x!, p));
            const inputs = {
              dy: randomArray(x.length, 12 + hw, -1, 1), x,
              mean: training ? stats.mean! : channels(c, 13, -1, 1), var: training ? stats.var! : channels(c, 14, 0.2, 2),
              w: k % 2 === 0 ? channels(c, 15, -1.5, 1.5) : null,
            };
            const op = (b: Backend) => (s: Record<string, Storage | null>) =>
              b.batchNormBackward(s.dy!, s.x!, s.mean!, s.var!, s.w ?? null, p, { training, ...want });
            const got = await run(be, inputs, op(be));
            const ref = await run(cpu32, inputs, op(cpu32));
            const what = `[${n}, ${c}, ${hw}] ${training ? 'train' : 'eval'} ${JSON.stringify(want)} weight ${!!inputs.w}`;
            for (const key of ['dx', 'dweight', 'dbias'] as const) {
              expect(got[key] === null, `${key} presence ${what}`).toBe(!want[key]);
              expect(ref[key] === null).toBe(!want[key]);
            }
            if (want.dx) expectClose(got.dx!, ref.dx!, { rtol: 1e-5, atol: 1e-5, what: `dx ${what}` });
            // Sums of up to 98304 products. The kernels' Kahan sums are exact to float32 rounding on SwiftShader, but a
            // driver may contract or reorder them: NVIDIA's Vulkan driver (H100) was off by 1.7e-5 relative on the longest
            // case. So these get the length allowance of every other reduction, from a tighter base.
            const sums = { rtol: 1e-6, atol: 1e-6, reduceLength: n * hw };
            if (want.dweight) expectClose(got.dweight!, ref.dweight!, { ...sums, what: `dweight ${what}` });
            if (want.dbias) expectClose(got.dbias!, ref.dbias!, { ...sums, what: `dbias ${what}` });
          }
        }
      }
    });
  }

  for (const [form, be] of gpuForms) {
    it(`batchNormBackward through a ReLU epilogue (gate), with and without the gated gradient (${form})`, async () => {
      const wants = [
        { dx: true, dweight: true, dbias: true, dgated: true }, { dx: true, dweight: false, dbias: false, dgated: false },
        { dx: true, dweight: false, dbias: false, dgated: true }, { dx: false, dweight: false, dbias: false, dgated: true },
        { dx: false, dweight: true, dbias: false, dgated: false },
      ];
      for (const [n, c, hw] of [[1, 1, 1], [3, 5, 7], [1, 33, 49], [3, 5, 32 * 32 * 4]] as const) {
        for (const training of [true, false]) {
          for (const want of wants) {
            const p: BatchNormParams = { n, c, hw, eps: 1e-5 };
            const x = data(n, c, hw, 51 + c);
            const stats = await run(cpu32, { x }, (s) => cpu32.batchNormStats(s.x!, p));
            // The gate is a ReLU output: zero (cut) or positive, about half each; the NaN gradient must stay NaN where cut.
            const gate = randomArray(x.length, 52 + hw, -1, 1).map((v) => Math.max(v, 0));
            const inputs = {
              dy: randomArray(x.length, 53 + hw, -1, 1), x, gate,
              mean: training ? stats.mean! : channels(c, 54, -1, 1), var: training ? stats.var! : channels(c, 55, 0.2, 2), w: channels(c, 56, -1.5, 1.5),
            };
            const op = (b: Backend) => (s: Record<string, Storage | null>) =>
              b.batchNormBackward(s.dy!, s.x!, s.mean!, s.var!, s.w, p, { training, ...want }, s.gate);
            const got = await run(be, inputs, op(be));
            const ref = await run(cpu32, inputs, op(cpu32));
            const what = `[${n}, ${c}, ${hw}] ${training ? 'train' : 'eval'} ${JSON.stringify(want)}`;
            for (const key of ['dx', 'dweight', 'dbias', 'dgated'] as const) expect(got[key] === null, `${key} presence ${what}`).toBe(!want[key]);
            if (want.dx) expectClose(got.dx!, ref.dx!, { rtol: 1e-5, atol: 1e-5, what: `dx ${what}` });
            if (want.dgated) {
              expectClose(got.dgated!, ref.dgated!, { rtol: 0, atol: 1e-30, what: `dgated ${what}` });
              for (let i = 0; i < gate.length; i++) if (gate[i] === 0 && ref.dgated![i] !== 0) throw new Error(`dgated not cut at ${i} ${what}`);
            }
            const sums = { rtol: 1e-6, atol: 1e-6, reduceLength: n * hw };
            if (want.dweight) expectClose(got.dweight!, ref.dweight!, { ...sums, what: `dweight ${what}` });
            if (want.dbias) expectClose(got.dbias!, ref.dbias!, { ...sums, what: `dbias ${what}` });
          }
        }
      }
      // NaN and infinite gradients against cut, positive and NaN gates: the gated gradient is the reluGrad op's, exactly.
      const specials = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 2.5];
      const sdy: number[] = [];
      const sgate: number[] = [];
      for (const a of specials) for (const b of [NaN, 0, 1, 2.5]) { sdy.push(a); sgate.push(b); }
      const sp: BatchNormParams = { n: sdy.length, c: 1, hw: 1, eps: 1e-5 };
      const sop = (b: Backend) => (s: Record<string, Storage | null>) =>
        b.batchNormBackward(s.dy!, s.x!, s.m!, s.v!, null, sp, { training: false, dx: true, dweight: false, dbias: false, dgated: true }, s.gate);
      const sIn = { dy: sdy, x: sdy.map(() => 0), gate: sgate, m: [0], v: [1] };
      const sGot = await run(be, sIn, sop(be));
      const sRef = await run(cpu32, sIn, sop(cpu32));
      for (const key of ['dgated', 'dx'] as const) {
        for (let i = 0; i < sdy.length; i++) {
          const [g, w] = [sGot[key]![i]!, sRef[key]![i]!];
          if (!(Number.isNaN(w) ? Number.isNaN(g) : g === w)) throw new Error(`${key}(dy ${sdy[i]}, gate ${sgate[i]}): got ${g}, expected ${w}`);
        }
      }
      expect(Number.isNaN(sRef.dgated![specials.indexOf(Infinity) * 4 + 1]!)).toBe(true); // inf * step(0) is NaN

      const tiny = { dy: [1, 2], x: [0, 1], m: [0], v: [1] };
      const noGate = (b: Backend) => (s: Record<string, Storage | null>) =>
        b.batchNormBackward(s.dy!, s.x!, s.m!, s.v!, null, { n: 2, c: 1, hw: 1, eps: 1e-5 }, { training: false, dx: true, dweight: false, dbias: false, dgated: true });
      await expect(run(be, tiny, noGate(be))).rejects.toThrow(/dgated needs a gate/);
      await expect(run(cpu32, tiny, noGate(cpu32))).rejects.toThrow(/dgated needs a gate/);
    });
  }

  it('reluGrad matches the CPU, NaN and infinities included', async () => {
    const specials = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 2.5];
    const g: number[] = [];
    const x: number[] = [];
    for (const a of specials) for (const b of specials) { g.push(a); x.push(b); }
    const r = randomArray(97, 21, -2, 2);
    g.push(...r);
    x.push(...randomArray(97, 22, -2, 2));
    const op = (b: Backend) => (s: Record<string, Storage | null>) => ({
      out: b.binary('reluGrad', { storage: s.g!, shape: [g.length], strides: [1], offset: 0 }, { storage: s.x!, shape: [g.length], strides: [1], offset: 0 }, [g.length]),
    });
    const got = (await run(gpu, { g, x }, op(gpu))).out!;
    const want = (await run(cpu32, { g, x }, op(cpu32))).out!;
    for (let i = 0; i < want.length; i++) {
      // Same value, NaN for NaN; the sign of zero is not pinned (g * 0 for negative g is -0 on both today).
      const same = Number.isNaN(want[i]!) ? Number.isNaN(got[i]!) : got[i] === want[i];
      if (!same) throw new Error(`reluGrad(${g[i]}, ${x[i]}): got ${got[i]}, expected ${want[i]}`);
    }
    // Spot checks of the rule itself: a NaN or infinite gradient where x <= 0 is still NaN (0 * inf).
    expect(Number.isNaN(want[specials.length * 1 + 3]!)).toBe(true); // g = inf, x = 0
    expect(want[specials.length * 5 + 5]).toBe(1); // g = 1, x = 1
    expect(want[specials.length * 5 + 0]).toBe(0); // g = 1, x = NaN
  });

  it('a batch-norm layer costs a handful of dispatches forward and backward', async () => {
    const be = gpu;
    const counts = tidy(() => {
      const x = ops.tensor(be, data(4, 6, 25, 31), [4, 6, 5, 5]);
      x.requiresGrad = true;
      const w = ops.tensor(be, channels(6, 32, 0.5, 1.5), [6]);
      w.requiresGrad = true;
      const b = ops.zeros(be, [6]);
      b.requiresGrad = true;
      const running = { mean: ops.zeros(be, [6]), var: ops.ones(be, [6]) };
      const g = ops.tensor(be, randomArray(600, 33), [4, 6, 5, 5]);
      const out: Record<string, number> = {};
      for (const training of [true, false]) {
        const d0 = be.runtime.dispatchCount;
        const y = ops.batchNorm(x, w, b, running, { training });
        const d1 = be.runtime.dispatchCount;
        backward(y, g);
        out[training ? 'trainForward' : 'evalForward'] = d1 - d0;
        out[training ? 'trainBackward' : 'evalBackward'] = be.runtime.dispatchCount - d1;
      }
      return out;
    });
    // Forward: statistics (partials + finish), coefficients, normalise. Eval: snapshot copies of the
    // running statistics, coefficients, normalise. Backward: partials, finish, dx (+ grad accumulation
    // into .grad on the second pass, which is the engine's, not batch norm's).
    expect(counts.trainForward).toBeLessThanOrEqual(4);
    expect(counts.evalForward).toBeLessThanOrEqual(4);
    expect(counts.trainBackward).toBeLessThanOrEqual(3);
    expect(counts.evalBackward).toBeLessThanOrEqual(3 + 3);
  });

  it('the fused epilogue saves the ReLU and add passes of a ResNet block end, and the ReLU backward pass', async () => {
    const be = gpu;
    const count = (fused: boolean) => tidy(() => {
      const x = ops.tensor(be, data(2, 3, 16, 41), [2, 3, 4, 4]);
      const r = ops.tensor(be, randomArray(96, 42), [2, 3, 4, 4]);
      x.requiresGrad = true;
      r.requiresGrad = true;
      const running = { mean: ops.zeros(be, [3]), var: ops.ones(be, [3]) };
      const d0 = be.runtime.dispatchCount;
      const y = fused
        ? ops.batchNorm(x, null, null, running, { training: false, residual: r, relu: true })
        : ops.relu(ops.add(ops.batchNorm(x, null, null, running, { training: false }), r));
      const d1 = be.runtime.dispatchCount;
      backward(y, ops.ones(be, [2, 3, 4, 4]));
      return { forward: d1 - d0, backward: be.runtime.dispatchCount - d1 };
    });
    const fused = count(true);
    const composed = count(false);
    expect(fused.forward).toBe(composed.forward - 2);
    expect(fused.backward).toBe(composed.backward - 1);
  });
});

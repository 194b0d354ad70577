/**
 * Head refit for AWM+ (`--calibrate-head --head-fit linear`): after the masks, refit the whole last linear layer
 * (weight and bias) so that the masked model's answers on fresh crops of the clean images match the original
 * model's, pulled towards the layer it started from.
 *
 * Why more than a bias shift: after one-shot masking on the Blend model the shirt / T-shirt boundary had moved
 * (a third of the clean shirts in the target class against 9 % for the original). A per-class offset moves every
 * boundary of a class at once; the weight can move the one boundary that moved. Only the head changes, so the
 * masked convolutions that removed the backdoor stay as they are, and the teacher is asked about clean crops only.
 *
 * The fit minimises, over theta = (W [k, d], b [k]),
 *   mean_i CE(teacher_i, softmax(W f_i + b)) + (l2 / 2) |theta - theta0|^2,
 * where f_i is the head's input on crop i. It is strictly convex (l2 > 0); L-BFGS in float64 solves it.
 */
import type { Backend } from '../tensor/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Classifier } from '../nn/classifier.js';
import type { CleanSet } from './clean-set.js';
import { headLinear, modelOutputs } from './head-calibration.js';
import { tensorSlot } from '../nn/state-dict.js';

export interface HeadFit {
  /** The fitted weight [k, d] and bias [k], row-major. */
  weight: Float64Array;
  bias: Float64Array;
  /** Mean cross-entropy to the teacher before and after the fit (without the l2 term). */
  lossBefore: number;
  lossAfter: number;
  /** Relative change of the weight, |W - W0| / |W0|, and the largest change of a bias. */
  weightChange: number;
  biasChange: number;
  iterations: number;
}

/**
 * The l2 pull towards the starting layer, chosen on nine masking runs (docs/defenses.md, "Head calibration and the
 * suspect shift"; bench/results/head-calibration.json): at 0.002 the
 * weight moved 77-87 % and one run lost its result (Blend seed 1: 3.7 % ASR with the masks alone, 7.6 % after);
 * at 0.03 it moved 19-25 %, ASR was at or below the bias fit's in six of seven runs and accuracy above it in all.
 */
export const HEAD_REFIT_L2 = 0.03;

interface Problem {
  f: Float32Array;
  p: Float32Array;
  n: number;
  k: number;
  d: number;
  theta0: Float64Array;
  l2: number;
}

/** Objective and gradient in theta = [W (k*d), b (k)]; `ce` is the cross-entropy part alone. */
function evaluate(pr: Problem, theta: Float64Array): { value: number; ce: number; grad: Float64Array } {
  const { f, p, n, k, d, theta0, l2 } = pr;
  const grad = new Float64Array(theta.length);
  const z = new Float64Array(k);
  let ce = 0;
  for (let i = 0; i < n; i++) {
    const fi = i * d;
    let max = -Infinity;
    for (let c = 0; c < k; c++) {
      let s = theta[k * d + c]!;
      for (let j = 0; j < d; j++) s += theta[c * d + j]! * f[fi + j]!;
      z[c] = s;
      if (s > max) max = s;
    }
    let sum = 0;
    for (let c = 0; c < k; c++) sum += Math.exp(z[c]! - max);
    const lse = max + Math.log(sum);
    for (let c = 0; c < k; c++) {
      const pc = p[i * k + c]!;
      ce -= pc * (z[c]! - lse);
      const g = (Math.exp(z[c]! - lse) - pc) / n;
      if (g === 0) continue;
      for (let j = 0; j < d; j++) grad[c * d + j]! += g * f[fi + j]!;
      grad[k * d + c]! += g;
    }
  }
  ce /= n;
  let reg = 0;
  for (let t = 0; t < theta.length; t++) {
    const delta = theta[t]! - theta0[t]!;
    reg += delta * delta;
    grad[t]! += l2 * delta;
  }
  return { value: ce + 0.5 * l2 * reg, ce, grad };
}

const dot = (a: Float64Array, b: Float64Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

/**
 * Fits the head to the teacher's probabilities: features [n, d] (the head's input), teacher [n, k], the starting
 * weight [k, d] and bias [k]. Pure and deterministic.
 */
export function fitLinearHead(
  features: Float32Array, teacher: Float32Array, weight0: Float32Array, bias0: Float32Array, n: number, k: number, d: number,
  opts: { l2?: number; maxIterations?: number; memory?: number } = {},
): HeadFit {
  if (n <= 0 || k <= 1 || d <= 0) throw new Error(`head refit: needs at least one image, two classes and one feature, got ${n}, ${k} and ${d}`);
  if (features.length !== n * d || teacher.length !== n * k) throw new Error(`head refit: expected ${n}x${d} features and ${n}x${k} probabilities, got ${features.length} and ${teacher.length} values`);
  if (weight0.length !== k * d || bias0.length !== k) throw new Error(`head refit: expected a ${k}x${d} weight and ${k} biases, got ${weight0.length} and ${bias0.length} values`);
  for (const [name, a, w] of [['feature', features, d], ['probability', teacher, k]] as const) {
    for (let j = 0; j < a.length; j++) if (!Number.isFinite(a[j]!)) throw new Error(`head refit: a non-finite ${name} at row ${Math.floor(j / w)}`);
  }
  for (const a of [weight0, bias0]) for (let j = 0; j < a.length; j++) if (!Number.isFinite(a[j]!)) throw new Error('head refit: the starting layer holds a non-finite value');
  const l2 = opts.l2 ?? HEAD_REFIT_L2;
  if (!(l2 > 0 && Number.isFinite(l2))) throw new Error(`head refit: l2 must be a finite number > 0 (it keeps the fit near the starting layer), got ${l2}`);
  const maxIterations = opts.maxIterations ?? 500;
  const memory = opts.memory ?? 10;
  const theta0 = new Float64Array(k * d + k);
  theta0.set(weight0, 0);
  theta0.set(bias0, k * d);
  const pr: Problem = { f: features, p: teacher, n, k, d, theta0, l2 };
  let theta = Float64Array.from(theta0);
  let cur = evaluate(pr, theta);
  const lossBefore = cur.ce;
  const ss: Float64Array[] = [];
  const ys: Float64Array[] = [];
  let iterations = 0;
  for (; iterations < maxIterations; iterations++) {
    let gmax = 0;
    for (const v of cur.grad) gmax = Math.max(gmax, Math.abs(v));
    if (gmax < 1e-8) break;
    // Two-loop recursion: dir = -H g with the last `memory` curvature pairs.
    const q = Float64Array.from(cur.grad);
    const alphas: number[] = [];
    for (let m = ss.length - 1; m >= 0; m--) {
      const a = dot(ss[m]!, q) / dot(ys[m]!, ss[m]!);
      alphas[m] = a;
      for (let t = 0; t < q.length; t++) q[t]! -= a * ys[m]![t]!;
    }
    const last = ss.length - 1;
    const gamma = last >= 0 ? dot(ss[last]!, ys[last]!) / dot(ys[last]!, ys[last]!) : 1 / Math.max(1, gmax);
    for (let t = 0; t < q.length; t++) q[t]! *= gamma;
    for (let m = 0; m < ss.length; m++) {
      const b = dot(ys[m]!, q) / dot(ys[m]!, ss[m]!);
      for (let t = 0; t < q.length; t++) q[t]! += ss[m]![t]! * (alphas[m]! - b);
    }
    let slope = -dot(cur.grad, q);
    if (!(slope < 0)) {
      // Not a descent direction (rounding): restart from steepest descent.
      ss.length = 0;
      ys.length = 0;
      for (let t = 0; t < q.length; t++) q[t] = cur.grad[t]! / Math.max(1, gmax);
      slope = -dot(cur.grad, q);
    }
    // Backtracking (Armijo) along -q.
    let step = 1;
    let next = theta;
    let nextObj = cur;
    let accepted = false;
    for (let tries = 0; tries < 40; tries++, step /= 2) {
      next = theta.map((v, t) => v - step * q[t]!);
      nextObj = evaluate(pr, next);
      if (nextObj.value <= cur.value + 1e-4 * step * slope) {
        accepted = true;
        break;
      }
    }
    if (!accepted) break;
    const s = next.map((v, t) => v - theta[t]!);
    const y = nextObj.grad.map((v, t) => v - cur.grad[t]!);
    if (dot(s, y) > 1e-12) {
      ss.push(s);
      ys.push(y);
      if (ss.length > memory) {
        ss.shift();
        ys.shift();
      }
    }
    const done = cur.value - nextObj.value <= 1e-12 * Math.max(1, Math.abs(cur.value));
    theta = next;
    cur = nextObj;
    if (done) break;
  }
  const weight = theta.slice(0, k * d);
  const bias = theta.slice(k * d);
  let dw = 0;
  let w0 = 0;
  for (let t = 0; t < k * d; t++) {
    dw += (weight[t]! - weight0[t]!) ** 2;
    w0 += weight0[t]! ** 2;
  }
  let db = 0;
  for (let c = 0; c < k; c++) db = Math.max(db, Math.abs(bias[c]! - bias0[c]!));
  return { weight, bias, lossBefore, lossAfter: cur.ce, weightChange: Math.sqrt(dw / Math.max(w0, 1e-30)), biasChange: db, iterations };
}

/** The head's input on every image of the set, [n, d] (eval mode), captured on the way through the model. */
export async function headInputs(model: Classifier, backend: Backend, set: CleanSet): Promise<Float32Array> {
  const head = headLinear(model);
  const forward = head.forward;
  let captured: Tensor | null = null;
  // The classifiers expose logits only; capturing the head's input here spares every architecture a features() method.
  head.forward = (x: Tensor) => {
    captured = x;
    return forward.call(head, x);
  };
  try {
    return await modelOutputs(model, backend, set, () => captured!, 256, head.inFeatures);
  } finally {
    head.forward = forward;
  }
}

/** Refits the head on the set (teacher = the original model's probabilities on it) and writes it into the model. */
export async function refitHead(model: Classifier, backend: Backend, set: CleanSet, teacher: Float32Array, opts: { l2?: number } = {}): Promise<HeadFit> {
  const head = headLinear(model);
  const bias = head.bias as Tensor;
  const fit = fitLinearHead(await headInputs(model, backend, set), teacher, (await head.weight.data()) as Float32Array, (await bias.data()) as Float32Array,
    set.n, model.spec.numClasses, head.inFeatures, opts);
  tensorSlot(head.weight).write({ shape: head.weight.shape, data: Float32Array.from(fit.weight) });
  tensorSlot(bias).write({ shape: bias.shape, data: Float32Array.from(fit.bias) });
  return fit;
}

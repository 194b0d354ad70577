/**
 * Head calibration for AWM+ (`--calibrate-head`): after the masks are chosen, shift the classifier's last bias
 * so that the masked model's answers on fresh crops of the clean images match the original model's in the
 * mean. Why: after one-shot masking the remaining Blend ASR was mostly clean images pulled into the target
 * class with no trigger at all (docs/defenses.md, "Head calibration and the suspect shift"); a per-class logit offset is the smallest
 * change that can move that boundary back, and it is fitted on held-out crops, not on the masks' pool.
 *
 * The fit minimises, over a bias shift b (one value per class),
 *   mean_i CE(teacher_i, softmax(z_i + b)) + (l2 / 2) |b|^2,
 * which is convex; damped Newton steps on the 10x10 (classes x classes) system converge in a few iterations.
 */
import type { Backend } from '../tensor/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Classifier } from '../nn/classifier.js';
import { Linear } from '../nn/linear.js';
import type { CleanSet } from './clean-set.js';
import { tidy } from '../tensor/scope.js';
import { noGrad } from '../autograd/engine.js';
import * as ops from '../ops/index.js';
import { tensorSlot } from '../nn/state-dict.js';

export interface BiasFit {
  /** The shift per class (mean zero: softmax ignores a constant). */
  shift: Float64Array;
  /** Mean cross-entropy to the teacher before and after the shift. */
  lossBefore: number;
  lossAfter: number;
  iterations: number;
}

/** Mean cross-entropy of softmax(z + b) to the targets p, its gradient and Hessian in b (without the l2 term). */
function objective(z: Float32Array, p: Float32Array, n: number, k: number, b: Float64Array, withHessian: boolean): { loss: number; grad: Float64Array; hess: Float64Array | null } {
  const grad = new Float64Array(k);
  const hess = withHessian ? new Float64Array(k * k) : null;
  const q = new Float64Array(k);
  let loss = 0;
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, z[i * k + c]! + b[c]!);
    let sum = 0;
    for (let c = 0; c < k; c++) sum += (q[c] = Math.exp(z[i * k + c]! + b[c]! - max));
    const lse = max + Math.log(sum);
    for (let c = 0; c < k; c++) {
      q[c]! /= sum;
      const pc = p[i * k + c]!;
      loss -= pc * (z[i * k + c]! + b[c]! - lse);
      grad[c]! += q[c]! - pc;
    }
    if (hess) for (let r = 0; r < k; r++) for (let c = 0; c < k; c++) hess[r * k + c]! += (r === c ? q[r]! : 0) - q[r]! * q[c]!;
  }
  for (let c = 0; c < k; c++) grad[c]! /= n;
  if (hess) for (let j = 0; j < k * k; j++) hess[j]! /= n;
  return { loss: loss / n, grad, hess };
}

/** Solves A x = y (A symmetric positive definite, k x k) by Gaussian elimination with partial pivoting. */
function solve(a: Float64Array, y: Float64Array, k: number): Float64Array {
  const m = Float64Array.from(a);
  const x = Float64Array.from(y);
  for (let col = 0; col < k; col++) {
    let piv = col;
    for (let r = col + 1; r < k; r++) if (Math.abs(m[r * k + col]!) > Math.abs(m[piv * k + col]!)) piv = r;
    if (piv !== col) {
      for (let c = 0; c < k; c++) [m[col * k + c], m[piv * k + c]] = [m[piv * k + c]!, m[col * k + c]!];
      [x[col], x[piv]] = [x[piv]!, x[col]!];
    }
    const d = m[col * k + col]!;
    for (let r = col + 1; r < k; r++) {
      const f = m[r * k + col]! / d;
      if (f === 0) continue;
      for (let c = col; c < k; c++) m[r * k + c]! -= f * m[col * k + c]!;
      x[r]! -= f * x[col]!;
    }
  }
  for (let r = k - 1; r >= 0; r--) {
    let s = x[r]!;
    for (let c = r + 1; c < k; c++) s -= m[r * k + c]! * x[c]!;
    x[r] = s / m[r * k + r]!;
  }
  return x;
}

/**
 * The bias shift that best matches softmax(logits + shift) to the teacher's probabilities (both [n, k], row-major).
 * Pure and deterministic; l2 keeps the shift small where the crops say little.
 */
export function fitLogitBias(logits: Float32Array, teacher: Float32Array, n: number, k: number, opts: { l2?: number; maxIterations?: number } = {}): BiasFit {
  if (n <= 0 || k <= 1) throw new Error(`head calibration: needs at least one image and two classes, got ${n} and ${k}`);
  if (logits.length !== n * k || teacher.length !== n * k) throw new Error(`head calibration: expected ${n}x${k} logits and probabilities, got ${logits.length} and ${teacher.length} values`);
  for (let j = 0; j < n * k; j++) {
    if (!Number.isFinite(logits[j]!) || !Number.isFinite(teacher[j]!)) throw new Error(`head calibration: a non-finite logit or probability at row ${Math.floor(j / k)}`);
  }
  const l2 = opts.l2 ?? 1e-3;
  if (!(l2 >= 0 && Number.isFinite(l2))) throw new Error(`head calibration: l2 must be a finite number >= 0, got ${l2}`);
  // The loss is flat along b + t*(1, ..., 1); a tiny ridge in the solve keeps Newton's system regular when l2 is 0.
  const ridge = Math.max(l2, 1e-9);
  const maxIterations = opts.maxIterations ?? 50;
  const total = (b: Float64Array, o: { loss: number }) => o.loss + 0.5 * l2 * b.reduce((s, v) => s + v * v, 0);
  let b = new Float64Array(k);
  let cur = objective(logits, teacher, n, k, b, true);
  const lossBefore = cur.loss;
  let iterations = 0;
  for (; iterations < maxIterations; iterations++) {
    const g = cur.grad.map((v, c) => v + l2 * b[c]!);
    if (Math.max(...g.map(Math.abs)) < 1e-9) break;
    const h = cur.hess!.map((v, j) => v + (j % (k + 1) === 0 ? ridge : 0));
    const step = solve(h, g, k);
    // Backtracking on the full objective: Newton's step is exact near the optimum, damped far from it.
    let t = 1;
    const f0 = total(b, cur);
    let next = b;
    let nextObj = cur;
    for (let tries = 0; tries < 30; tries++, t /= 2) {
      next = b.map((v, c) => v - t * step[c]!);
      nextObj = objective(logits, teacher, n, k, next, true);
      if (total(next, nextObj) <= f0) break;
    }
    if (total(next, nextObj) > f0) break;
    b = next;
    cur = nextObj;
  }
  const mean = b.reduce((s, v) => s + v, 0) / k;
  const shift = b.map((v) => v - mean);
  return { shift, lossBefore, lossAfter: objective(logits, teacher, n, k, shift, false).loss, iterations };
}

/** The classifier's output layer: the last Linear with one output per class and a bias. */
export function headLinear(model: Classifier): Linear {
  const heads = model.namedModules().map(([, m]) => m).filter((m): m is Linear => m instanceof Linear && m.outFeatures === model.spec.numClasses);
  const head = heads[heads.length - 1];
  if (!head || !head.bias) throw new Error(`head calibration: ${model.spec.arch} has no final linear layer with a bias of ${model.spec.numClasses} outputs`);
  return head;
}

/**
 * `head(logits)` of the model on every image of the set, [n, columns] (eval mode, no gradients), a batch at a time;
 * columns defaults to the number of classes.
 */
export async function modelOutputs(model: Classifier, backend: Backend, set: CleanSet, head: (logits: Tensor) => Tensor = (z) => z, batchSize = 256, columns = model.spec.numClasses): Promise<Float32Array> {
  model.eval();
  const per = set.c * set.h * set.w;
  const out = new Float32Array(set.n * columns);
  for (let start = 0; start < set.n; start += batchSize) {
    const count = Math.min(batchSize, set.n - start);
    const y = tidy(() => noGrad(() => head(model.forward(ops.tensor(backend, set.images.subarray(start * per, (start + count) * per), [count, set.c, set.h, set.w])))));
    const v = await y.data();
    y.dispose();
    if (v.length !== count * columns) throw new Error(`modelOutputs: expected ${count}x${columns} values from the head, got ${v.length}`);
    out.set(v, start * columns);
  }
  return out;
}

/** The model's logits on every image of the set, [n, classes] (eval mode). */
export function modelLogits(model: Classifier, backend: Backend, set: CleanSet): Promise<Float32Array> {
  return modelOutputs(model, backend, set);
}

/** Fits the shift on the set (teacher = the original model's probabilities on it) and adds it to the head's bias in place. */
export async function calibrateHead(model: Classifier, backend: Backend, set: CleanSet, teacher: Float32Array, opts: { l2?: number } = {}): Promise<BiasFit> {
  const head = headLinear(model);
  const fit = fitLogitBias(await modelLogits(model, backend, set), teacher, set.n, model.spec.numClasses, opts);
  await shiftHeadBias(head, fit.shift);
  return fit;
}

/** Adds `shift` (one value per class) to the head's bias in place. */
export async function shiftHeadBias(head: Linear, shift: ArrayLike<number>): Promise<void> {
  const bias = head.bias as Tensor;
  const old = await bias.data();
  tensorSlot(bias).write({ shape: bias.shape, data: Float32Array.from(old, (v, c) => v + shift[c]!) });
}

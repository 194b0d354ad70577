/**
 * Finite-difference gradient checking on the float64 CPU backend.
 *
 * For f(inputs) -> out and fixed random weights W (shaped like out), the scalar
 * L = sum(out * W) has gradient dL/dx_i = (d out / d x_i)^T W: autograd gives it through
 * backward(out, W), and central differences (L(x + eps e_j) - L(x - eps e_j)) / 2eps give it
 * numerically, element by element. The two must agree to a relative tolerance of about 1e-6
 * (relative to max(1, |analytic|, |numeric|)), so any real error in a backward shows up at once.
 *
 * The check also makes sure nothing leaks: the backend's live bytes return to their starting value.
 */
import type { CpuBackend } from '../../src/backends/cpu/index.js';
import type { DType } from '../../src/tensor/backend.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { sizeOf } from '../../src/tensor/shape.js';
import { beginScope, endScope } from '../../src/tensor/scope.js';
import { backward, noGrad } from '../../src/autograd/engine.js';
import { tensor } from '../../src/ops/create.js';
import { cpu64, randomArray } from './backends.js';

/** One argument of the function under test. */
export interface GradInput {
  data: ArrayLike<number>;
  shape: readonly number[];
  /** Whether to differentiate with respect to it: default true for float inputs, false for int32. */
  requiresGrad?: boolean;
  dtype?: DType;
  /** Shown in failure messages. */
  name?: string;
}

export interface GradcheckOptions {
  /** Central-difference step (default 1e-6). */
  eps?: number;
  /** Relative tolerance (default 1e-6). */
  rtol?: number;
  /** Absolute tolerance (default 1e-6, i.e. gradients below 1 are compared absolutely). */
  atol?: number;
  /** Seed of the random output weights W (default 12345). */
  seed?: number;
  /** A float64 CPU backend (default cpu64 from helpers/backends). */
  backend?: CpuBackend;
  /** Require the backend's live bytes to return to their starting value (default true). */
  checkLeaks?: boolean;
}

export interface GradcheckResult {
  op: string;
  /** Largest |analytic - numeric| / (atol + rtol * max(|analytic|, |numeric|)) seen; <= 1 passes. */
  worst: number;
  /** Number of gradient elements compared. */
  checked: number;
  /** The analytic gradients, one per input (null for inputs not differentiated). */
  grads: Array<Float64Array | null>;
}

/** A differentiable float input of `shape` with deterministic values in [lo, hi). */
export function input(shape: readonly number[], seed: number, lo = -1, hi = 1, name?: string): GradInput {
  return { data: Float64Array.from(randomArray(sizeOf(shape), seed, lo, hi)), shape, name };
}

/**
 * Values in [lo, hi) that are pairwise at least (hi - lo) / (2n) apart, in a seeded random order:
 * for max/min reductions and max pooling, where ties or near-ties would sit on a kink.
 */
export function distinct(shape: readonly number[], seed: number, lo = -1, hi = 1, name?: string): GradInput {
  const n = sizeOf(shape);
  const keys = randomArray(n, seed);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => keys[a]! - keys[b]! || a - b);
  const data = new Float64Array(n);
  const stepSize = (hi - lo) / n;
  order.forEach((slot, rank) => (data[slot] = lo + (rank + 0.25) * stepSize));
  return { data, shape, name };
}

/** Random values in [lo, hi) moved at least `margin` away from each of `points` (kinks of abs, relu, clamp...). */
export function awayFrom(shape: readonly number[], seed: number, points: readonly number[], margin = 0.05, lo = -1, hi = 1, name?: string): GradInput {
  const data = Float64Array.from(randomArray(sizeOf(shape), seed, lo, hi));
  for (let i = 0; i < data.length; i++) {
    for (const p of points) {
      const d = data[i]! - p;
      if (Math.abs(d) < margin) data[i] = p + (d < 0 ? -margin : margin);
    }
  }
  return { data, shape, name };
}

/** An input that is not differentiated (labels, indices, masks, fixed statistics). */
export function constant(data: ArrayLike<number>, shape: readonly number[], dtype: DType = 'float32', name?: string): GradInput {
  return { data, shape, dtype, requiresGrad: false, name };
}

function unravel(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length).fill(0);
  for (let k = shape.length - 1; k >= 0; k--) {
    const d = shape[k]!;
    idx[k] = flat % d;
    flat = Math.floor(flat / d);
  }
  return idx;
}

function differentiated(inp: GradInput): boolean {
  const dtype = inp.dtype ?? 'float32';
  return inp.requiresGrad ?? dtype === 'float32';
}

function makeLeaves(be: CpuBackend, inputs: readonly GradInput[], values: readonly ArrayLike<number>[], withGrad: boolean): Tensor[] {
  return inputs.map((inp, i) => {
    const t = tensor(be, values[i]!, inp.shape, { dtype: inp.dtype ?? 'float32', name: inp.name });
    if (withGrad && differentiated(inp)) t.requiresGrad = true;
    return t;
  });
}

/** sum(out * w) accumulated in float64 (compensated, so the differences stay accurate). */
function weightedSum(out: ArrayLike<number>, w: ArrayLike<number>): number {
  let s = 0;
  let c = 0;
  for (let i = 0; i < out.length; i++) {
    const y = out[i]! * w[i]! - c;
    const t = s + y;
    c = t - s - y;
    s = t;
  }
  return s;
}

/**
 * Checks autograd against central differences for every input that requires grad. Throws an Error
 * naming the op, the input (index and name), the worst element (flat and multi-index) and both
 * values when they disagree; returns the worst error otherwise.
 */
export async function gradcheck(op: string, fn: (...xs: Tensor[]) => Tensor, inputs: readonly GradInput[], opts: GradcheckOptions = {}): Promise<GradcheckResult> {
  const be = opts.backend ?? cpu64;
  if (be.precision !== 'float64') throw new Error(`gradcheck '${op}': needs a float64 CPU backend`);
  const eps = opts.eps ?? 1e-6;
  const rtol = opts.rtol ?? 1e-6;
  const atol = opts.atol ?? 1e-6;
  const startBytes = be.liveBytes();
  inputs.forEach((inp, i) => {
    if (inp.data.length !== sizeOf(inp.shape)) throw new Error(`gradcheck '${op}': input #${i} has ${inp.data.length} values for shape [${inp.shape.join(', ')}]`);
  });
  if (!inputs.some(differentiated)) throw new Error(`gradcheck '${op}': no input requires grad`);
  const baseValues = inputs.map((inp) => Float64Array.from(inp.data));

  // --- analytic gradients -----------------------------------------------------
  let weights: Float64Array;
  let outShape: readonly number[];
  const analytic: Array<Float64Array | null> = [];
  const scope = beginScope();
  let leaves: Tensor[] = [];
  try {
    leaves = makeLeaves(be, inputs, baseValues, true);
    const out = fn(...leaves);
    if (out.dtype !== 'float32') throw new Error(`gradcheck '${op}': the output must be a float tensor, got ${out.dtype}`);
    if (!out.requiresGrad || !out.node) throw new Error(`gradcheck '${op}': the output records no autograd node`);
    outShape = out.shape;
    weights = Float64Array.from(randomArray(out.size, opts.seed ?? 12345, -1, 1));
    const w = tensor(be, weights, out.shape);
    backward(out, w);
    for (let i = 0; i < inputs.length; i++) {
      const leaf = leaves[i]!;
      if (!differentiated(inputs[i]!)) {
        if (leaf.grad) throw new Error(`gradcheck '${op}': input #${i} does not require grad but received one`);
        analytic.push(null);
        continue;
      }
      const g = leaf.grad;
      if (g && (g.shape.length !== leaf.shape.length || g.shape.some((d, k) => d !== leaf.shape[k]))) {
        throw new Error(`gradcheck '${op}': input #${i} has shape [${leaf.shape.join(', ')}] but its gradient [${g.shape.join(', ')}]`);
      }
      // No gradient at all counts as zeros (nothing flowed); the numeric check decides if that is right.
      analytic.push(g ? Float64Array.from(await g.data()) : new Float64Array(leaf.size));
    }
  } finally {
    for (const leaf of leaves) leaf.dispose();
    endScope(scope);
  }

  // --- numeric gradients --------------------------------------------------------
  const evaluate = async (values: readonly ArrayLike<number>[]): Promise<number> => {
    const s = beginScope();
    try {
      const out = noGrad(() => fn(...makeLeaves(be, inputs, values, false)));
      if (out.shape.length !== outShape.length || out.shape.some((d, k) => d !== outShape[k])) {
        throw new Error(`gradcheck '${op}': output shape changed between calls`);
      }
      return weightedSum(await out.data(), weights);
    } finally {
      endScope(s);
    }
  };

  let worst = 0;
  let checked = 0;
  for (let i = 0; i < inputs.length; i++) {
    const a = analytic[i];
    if (!a) continue;
    const values = baseValues.map((v) => v.slice());
    const x = values[i]!;
    let worstHere = 0;
    let worstAt = -1;
    let worstNumeric = 0;
    for (let j = 0; j < x.length; j++) {
      const orig = x[j]!;
      x[j] = orig + eps;
      const plus = await evaluate(values);
      x[j] = orig - eps;
      const minus = await evaluate(values);
      x[j] = orig;
      const numeric = (plus - minus) / (2 * eps);
      const an = a[j]!;
      const err = Math.abs(an - numeric) / (atol + rtol * Math.max(Math.abs(an), Math.abs(numeric)));
      checked++;
      if (!(err <= worstHere)) {
        worstHere = Number.isNaN(err) ? Infinity : err;
        worstAt = j;
        worstNumeric = numeric;
      }
    }
    if (worstHere > 1) {
      const name = inputs[i]!.name ? ` '${inputs[i]!.name}'` : '';
      const shape = inputs[i]!.shape;
      throw new Error(
        `gradcheck '${op}': input #${i}${name} [${shape.join(', ')}] element ${worstAt} [${unravel(worstAt, shape).join(', ')}] ` +
        `(x = ${baseValues[i]![worstAt]}): autograd ${a[worstAt]} vs numeric ${worstNumeric} ` +
        `(error ${worstHere.toPrecision(3)}x the tolerance rtol ${rtol}, atol ${atol})`,
      );
    }
    worst = Math.max(worst, worstHere);
  }

  if ((opts.checkLeaks ?? true) && be.liveBytes() !== startBytes) {
    throw new Error(`gradcheck '${op}': ${be.liveBytes() - startBytes} bytes still live after the check (a leak in the op or its backward)`);
  }
  return { op, worst, checked, grads: analytic };
}

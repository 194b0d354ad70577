/**
 * Reverse-mode autograd over one topological order (iterative, so deep ResNets cannot overflow the
 * stack), with gradients accumulated per tensor. Gradients are computed with grad recording off;
 * each node's backward runs in its own scope so its temporaries are freed at once.
 */
import { Tensor, type GradNode } from '../tensor/tensor.js';
import { beginScope, endScope, keep } from '../tensor/scope.js';
import { sameShape, contiguousStrides } from '../tensor/shape.js';

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording autograd nodes (inference, optimiser updates, trigger rescaling). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Async variant: grad recording stays off until the promise settles (do not interleave with grad work). */
export async function noGradAsync<T>(fn: () => Promise<T>): Promise<T> {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return await fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Marks a leaf as requiring gradients (parameters, AWM masks, the input trigger). */
export function requireGrad(t: Tensor, on = true): Tensor {
  if (t.node) throw new Error('requireGrad applies to leaf tensors; this one was computed by an op');
  if (on && t.dtype !== 'float32') throw new Error('only float tensors can require gradients');
  t.requiresGrad = on;
  return t;
}

/** Attaches a node to `out` when recording is on and an input needs gradients. Used by every op. */
export function record(out: Tensor, op: string, inputs: readonly Tensor[], backward: (g: Tensor) => Array<Tensor | null>): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    const node: GradNode = { op, inputs, backward };
    out.node = node;
  }
  return out;
}

/** A view of `t` with gradient flow cut. */
export function detach(t: Tensor): Tensor {
  return Tensor.view(t, t.shape);
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: Array<[Tensor, number]> = [[root, 0]];
  visited.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const child = inputs[i]!;
      if (child.requiresGrad && !visited.has(child)) {
        visited.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order.reverse();
}

function accumulate(a: Tensor, b: Tensor): Tensor {
  const be = a.backend;
  const view = (t: Tensor) => ({ storage: t.storage, shape: t.shape, strides: contiguousStrides(t.shape), offset: 0 });
  return Tensor.fromStorage(be, be.binary('add', view(a), view(b), a.shape), a.shape);
}

/**
 * Back-propagates from `root`. Without `gradient`, root must hold one element (a loss) and its
 * gradient is 1. Leaves that require grad receive (or add to) `.grad`, which outlives scopes.
 */
export function backward(root: Tensor, gradient?: Tensor): void {
  if (!root.requiresGrad) throw new Error('backward(): the tensor does not require gradients (no parameter, mask or input with requiresGrad fed into it)');
  let seed: Tensor;
  if (gradient) {
    if (!sameShape(gradient.shape, root.shape)) throw new Error(`backward(): gradient shape [${gradient.shape.join(', ')}] differs from the tensor's [${root.shape.join(', ')}]`);
    seed = gradient;
  } else {
    if (root.size !== 1) throw new Error(`backward() without a gradient needs a one-element tensor, got shape [${root.shape.join(', ')}]`);
    seed = Tensor.fromStorage(root.backend, root.backend.fill(1, 1, 'float32'), root.shape);
  }
  const order = topoOrder(root);
  const grads = new Map<Tensor, Tensor>([[root, seed]]);
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    for (const t of order) {
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      if (!t.node) {
        // A leaf: hand the gradient over to .grad, outside every scope.
        if (t.grad) {
          const sum = keep(accumulate(t.grad, g));
          t.grad.dispose();
          t.grad = sum;
          if (g !== gradient) g.dispose();
        } else {
          t.grad = keep(g === gradient ? detach(g) : g);
        }
        continue;
      }
      const scope = beginScope();
      let inputGrads: Array<Tensor | null>;
      try {
        inputGrads = t.node.backward(g);
      } catch (e) {
        endScope(scope);
        throw e;
      }
      // Each input gets its own tensor: a backward may hand back its incoming gradient or one tensor twice.
      const seen = new Set<Tensor>([g]);
      inputGrads = inputGrads.map((x) => {
        if (!x) return null;
        if (seen.has(x)) return Tensor.view(x, x.shape);
        seen.add(x);
        return x;
      });
      const live = inputGrads.filter((x): x is Tensor => x !== null);
      endScope(scope, live);
      t.node.inputs.forEach((input, i) => {
        const gi = inputGrads[i];
        if (!gi) return;
        if (!input.requiresGrad) {
          gi.dispose();
          return;
        }
        if (!sameShape(gi.shape, input.shape)) {
          throw new Error(`internal: ${t.node!.op} backward gave a gradient of shape [${gi.shape.join(', ')}] for an input of shape [${input.shape.join(', ')}]`);
        }
        const existing = grads.get(input);
        if (existing) {
          grads.set(input, accumulate(existing, gi));
          existing.dispose();
          gi.dispose();
        } else grads.set(input, gi);
      });
      if (g !== gradient) g.dispose();
    }
  } finally {
    gradEnabled = prev;
    for (const g of grads.values()) if (g !== gradient) g.dispose();
  }
}

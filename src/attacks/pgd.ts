/**
 * Projected gradient descent (Madry et al.) in pixel space, L-infinity ball: each step moves by
 * stepSize * sign(d CE(f(x'), y) / dx') (ascending the loss of the true label), then projects onto
 * |x' - x| <= eps and [0, 1]. It starts at x itself (no random start), so it is deterministic.
 * The classifier is any differentiable function from images to logits; parameters of it that require
 * gradients will collect .grad from these backward passes, so pass a frozen model.
 */
import type { Backend } from '../tensor/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import { beginScope, endScope, tidy } from '../tensor/scope.js';
import { backward, detach, isGradEnabled, noGrad, requireGrad } from '../autograd/engine.js';
import { add, clamp, crossEntropy, maximum, minimum, mul, sign, tensor } from '../ops/index.js';
import { imageCount } from './image.js';
import type { ImageShape, PgdSpec } from './types.js';

export type Classifier = (x: Tensor) => Tensor;

/** Adversarial images for x [N, C, H, W] with int32 labels [N]; a new tensor. */
export function pgdAttack(classifier: Classifier, x: Tensor, labels: Tensor, opts: PgdSpec): Tensor {
  if (!isGradEnabled()) throw new Error('pgdAttack: needs gradients; do not call it inside noGrad');
  return tidy(() => {
    const lo = noGrad(() => clamp(add(x, -opts.eps), 0, 1));
    const hi = noGrad(() => clamp(add(x, opts.eps), 0, 1));
    let adv = noGrad(() => add(x, 0));
    for (let step = 0; step < opts.steps; step++) {
      const next = tidy(() => {
        const leaf = requireGrad(detach(adv));
        backward(crossEntropy(classifier(leaf), labels, 'sum'));
        const grad = leaf.grad!;
        return noGrad(() => minimum(maximum(add(adv, mul(sign(grad), opts.stepSize)), lo), hi));
      });
      adv.dispose();
      adv = next;
    }
    return adv;
  });
}

/** PGD over host images in batches (what clean-label poisoning needs); returns new float images. */
export async function pgdImages(
  backend: Backend,
  classifier: Classifier,
  images: Float32Array,
  labels: Int32Array,
  shape: ImageShape,
  opts: PgdSpec & { batchSize?: number },
): Promise<Float32Array> {
  const n = imageCount(images, shape, 'pgdImages');
  if (labels.length !== n) throw new Error(`pgdImages: ${labels.length} labels for ${n} images`);
  const batchSize = opts.batchSize ?? 128;
  const size = shape.c * shape.h * shape.w;
  const out = new Float32Array(images.length);
  for (let start = 0; start < n; start += batchSize) {
    const count = Math.min(batchSize, n - start);
    const scope = beginScope();
    try {
      const x = tensor(backend, images.subarray(start * size, (start + count) * size), [count, shape.c, shape.h, shape.w]);
      const y = tensor(backend, labels.subarray(start, start + count), [count], { dtype: 'int32' });
      const adv = pgdAttack(classifier, x, y, opts);
      out.set(await adv.data(), start * size);
    } finally {
      endScope(scope);
    }
  }
  return out;
}

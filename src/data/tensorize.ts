/** Moving uint8 image batches onto a backend as float pixels in [0, 1], and labels as int32. */
import type { Backend } from '../tensor/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import { tensor } from '../ops/create.js';

export function imagesToTensor(backend: Backend, images: Uint8Array, shape: readonly [number, number, number, number]): Tensor {
  const f = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) f[i] = images[i]! / 255;
  return tensor(backend, f, shape);
}

export function labelsToTensor(backend: Backend, labels: Int32Array): Tensor {
  return tensor(backend, labels, [labels.length], { dtype: 'int32' });
}

/** Counter-based random streams; the bit-exact specification lives in counter-rng.ts. */
import type { FloatArray } from '../../tensor/backend.js';
import { normalAt, streamKey, uniformAt } from '../../tensor/counter-rng.js';

export function randomKernel(kind: 'uniform' | 'normal', seed: number, counter: number, out: FloatArray): void {
  const key = streamKey(seed >>> 0);
  const at = kind === 'uniform' ? uniformAt : normalAt;
  for (let i = 0; i < out.length; i++) out[i] = at(key, (counter + i) >>> 0);
}

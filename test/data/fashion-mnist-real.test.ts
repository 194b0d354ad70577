import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { classCounts, validateDataset } from '../../src/data/index.js';
import { loadDataset } from '../../src/data/node.js';

const DIR = '/usr/share/datasets/fashion-mnist';
const available = existsSync(DIR);
if (!available) console.log(`Skipping the Fashion-MNIST real-data test: ${DIR} does not exist (apt package dataset-fashion-mnist).`);

describe.skipIf(!available)('Fashion-MNIST from the system dataset', () => {
  it('loads 60000 training and 10000 test images with balanced labels 0..9', async () => {
    const train = await loadDataset('fashion-mnist', DIR, 'train');
    const test = await loadDataset('fashion-mnist', DIR, 'test');
    for (const [ds, n] of [[train, 60000], [test, 10000]] as const) {
      expect(ds).toMatchObject({ n, c: 1, h: 28, w: 28, numClasses: 10 });
      validateDataset(ds, DIR);
      expect(Array.from(classCounts(ds))).toEqual(new Array(10).fill(n / 10));
      expect(ds.classNames?.[9]).toBe('Ankle boot');
    }
    // The images are not blank: average intensity of Fashion-MNIST is about 73/255.
    let sum = 0;
    for (let i = 0; i < test.images.length; i++) sum += test.images[i];
    expect(sum / test.images.length).toBeGreaterThan(50);
    expect(sum / test.images.length).toBeLessThan(100);
  });
});

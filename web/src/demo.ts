/** The built-in demo: a BadNets small-cnn and a few Fashion-MNIST images, fetched from the page's own folder. */
import type { ImageDataset } from '../../src/data/dataset.js';
import { parseSafetensors } from '../../src/io/safetensors.js';
import { DEMO_FILES, DEMO_IMAGE_KEYS, DEMO_MODEL_SPEC } from './demo-spec.js';

export interface DemoAssets {
  modelBytes: Uint8Array;
  clean: ImageDataset;
  evaluation: ImageDataset;
  classNames: string[];
}

async function fetchBytes(path: string): Promise<Uint8Array> {
  const res = await fetch(path);
  if (!res.ok) throw new Error(`could not load the demo file ${path} (HTTP ${res.status}); serve the page with npm run web`);
  return new Uint8Array(await res.arrayBuffer());
}

export async function loadDemo(): Promise<DemoAssets> {
  const [modelBytes, imageBytes] = await Promise.all([fetchBytes(DEMO_FILES.model), fetchBytes(DEMO_FILES.images)]);
  const file = parseSafetensors(imageBytes, DEMO_FILES.images);
  const classNames = JSON.parse(file.metadata.class_names ?? '[]') as string[];
  const pick = (imagesKey: string, labelsKey: string): ImageDataset => {
    const images = file.tensors.get(imagesKey);
    const labels = file.tensors.get(labelsKey);
    if (!images || !labels) throw new Error(`${DEMO_FILES.images} lacks ${imagesKey} or ${labelsKey}; rebuild it with node web/make-demo-assets.mjs`);
    const [n, c, h, w] = images.shape as [number, number, number, number];
    return { images: images.data as Uint8Array, labels: labels.data as Int32Array, n, c, h, w, numClasses: DEMO_MODEL_SPEC.numClasses, classNames };
  };
  return {
    modelBytes,
    clean: pick(DEMO_IMAGE_KEYS.cleanImages, DEMO_IMAGE_KEYS.cleanLabels),
    evaluation: pick(DEMO_IMAGE_KEYS.evalImages, DEMO_IMAGE_KEYS.evalLabels),
    classNames,
  };
}

/** Reading and writing model files from Node; writes are atomic so a crash never leaves half a file. */
import { readFile } from 'node:fs/promises';
import type { Backend } from '../tensor/backend.js';
import { writeFileAtomic } from '../io/atomic-write.node.js';
import type { Classifier } from './classifier.js';
import { loadModelFile, saveModel, type LoadModelOptions, type LoadedModel } from './model-file.js';

export async function readModel(backend: Backend, path: string, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  const bytes = await readFile(path);
  return loadModelFile(backend, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { source: path, ...opts });
}

export async function writeModel(path: string, model: Classifier, metadata: Record<string, string> = {}): Promise<void> {
  await writeFileAtomic(path, await saveModel(model, metadata));
}

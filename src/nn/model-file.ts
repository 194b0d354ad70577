/**
 * Models in safetensors files, both ways: a file this project writes loads in PyTorch with
 * load_state_dict(strict=True) (same keys, float32 tensors, int64 num_batches_tracked), and a
 * PyTorch state dict saved with safetensors loads here, its architecture inferred from the keys.
 * What PyTorch's state dict cannot hold (architecture, input normalisation) goes in the metadata.
 */
import type { Backend } from '../tensor/backend.js';
import { parseSafetensors, serializeSafetensors, type SafetensorsInput } from '../io/safetensors.js';
import type { Classifier } from './classifier.js';
import type { NormalizeSpec } from './layers.js';
import { ParseError } from '../io/parse-error.js';
import { createModel } from './models.js';
import { ArchitectureError, inferModelSpec } from './infer.js';
import { isArch, type Arch, type ModelSpec } from './spec.js';
import type { HostTensor } from './state-dict.js';

export interface LoadModelOptions {
  /** Forces the architecture; otherwise the metadata's, else inferred from the keys. */
  arch?: Arch;
  /** Input normalisation; overrides the metadata's (null: none). */
  normalize?: NormalizeSpec | null;
  /** Default true: every key must match. */
  strict?: boolean;
  /** Named in error messages (usually the file name). */
  source?: string;
}

export interface LoadedModel {
  model: Classifier;
  spec: ModelSpec;
  metadata: Record<string, string>;
}

/** DataParallel checkpoints prefix every key with `module.`; it names no module of ours. */
const PARALLEL_PREFIX = 'module.';

export function loadModelFile(backend: Backend, bytes: Uint8Array, opts: LoadModelOptions = {}): LoadedModel {
  // Node's Buffer is a Uint8Array whose slice() shares memory; the parser expects slice() to copy.
  const plain = Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const file = parseSafetensors(plain, opts.source);
  let state: Map<string, HostTensor> = file.tensors;
  if (state.size > 0 && [...state.keys()].every((k) => k.startsWith(PARALLEL_PREFIX))) {
    state = new Map([...state].map(([k, v]) => [k.slice(PARALLEL_PREFIX.length), v]));
  }
  const strict = opts.strict ?? true;
  const named = (e: unknown): unknown => {
    if (e instanceof Error && opts.source && !e.message.includes(opts.source)) e.message = `${opts.source}: ${e.message}`;
    return e;
  };
  let spec: ModelSpec;
  try {
    const stored = specFromMetadata(file.metadata);
    const arch = opts.arch ?? stored.arch;
    const inferred = inferModelSpec(new Map([...state].map(([k, v]) => [k, v.shape])), arch);
    const normalize = opts.normalize === undefined ? stored.normalize : opts.normalize ?? undefined;
    if (normalize && normalize === stored.normalize && normalize.mean.length !== 1 && normalize.mean.length !== inferred.inChannels) {
      throw new ParseError(`metadata "normalize_mean" has ${normalize.mean.length} values, but the model takes ${inferred.inChannels} input channel(s) (1 value or one per channel)`);
    }
    spec = { ...inferred, ...(normalize ? { normalize } : {}) };
    if (strict) checkFileCanFill(backend, spec, state);
  } catch (e) {
    throw named(e);
  }
  let model: Classifier;
  try {
    model = createModel(backend, spec, { skipInit: true });
  } catch (e) {
    throw named(e);
  }
  try {
    model.loadStateDict(state, { strict });
  } catch (e) {
    model.dispose();
    throw named(e);
  }
  return { model, spec: model.spec, metadata: file.metadata };
}

/**
 * The width comes from the file's first tensors alone (conv1, the head), so a few small tensors can
 * name a model far too big to allocate. A strict load fills every value of the model from the file,
 * so a model holding more values than the file is refused before it is built.
 */
function checkFileCanFill(backend: Backend, spec: ModelSpec, state: ReadonlyMap<string, HostTensor>): void {
  let inFile = 0;
  for (const t of state.values()) inFile += t.data.length;
  const needed = modelValues(backend, spec);
  if (needed > inFile) {
    throw new ArchitectureError(
      `a ${spec.arch} of width ${spec.width} holds ${needed} values but the file has ${inFile}, so its tensors cannot match the model that conv1 and the head imply`,
    );
  }
}

/**
 * How many values the model of `spec` holds, without building it: every architecture's state is
 * quadratic in its width (convolutions w_in x w_out, BatchNorm and the head linear in w), so models of
 * widths 1, 2 and 3, which are tiny, fix the polynomial.
 */
function modelValues(backend: Backend, spec: ModelSpec): number {
  const at = (width: number): number => {
    const m = createModel(backend, { ...spec, width }, { skipInit: true });
    try {
      let total = 0;
      // Optional keys (BatchNorm's counters) may be absent from the file.
      for (const slot of m.stateSlots().values()) if (!slot.optional) total += slot.shape.reduce((a, b) => a * b, 1);
      return total;
    } finally {
      m.dispose();
    }
  };
  const [p1, p2, p3] = [at(1), at(2), at(3)];
  const w = spec.width;
  // Lagrange interpolation through (1, p1), (2, p2), (3, p3).
  return (p1 * (w - 2) * (w - 3)) / 2 - p2 * (w - 1) * (w - 3) + (p3 * (w - 1) * (w - 2)) / 2;
}

/** The model as safetensors bytes; `metadata` is added to the spec's own entries. */
export async function saveModel(model: Classifier, metadata: Record<string, string> = {}): Promise<Uint8Array> {
  const tensors: Record<string, SafetensorsInput> = {};
  for (const [key, t] of await model.stateDict()) {
    tensors[key] = t.dtype === 'I64'
      ? { shape: t.shape, data: Int32Array.from(t.data), dtype: 'I64' }
      : { shape: t.shape, data: t.data instanceof Float32Array ? t.data : Float32Array.from(t.data) };
  }
  return serializeSafetensors(tensors, { ...metadata, ...specToMetadata(model.spec) });
}

export function specToMetadata(spec: ModelSpec): Record<string, string> {
  const out: Record<string, string> = {
    // Read by Hugging Face tooling to pick the PyTorch loader.
    format: 'pt',
    arch: spec.arch,
    in_channels: String(spec.inChannels),
    num_classes: String(spec.numClasses),
    width: String(spec.width),
  };
  if (spec.inputSize !== undefined) out.input_size = String(spec.inputSize);
  if (spec.normalize) {
    out.normalize_mean = JSON.stringify(spec.normalize.mean);
    out.normalize_std = JSON.stringify(spec.normalize.std);
  }
  return out;
}

/** What the metadata says about the model; sizes are re-derived from the tensors, so only these two matter. */
export function specFromMetadata(metadata: Record<string, string>): { arch?: Arch; normalize?: NormalizeSpec } {
  const out: { arch?: Arch; normalize?: NormalizeSpec } = {};
  const arch = metadata.arch;
  if (arch !== undefined && isArch(arch)) out.arch = arch;
  if (metadata.normalize_mean !== undefined && metadata.normalize_std !== undefined) {
    const mean = numberList(metadata.normalize_mean, 'normalize_mean');
    const std = numberList(metadata.normalize_std, 'normalize_std');
    if (mean.length === 0 || std.length !== mean.length) {
      throw new ParseError(`metadata "normalize_mean" and "normalize_std" must list the same non-zero number of values, got ${mean.length} and ${std.length}`);
    }
    if (std.some((v) => !(v > 0))) throw new ParseError(`metadata "normalize_std" must hold positive numbers, got ${metadata.normalize_std}`);
    out.normalize = { mean, std };
  }
  return out;
}

function numberList(text: string, key: string): number[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = null;
  }
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new ParseError(`metadata "${key}" must be a JSON array of numbers, got ${JSON.stringify(text)}`);
  }
  return value as number[];
}

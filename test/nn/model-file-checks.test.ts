/**
 * Loading refuses model files it cannot trust: integer dtypes where floats belong, NaN or Infinity
 * in any weight, and BatchNorm statistics no trained model has. Each refusal names the file, the
 * tensor and the rule, and leaves the target model as it was.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSafetensors, serializeSafetensors, type SafetensorsInput } from '../../src/io/safetensors.js';
import { ArchitectureError, createModel, loadModelFile, saveModel, type Classifier, type HostTensor } from '../../src/nn/index.js';
import { readModel } from '../../src/nn/model-file.node.js';
import { StateValueError } from '../../src/nn/state-dict.js';
import { cpu32 } from '../helpers/backends.js';

const be = cpu32;
const spec = { arch: 'small-cnn', width: 2, inputSize: 8 } as const;
const dir = mkdtempSync(join(tmpdir(), 'model-checks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface RawTensor {
  dtype: string;
  shape: readonly number[];
  bytes: Uint8Array;
}

/** A safetensors file with any dtype string, written by hand so nothing checks what the dtype says. */
function rawFile(tensors: Map<string, RawTensor>, metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of tensors.values()) {
    out.set(t.bytes, at);
    at += t.bytes.length;
  }
  return out;
}

/** The tensors of a freshly saved small-cnn as raw bytes, so a test can change one of them. */
async function savedTensors(): Promise<{ tensors: Map<string, RawTensor>; metadata: Record<string, string> }> {
  const m = createModel(be, spec, { seed: 3 });
  try {
    const bytes = await saveModel(m);
    const file = parseSafetensors(bytes);
    const tensors = new Map<string, RawTensor>();
    for (const [name, t] of file.tensors) {
      const data = t.dtype === 'I64' ? new BigInt64Array(Array.from(t.data, (v) => BigInt(v))) : t.data;
      tensors.set(name, { dtype: t.dtype, shape: t.shape, bytes: new Uint8Array(data.buffer.slice(0)) });
    }
    return { tensors, metadata: file.metadata };
  } finally {
    m.dispose();
  }
}

function f32Bytes(values: ArrayLike<number>): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** Writes the file and loads it through readModel; the error it throws, or null when it loaded. */
async function loadError(name: string, change: (t: Map<string, RawTensor>) => void): Promise<Error | null> {
  const { tensors, metadata } = await savedTensors();
  change(tensors);
  const path = join(dir, name);
  writeFileSync(path, rawFile(tensors, metadata));
  try {
    const { model } = await readModel(be, path);
    model.dispose();
    return null;
  } catch (e) {
    return e as Error;
  }
}

function replaceValue(tensors: Map<string, RawTensor>, key: string, index: number, value: number): void {
  const t = tensors.get(key)!;
  const values = new Float32Array(t.bytes.slice().buffer);
  values[index] = value;
  tensors.set(key, { ...t, bytes: f32Bytes(values) });
}

describe('model files with integer dtypes where floats belong', () => {
  it('a file whose header says I32 over float32 bytes is refused, naming the file, the tensor and the rule', async () => {
    const e = await loadError('i32-over-f32.safetensors', (t) => {
      t.set('conv1.weight', { ...t.get('conv1.weight')!, dtype: 'I32' });
    });
    expect(e).toBeInstanceOf(StateValueError);
    expect(e!.message).toContain(join(dir, 'i32-over-f32.safetensors'));
    expect(e!.message).toContain('"conv1.weight"');
    expect(e!.message).toMatch(/stored as I32, but a float tensor .* must be F32, F16, BF16 or F64/);
  });

  for (const [dtype, size] of [['I8', 1], ['U8', 1], ['BOOL', 1], ['I16', 2], ['U16', 2], ['U32', 4], ['I64', 8]] as const) {
    it(`${dtype} data in a float tensor is refused`, async () => {
      const e = await loadError(`${dtype}.safetensors`, (t) => {
        const bn = t.get('bn1.running_var')!;
        const n = bn.shape.reduce((a, b) => a * b, 1);
        // Every element 1, little-endian.
        const bytes = new Uint8Array(n * size);
        for (let i = 0; i < n; i++) bytes[i * size] = 1;
        t.set('bn1.running_var', { dtype, shape: bn.shape, bytes });
      });
      expect(e).toBeInstanceOf(StateValueError);
      expect(e!.message).toContain(`"bn1.running_var" is stored as ${dtype}`);
    });
  }

  it('an integer counter (num_batches_tracked) and F16 weights still load', async () => {
    const e = await loadError('f16.safetensors', (t) => {
      const w = t.get('fc2.bias')!;
      const n = w.bytes.length / 4;
      // 0x3c00 is 1.0 in binary16.
      const half = new Uint8Array(n * 2);
      for (let i = 0; i < n; i++) half.set([0x00, 0x3c], i * 2);
      t.set('fc2.bias', { dtype: 'F16', shape: w.shape, bytes: half });
    });
    expect(e).toBeNull();
  });
});

describe('model files with values no model has', () => {
  const cases: Array<[string, string, number, number, RegExp]> = [
    ['NaN in a weight', 'conv1.weight', 5, NaN, /"conv1.weight" element 5 is NaN: weights must be finite/],
    ['Infinity in a bias', 'fc1.bias', 0, Infinity, /"fc1.bias" element 0 is Infinity: weights must be finite/],
    ['-Infinity in a BatchNorm weight', 'bn2.weight', 1, -Infinity, /"bn2.weight" element 1 is -Infinity/],
    ['a negative running variance', 'bn1.running_var', 1, -0.5, /"bn1.running_var" element 1 is -0.5: a BatchNorm running variance must be finite and non-negative/],
    ['a NaN running variance', 'bn2.running_var', 0, NaN, /"bn2.running_var" element 0 is NaN: a BatchNorm running variance/],
    ['an infinite running mean', 'bn1.running_mean', 0, -Infinity, /"bn1.running_mean" element 0 is -Infinity: a BatchNorm running mean must be finite/],
  ];
  for (const [what, key, index, value, message] of cases) {
    it(`${what} is refused with the file and the tensor named`, async () => {
      const name = `${key}-${index}.safetensors`;
      const e = await loadError(name, (t) => replaceValue(t, key, index, value));
      expect(e).toBeInstanceOf(StateValueError);
      expect(e!.message).toContain(join(dir, name));
      expect(e!.message).toMatch(message);
    });
  }

  it('a zero running variance and a negative running mean are fine', async () => {
    const e = await loadError('zero-var.safetensors', (t) => {
      replaceValue(t, 'bn1.running_var', 0, 0);
      replaceValue(t, 'bn1.running_mean', 0, -3);
    });
    expect(e).toBeNull();
  });

  it('a refused load leaves the model as it was', async () => {
    const target: Classifier = createModel(be, spec, { seed: 1 });
    try {
      const before = await target.stateDict();
      const source = await target.stateDict();
      const fresh = createModel(be, spec, { seed: 2 });
      for (const [k, v] of await fresh.stateDict()) source.set(k, v);
      fresh.dispose();
      const bad: HostTensor = { ...source.get('bn2.running_var')!, data: Float32Array.of(1, -1, 1, 1) };
      source.set('bn2.running_var', bad);
      expect(() => target.loadStateDict(source)).toThrow(StateValueError);
      const after = await target.stateDict();
      for (const [k, v] of before) expect(Array.from(after.get(k)!.data)).toEqual(Array.from(v.data));
    } finally {
      target.dispose();
    }
  });

  it('without a file name the message still names the tensor and the rule', async () => {
    const { tensors, metadata } = await savedTensors();
    replaceValue(tensors, 'fc2.weight', 2, NaN);
    expect(() => loadModelFile(be, rawFile(tensors, metadata))).toThrow(/SmallCNN.*"fc2.weight" element 2 is NaN: weights must be finite/);
  });
});

describe('model files whose normalisation metadata does not fit', () => {
  const cases: Array<[string, string, string, RegExp]> = [
    ['a mean and a std of different lengths', '[0.5,0.5]', '[0.25]', /"normalize_mean" and "normalize_std" must list the same non-zero number of values, got 2 and 1/],
    ['a zero std', '[0.5]', '[0]', /"normalize_std" must hold positive numbers, got \[0\]/],
    ['two means for a three-channel model', '[0.1,0.2]', '[1,1]', /"normalize_mean" has 2 values, but the model takes 3 input channel/],
  ];
  for (const [what, mean, std, message] of cases) {
    it(`${what} is refused`, async () => {
      const { tensors, metadata } = await savedTensors();
      const bytes = rawFile(tensors, { ...metadata, normalize_mean: mean, normalize_std: std });
      expect(() => loadModelFile(be, bytes)).toThrow(message);
    });
  }
});

describe('model files that name a model bigger than themselves', () => {
  it('a small file whose conv1 and head imply width 65536 is refused before the model is built', async () => {
    const m = createModel(be, { arch: 'resnet18', width: 4, inChannels: 1, numClasses: 1 }, { seed: 1 });
    const tensors: Record<string, SafetensorsInput> = {};
    for (const [k, t] of await m.stateDict()) tensors[k] = { shape: t.shape, data: t.data as Float32Array };
    m.dispose();
    // Inference reads the width from conv1 and checks it against the head's input features only.
    const width = 2 ** 16;
    tensors['conv1.weight'] = { shape: [width, 1, 3, 3], data: new Float32Array(width * 9) };
    tensors['linear.weight'] = { shape: [1, 8 * width], data: new Float32Array(8 * width) };
    delete tensors['bn1.num_batches_tracked'];
    const bytes = serializeSafetensors(tensors, { arch: 'resnet18' });
    let error: unknown;
    try {
      loadModelFile(be, bytes, { source: 'wide.safetensors' }).model.dispose();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ArchitectureError);
    expect((error as Error).message).toMatch(/^wide\.safetensors: a resnet18 of width 65536 holds \d+ values but the file has \d+/);
  });
});

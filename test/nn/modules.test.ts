import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/tensor/tensor.js';
import { tidy } from '../../src/tensor/scope.js';
import { backward, noGrad } from '../../src/autograd/engine.js';
import { Generator, tensor } from '../../src/ops/create.js';
import { crossEntropy } from '../../src/ops/loss.js';
import { mul } from '../../src/ops/elementwise.js';
import { parseSafetensors, serializeSafetensors, type SafetensorsInput } from '../../src/io/safetensors.js';
import {
  ArchitectureError,
  BatchNorm2d,
  StateDictError,
  attachMasks,
  convLayers,
  createModel,
  foldMasks,
  inferModelSpec,
  loadModelFile,
  saveModel,
  type Classifier,
  type HostTensor,
  type ModelSpecInput,
  type StateDict,
} from '../../src/nn/index.js';
import { readModel, writeModel } from '../../src/nn/model-file.node.js';
import { cpu32, gpuBackend, randomArray } from '../helpers/backends.js';

const be = cpu32;
const live: Classifier[] = [];

function model(spec: ModelSpecInput, seed = 1): Classifier {
  const m = createModel(be, spec, { seed });
  live.push(m);
  return m;
}

afterEach(() => {
  for (const m of live.splice(0)) m.dispose();
});

function input(shape: number[], seed = 7): Tensor {
  return tensor(be, randomArray(shape.reduce((a, b) => a * b, 1), seed, 0, 1), shape);
}

async function logitsOf(m: Classifier, shape: number[]): Promise<number[]> {
  return noGrad(() => tidy(() => m.forward(input(shape)))).toArray();
}

function fixtureBytes(name: string): Uint8Array {
  const buf = readFileSync(new URL(`../fixtures/${name}`, import.meta.url));
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

function fixtureParams(name: string): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [k, v] of parseSafetensors(fixtureBytes(name)).tensors) if (k.startsWith('param.')) out.set(k.slice(6), v);
  return out;
}

function toFile(state: ReadonlyMap<string, HostTensor>, prefix = ''): Uint8Array {
  const tensors: Record<string, SafetensorsInput> = {};
  for (const [k, v] of state) tensors[prefix + k] = { shape: v.shape, data: v.data, ...(v.dtype === 'I64' ? { dtype: 'I64' as const } : {}) };
  return serializeSafetensors(tensors);
}

function expectSameState(a: StateDict, b: StateDict): void {
  expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
  for (const [k, v] of a) {
    expect(b.get(k)!.shape, k).toEqual(v.shape);
    expect(Array.from(b.get(k)!.data), k).toEqual(Array.from(v.data));
  }
}

describe('key names', () => {
  it("ResNet-18 has exactly PyTorch's (kuangliu) keys, num_batches_tracked included", () => {
    const m = createModel(be, { arch: 'resnet18', width: 8 }, { skipInit: true });
    live.push(m);
    const shapes = m.stateShapes();
    const golden = fixtureParams('resnet18_w8.safetensors');
    const bnPrefixes = [...golden.keys()].filter((k) => k.endsWith('.running_var')).map((k) => k.slice(0, -'running_var'.length));
    expect(new Set(shapes.keys())).toEqual(new Set([...golden.keys(), ...bnPrefixes.map((p) => `${p}num_batches_tracked`)]));
    for (const [k, v] of golden) expect(shapes.get(k), k).toEqual(v.shape);
    expect(shapes.get('layer2.0.shortcut.0.weight')).toEqual([16, 8, 1, 1]);
    expect(shapes.has('layer1.0.shortcut.0.weight')).toBe(false);
  });

  it("PreAct-ResNet18 has BackdoorBench's keys", () => {
    const m = createModel(be, { arch: 'preact-resnet18', width: 4 }, { skipInit: true });
    live.push(m);
    const keys = [...m.stateShapes().keys()];
    for (const k of ['conv1.weight', 'layer1.0.bn1.weight', 'layer1.0.conv1.weight', 'layer1.0.bn2.running_var', 'layer1.0.conv2.weight',
      'layer2.0.shortcut.0.weight', 'bn.weight', 'bn.num_batches_tracked', 'linear.weight', 'linear.bias']) {
      expect(keys, k).toContain(k);
    }
    expect(keys.filter((k) => k.includes('shortcut'))).toEqual(['layer2.0.shortcut.0.weight', 'layer3.0.shortcut.0.weight', 'layer4.0.shortcut.0.weight']);
    expect(keys).not.toContain('bn1.weight');
    expect(keys).not.toContain('conv1.bias');
    expect(m.stateShapes().get('layer2.0.bn1.weight')).toEqual([4]);
    expect(m.stateShapes().get('bn.weight')).toEqual([32]);
  });

  it('small-cnn keys and sizes', () => {
    const m = createModel(be, { arch: 'small-cnn', inChannels: 1, inputSize: 28, numClasses: 7 }, { skipInit: true });
    live.push(m);
    expect(Object.fromEntries([...m.stateShapes()].filter(([k]) => k.endsWith('weight')))).toEqual({
      'conv1.weight': [16, 1, 3, 3], 'bn1.weight': [16], 'conv2.weight': [32, 16, 3, 3], 'bn2.weight': [32],
      'fc1.weight': [128, 32 * 7 * 7], 'fc2.weight': [7, 128],
    });
  });
});

describe('forward', () => {
  it('every architecture maps [N, C, H, W] to [N, classes], in train and eval mode', () => {
    const cases: Array<[ModelSpecInput, number[]]> = [
      [{ arch: 'resnet18', width: 4, numClasses: 43 }, [2, 3, 16, 16]],
      [{ arch: 'preact-resnet18', width: 4, inChannels: 1 }, [2, 1, 12, 12]],
      [{ arch: 'small-cnn', width: 4, inputSize: 16 }, [2, 3, 16, 16]],
    ];
    for (const [spec, shape] of cases) {
      const m = model(spec);
      tidy(() => {
        expect(m.forward(input(shape)).shape).toEqual([shape[0], spec.numClasses ?? 10]);
        expect(m.eval().forward(input(shape)).shape).toEqual([shape[0], spec.numClasses ?? 10]);
      });
    }
  });

  it('rejects inputs with the wrong channel count', () => {
    const m = model({ arch: 'resnet18', width: 4 });
    expect(() => tidy(() => m.forward(input([1, 1, 8, 8])))).toThrow(/expected input \[N, 3, H, W\]/);
  });

  it('train() and eval() switch every module; BN counts batches in train mode only', () => {
    const m = model({ arch: 'small-cnn', width: 4, inputSize: 8 });
    const bn = m.namedModules().find(([, x]) => x instanceof BatchNorm2d)![1] as BatchNorm2d;
    tidy(() => m.forward(input([2, 3, 8, 8])));
    m.eval();
    expect(m.namedModules().every(([, x]) => !x.training)).toBe(true);
    tidy(() => m.forward(input([2, 3, 8, 8])));
    expect(bn.numBatchesTracked).toBe(1);
    m.train();
    expect(m.namedModules().every(([, x]) => x.training)).toBe(true);
  });

  it('Normalize inside the model equals normalising the input outside', async () => {
    const norm = { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.243, 0.261] };
    const plain = model({ arch: 'small-cnn', width: 4, inputSize: 8 }, 3).eval();
    const withNorm = model({ arch: 'small-cnn', width: 4, inputSize: 8, normalize: norm }, 3).eval();
    expect([...withNorm.stateShapes().keys()]).toEqual([...plain.stateShapes().keys()]);
    const raw = randomArray(2 * 3 * 64, 5, 0, 1);
    const normed = raw.map((v, i) => (v - norm.mean[Math.floor(i / 64) % 3]!) / norm.std[Math.floor(i / 64) % 3]!);
    const a = await noGrad(() => tidy(() => withNorm.forward(tensor(be, raw, [2, 3, 8, 8])))).toArray();
    const b = await noGrad(() => tidy(() => plain.forward(tensor(be, normed, [2, 3, 8, 8])))).toArray();
    a.forEach((v, i) => expect(v).toBeCloseTo(b[i]!, 5));
  });
});

describe('initialisation', () => {
  it("follows PyTorch's defaults and is reproducible from the seed", async () => {
    const a = await model({ arch: 'resnet18', width: 4 }, 11).stateDict();
    const b = await model({ arch: 'resnet18', width: 4 }, 11).stateDict();
    const c = await model({ arch: 'resnet18', width: 4 }, 12).stateDict();
    expectSameState(a, b);
    expect(Array.from(c.get('conv1.weight')!.data)).not.toEqual(Array.from(a.get('conv1.weight')!.data));
    const within = (key: string, fanIn: number) => {
      const v = Array.from(a.get(key)!.data);
      const bound = 1 / Math.sqrt(fanIn);
      expect(Math.max(...v.map(Math.abs)), key).toBeLessThanOrEqual(bound);
      expect(Math.max(...v.map(Math.abs)), key).toBeGreaterThan(0.8 * bound);
    };
    within('layer3.0.conv2.weight', 16 * 9);
    within('linear.weight', 32);
    within('linear.bias', 32);
    expect(new Set(a.get('layer1.0.bn1.weight')!.data)).toEqual(new Set([1]));
    expect(new Set(a.get('layer1.0.bn1.bias')!.data)).toEqual(new Set([0]));
    expect(new Set(a.get('layer1.0.bn1.running_mean')!.data)).toEqual(new Set([0]));
    expect(new Set(a.get('layer1.0.bn1.running_var')!.data)).toEqual(new Set([1]));
  });

  it('a model built inside tidy survives it, and parameters carry their names', () => {
    const m = tidy(() => createModel(be, { arch: 'small-cnn', width: 2, inputSize: 8 }, { generator: new Generator(be, 3) }));
    live.push(m);
    expect(m.parameters().every((p) => !p.disposed && p.requiresGrad)).toBe(true);
    expect(m.namedParameters().map(([k, p]) => p.name === k)).not.toContain(false);
  });
});

describe('strict state-dict loading', () => {
  it('names every missing, unexpected and mis-shaped key and leaves the model unchanged', async () => {
    const target = model({ arch: 'resnet18', width: 4 }, 1);
    const before = await target.stateDict();
    const source = await model({ arch: 'resnet18', width: 4 }, 2).stateDict();
    source.delete('layer1.0.conv1.weight');
    source.delete('bn1.running_var');
    source.set('layer9.0.conv1.weight', { shape: [1], data: new Float32Array(1) });
    source.set('linear.weight', { shape: [10, 16], data: new Float32Array(160) });
    let err: unknown;
    try {
      target.loadStateDict(source);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StateDictError);
    const e = err as StateDictError;
    expect(e.missing).toEqual(['bn1.running_var', 'layer1.0.conv1.weight']);
    expect(e.unexpected).toEqual(['layer9.0.conv1.weight']);
    expect(e.mismatched).toEqual([{ key: 'linear.weight', expected: [10, 32], got: [10, 16] }]);
    for (const k of ['"bn1.running_var"', '"layer1.0.conv1.weight"', '"layer9.0.conv1.weight"', '"linear.weight"']) expect(e.message).toContain(k);
    expectSameState(await target.stateDict(), before);
  });

  it('non-strict loads report missing and unexpected keys; shape mismatches still throw', async () => {
    const target = model({ arch: 'resnet18', width: 4 }, 1);
    const source = await model({ arch: 'resnet18', width: 4 }, 2).stateDict();
    source.delete('linear.bias');
    source.set('extra', { shape: [], data: new Float32Array(1) });
    expect(target.loadStateDict(source, { strict: false })).toEqual({ missing: ['linear.bias'], unexpected: ['extra'] });
    expect(Array.from((await target.stateDict()).get('conv1.weight')!.data)).toEqual(Array.from(source.get('conv1.weight')!.data));
    source.set('conv1.weight', { shape: [4, 3, 1, 9], data: new Float32Array(108) });
    expect(() => target.loadStateDict(source, { strict: false })).toThrow(/Size mismatch for "conv1.weight"/);
  });

  it('num_batches_tracked is optional both ways and saved only when the source had it', async () => {
    const m = model({ arch: 'small-cnn', width: 2, inputSize: 8 });
    const full = await m.stateDict();
    expect(full.get('bn1.num_batches_tracked')).toEqual({ shape: [], data: Int32Array.of(0), dtype: 'I64' });
    const without = new Map([...full].filter(([k]) => !k.endsWith('num_batches_tracked')));
    m.loadStateDict(without);
    expect([...(await m.stateDict()).keys()]).toEqual([...without.keys()]);
    full.set('bn2.num_batches_tracked', { shape: [1], data: Int32Array.of(17), dtype: 'I64' });
    m.loadStateDict(full);
    expect((await m.stateDict()).get('bn2.num_batches_tracked')!.data[0]).toBe(17);
    full.set('bn2.num_batches_tracked', { shape: [], data: Float32Array.of(1.5) });
    expect(() => m.loadStateDict(full)).toThrow(/"bn2.num_batches_tracked" must hold a non-negative integer/);
  });
});

describe('safetensors files', () => {
  it('round-trips a model: same state, same outputs, int64 counters, spec in the metadata', async () => {
    const norm = { mean: [0.5], std: [0.25] };
    const m = model({ arch: 'resnet18', width: 4, inChannels: 1, numClasses: 43, normalize: norm }, 5);
    tidy(() => m.forward(input([2, 1, 16, 16])));
    const bytes = await saveModel(m, { note: 'test' });
    const file = parseSafetensors(bytes);
    expect(file.tensors.get('bn1.num_batches_tracked')).toMatchObject({ dtype: 'I64', shape: [] });
    expect(file.tensors.get('conv1.weight')!.dtype).toBe('F32');
    expect(file.metadata).toMatchObject({ arch: 'resnet18', width: '4', in_channels: '1', num_classes: '43', note: 'test', normalize_mean: '[0.5]' });

    const { model: back, spec } = loadModelFile(be, bytes);
    live.push(back);
    expect(spec).toEqual({ arch: 'resnet18', width: 4, inChannels: 1, numClasses: 43, normalize: norm });
    expectSameState(await back.stateDict(), await m.stateDict());
    m.eval();
    back.eval();
    expect(await logitsOf(back, [2, 1, 16, 16])).toEqual(await logitsOf(m, [2, 1, 16, 16]));
  });

  it('loads a PyTorch state dict without metadata (DataParallel prefix too) and infers the spec', async () => {
    const golden = fixtureParams('resnet18_w4_gray.safetensors');
    for (const prefix of ['', 'module.']) {
      const { model: m, spec, metadata } = loadModelFile(be, toFile(golden, prefix));
      live.push(m);
      expect(metadata).toEqual({});
      expect(spec).toEqual({ arch: 'resnet18', width: 4, inChannels: 1, numClasses: 10 });
      const back = await m.stateDict();
      expect(back.has('bn1.num_batches_tracked')).toBe(false);
      expectSameState(back, golden);
    }
  });

  it('writes atomically to disk and reads back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nn-test-'));
    try {
      const m = model({ arch: 'preact-resnet18', width: 2 }, 9);
      await writeModel(join(dir, 'm.safetensors'), m);
      const { model: back } = await readModel(be, join(dir, 'm.safetensors'));
      live.push(back);
      expect(back.spec.arch).toBe('preact-resnet18');
      expectSameState(await back.stateDict(), await m.stateDict());
      await expect(readModel(be, join(dir, 'm.safetensors'), { arch: 'small-cnn' })).rejects.toThrow(/not a small-cnn/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('architecture inference', () => {
  const shapesOf = (spec: ModelSpecInput) => {
    const m = createModel(be, spec, { skipInit: true });
    try {
      return m.stateShapes();
    } finally {
      m.dispose();
    }
  };

  it('resnet18 at widths 4/8/16/64, 1 or 3 channels, 10 or 43 classes', () => {
    for (const width of [4, 8, 16, 64]) {
      for (const inChannels of [1, 3]) {
        for (const numClasses of [10, 43]) {
          expect(inferModelSpec(shapesOf({ arch: 'resnet18', width, inChannels, numClasses }))).toEqual({ arch: 'resnet18', width, inChannels, numClasses });
        }
      }
    }
  });

  it('preact-resnet18 and small-cnn', () => {
    expect(inferModelSpec(shapesOf({ arch: 'preact-resnet18', width: 8, inChannels: 1, numClasses: 43 }))).toEqual({ arch: 'preact-resnet18', width: 8, inChannels: 1, numClasses: 43 });
    expect(inferModelSpec(shapesOf({ arch: 'preact-resnet18' }))).toEqual({ arch: 'preact-resnet18', width: 64, inChannels: 3, numClasses: 10 });
    for (const inputSize of [28, 32]) {
      expect(inferModelSpec(shapesOf({ arch: 'small-cnn', inChannels: 1, inputSize }))).toEqual({ arch: 'small-cnn', width: 16, inChannels: 1, numClasses: 10, inputSize });
    }
  });

  it('explains what it cannot infer', () => {
    expect(() => inferModelSpec(new Map([['foo.weight', [1]]]))).toThrow(ArchitectureError);
    const resnet = shapesOf({ arch: 'resnet18', width: 4 });
    expect(() => inferModelSpec(resnet, 'preact-resnet18')).toThrow(/not a preact-resnet18: it lacks "bn.weight"/);
    const deeper = new Map(resnet).set('layer1.2.conv1.weight', [4, 4, 3, 3]);
    expect(() => inferModelSpec(deeper)).toThrow(/layer1 has 3 blocks/);
    const imagenet = new Map(resnet).set('conv1.weight', [4, 3, 7, 7]);
    expect(() => inferModelSpec(imagenet)).toThrow(/3x3 stem/);
  });
});

describe('weight masks', () => {
  it('lists every conv by its PyTorch module name', () => {
    const info = JSON.parse(readFileSync(new URL('../fixtures/fixtures.json', import.meta.url), 'utf8')) as { awm_round: { masked_layers: string[] } };
    expect(convLayers(model({ arch: 'resnet18', width: 4 })).map(([k]) => k)).toEqual(info.awm_round.masked_layers);
  });

  it('a mask of ones changes nothing; the mask gradient is the weight gradient times the weight', async () => {
    const shape = [2, 3, 16, 16];
    const labels = () => tensor(be, Int32Array.of(1, 4), [2], { dtype: 'int32' });
    const ref = model({ arch: 'resnet18', width: 4 }, 21);
    const masked = model({ arch: 'resnet18', width: 4 }, 21);
    const masks = attachMasks(masked.setRequiresGrad(false));
    expect(await logitsOf(masked, shape)).toEqual(await logitsOf(ref, shape));

    tidy(() => backward(crossEntropy(ref.forward(input(shape)), labels())));
    tidy(() => backward(crossEntropy(masked.forward(input(shape)), labels())));
    expect(masked.parameters().every((p) => p.grad === null)).toBe(true);
    for (const [name, conv] of convLayers(ref)) {
      const m = masks.get(name)!;
      expect(m.grad, name).not.toBeNull();
      const want = await tidy(() => mul(conv.weight.grad!, conv.weight)).toArray();
      const got = await m.grad!.toArray();
      got.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 6));
    }
  });

  it('folding bakes the masks into the weights', async () => {
    const shape = [2, 3, 16, 16];
    const m = model({ arch: 'resnet18', width: 4 }, 4).eval();
    const gen = new Generator(be, 99);
    for (const [, conv] of convLayers(m)) conv.mask = gen.uniform(conv.weight.shape);
    const [name, first] = convLayers(m)[0]!;
    const expected = await tidy(() => mul(first.weight, first.mask!)).toArray();
    const maskedOut = await logitsOf(m, shape);
    const mask = first.mask!;
    foldMasks(m);
    expect(convLayers(m).every(([, c]) => c.mask === null)).toBe(true);
    expect(mask.disposed).toBe(true);
    expect(await first.weight.toArray(), name).toEqual(expected);
    const foldedOut = await logitsOf(m, shape);
    foldedOut.forEach((v, i) => expect(v).toBeCloseTo(maskedOut[i]!, 5));
  });

  it('rejects a mask of the wrong shape', () => {
    const [, conv] = convLayers(model({ arch: 'small-cnn', width: 2, inputSize: 8 }))[0]!;
    const bad = tensor(be, new Float32Array(4), [4]);
    expect(() => {
      conv.mask = bad;
    }).toThrow(/weight's shape/);
    bad.dispose();
  });
});

describe('lifetimes', () => {
  it('dispose() frees parameters, buffers, masks and gradients', () => {
    const m = createModel(be, { arch: 'small-cnn', width: 2, inputSize: 8 });
    const masks = attachMasks(m);
    tidy(() => backward(crossEntropy(m.forward(input([2, 3, 8, 8])), tensor(be, Int32Array.of(0, 1), [2], { dtype: 'int32' }))));
    const tensors = [...m.parameters(), ...m.namedBuffers().map(([, t]) => t), ...masks.values()];
    const grads = [...masks.values()].map((t) => t.grad!);
    m.dispose();
    expect(tensors.every((t) => t.disposed)).toBe(true);
    expect(grads.every((t) => t.disposed)).toBe(true);
  });
});

describe.runIf(gpuBackend !== null)('on WebGPU', () => {
  it('state dicts load into and read back from device tensors', async () => {
    const source = await model({ arch: 'resnet18', width: 4 }, 8).stateDict();
    const m = createModel(gpuBackend!, { arch: 'resnet18', width: 4 }, { skipInit: true });
    try {
      m.loadStateDict(source);
      expectSameState(await m.stateDict(), source);
    } finally {
      m.dispose();
    }
  });
});

/**
 * Inferring a model's spec (architecture, base width, input channels, class count) from the names
 * and shapes of a state dict, so a checkpoint needs `--arch` only when it is ambiguous. A strict
 * load afterwards checks every key; this step only has to pick the right builder and sizes.
 */
import { ARCHS, type Arch, type ModelSpec } from './spec.js';
import { RESNET18_BLOCKS } from './resnet.js';
import { SMALL_CNN_HIDDEN } from './small-cnn.js';

export type ShapeMap = ReadonlyMap<string, readonly number[]>;

/** Keys whose presence identifies each architecture. */
const SIGNATURES: Readonly<Record<Arch, { has: readonly string[]; lacks: readonly string[] }>> = {
  resnet18: { has: ['conv1.weight', 'bn1.weight', 'layer1.0.conv1.weight', 'layer4.1.bn2.weight', 'linear.weight'], lacks: ['bn.weight'] },
  'preact-resnet18': { has: ['conv1.weight', 'layer1.0.bn1.weight', 'layer4.1.conv2.weight', 'bn.weight', 'linear.weight'], lacks: ['bn1.weight'] },
  'small-cnn': { has: ['conv1.weight', 'bn1.weight', 'conv2.weight', 'bn2.weight', 'fc1.weight', 'fc2.weight'], lacks: ['layer1.0.conv1.weight'] },
};

export class ArchitectureError extends Error {
  override name = 'ArchitectureError';
}

/** The architectures whose signature keys the state dict carries. */
export function candidateArchs(shapes: ShapeMap): Arch[] {
  return ARCHS.filter((a) => SIGNATURES[a].has.every((k) => shapes.has(k)) && SIGNATURES[a].lacks.every((k) => !shapes.has(k)));
}

/** The spec of the state dict; `arch` forces the architecture (and is checked against the keys). */
export function inferModelSpec(shapes: ShapeMap, arch?: Arch): ModelSpec {
  if (arch) {
    const missing = SIGNATURES[arch].has.filter((k) => !shapes.has(k));
    if (missing.length) throw new ArchitectureError(`the state dict is not a ${arch}: it lacks ${missing.map((k) => `"${k}"`).join(', ')}`);
    return specFor(arch, shapes);
  }
  const found = candidateArchs(shapes);
  if (found.length === 1) return specFor(found[0]!, shapes);
  if (found.length > 1) throw new ArchitectureError(`the state dict fits several architectures (${found.join(', ')}); name one with --arch`);
  const sample = [...shapes.keys()].slice(0, 6).map((k) => `"${k}"`).join(', ');
  throw new ArchitectureError(`cannot tell the architecture from the state dict (keys ${sample}${shapes.size > 6 ? ', ...' : ''}); known: ${ARCHS.join(', ')}`);
}

function specFor(arch: Arch, shapes: ShapeMap): ModelSpec {
  return arch === 'small-cnn' ? smallCnnSpec(shapes) : resnetSpec(arch, shapes);
}

function shapeOf(shapes: ShapeMap, key: string, rank: number): readonly number[] {
  const s = shapes.get(key);
  if (!s || s.length !== rank) throw new ArchitectureError(`"${key}" must have rank ${rank}, got ${s ? `[${s.join(', ')}]` : 'nothing'}`);
  return s;
}

function resnetSpec(arch: Arch, shapes: ShapeMap): ModelSpec {
  const [width, inChannels, kh, kw] = shapeOf(shapes, 'conv1.weight', 4) as [number, number, number, number];
  if (kh !== 3 || kw !== 3) {
    throw new ArchitectureError(`conv1 is ${kh}x${kw}; the CIFAR ${arch} has a 3x3 stem (ImageNet-style ResNets are not supported)`);
  }
  RESNET18_BLOCKS.forEach((n, i) => {
    const blocks = countBlocks(shapes, `layer${i + 1}`);
    if (blocks !== n) throw new ArchitectureError(`layer${i + 1} has ${blocks} blocks; ${arch} has ${n} (a deeper ResNet?)`);
  });
  const [numClasses, features] = shapeOf(shapes, 'linear.weight', 2) as [number, number];
  if (features !== 8 * width) throw new ArchitectureError(`linear takes ${features} features, but a ${arch} of width ${width} gives ${8 * width}`);
  return { arch, inChannels, numClasses, width };
}

function countBlocks(shapes: ShapeMap, layer: string): number {
  const indices = new Set<number>();
  for (const key of shapes.keys()) {
    const m = key.startsWith(`${layer}.`) ? /^(\d+)\./.exec(key.slice(layer.length + 1)) : null;
    if (m) indices.add(Number(m[1]));
  }
  return indices.size;
}

function smallCnnSpec(shapes: ShapeMap): ModelSpec {
  const [width, inChannels] = shapeOf(shapes, 'conv1.weight', 4) as [number, number];
  const [hidden, features] = shapeOf(shapes, 'fc1.weight', 2) as [number, number];
  const [numClasses] = shapeOf(shapes, 'fc2.weight', 2) as [number];
  if (hidden !== SMALL_CNN_HIDDEN) throw new ArchitectureError(`small-cnn has ${SMALL_CNN_HIDDEN} hidden units, fc1 has ${hidden}`);
  // fc1 sees 2w channels of side s//4; sides 4k..4k+3 all fit, so 4k is reported.
  const side = Math.round(Math.sqrt(features / (2 * width)));
  if (side < 1 || 2 * width * side * side !== features) {
    throw new ArchitectureError(`fc1 takes ${features} features, not 2*${width}*k*k for a square small-cnn input`);
  }
  return { arch: 'small-cnn', inChannels, numClasses, width, inputSize: 4 * side };
}

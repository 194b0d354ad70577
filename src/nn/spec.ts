/** What identifies a model: architecture, input channels, class count and base width. */
import type { NormalizeSpec } from './layers.js';

export const ARCHS = ['resnet18', 'preact-resnet18', 'small-cnn'] as const;
export type Arch = (typeof ARCHS)[number];

export interface ModelSpec {
  arch: Arch;
  inChannels: number;
  numClasses: number;
  /** Channels of the first stage (ResNets: w, 2w, 4w, 8w; small-cnn: w, 2w). */
  width: number;
  /** small-cnn only: the square input side its linear layer is sized for. */
  inputSize?: number;
  /** Optional input normalisation inside the model. */
  normalize?: NormalizeSpec;
}

export const DEFAULT_WIDTH: Readonly<Record<Arch, number>> = { resnet18: 64, 'preact-resnet18': 64, 'small-cnn': 16 };

export function isArch(name: string): name is Arch {
  return (ARCHS as readonly string[]).includes(name);
}

export function assertSpec(spec: ModelSpec): void {
  if (!isArch(spec.arch)) throw new Error(`unknown architecture '${spec.arch}' (known: ${ARCHS.join(', ')})`);
  for (const key of ['inChannels', 'numClasses', 'width'] as const) {
    const v = spec[key];
    if (!Number.isInteger(v) || v < 1) throw new Error(`${spec.arch}: ${key} must be a positive integer, got ${v}`);
  }
  if (spec.arch === 'small-cnn') {
    const s = spec.inputSize ?? 32;
    if (!Number.isInteger(s) || s < 4) throw new Error(`small-cnn: inputSize must be an integer >= 4, got ${s}`);
  }
  if (spec.normalize && spec.normalize.mean.length !== spec.inChannels && spec.normalize.mean.length !== 1) {
    throw new Error(`${spec.arch}: normalisation has ${spec.normalize.mean.length} channels but the model takes ${spec.inChannels}`);
  }
}

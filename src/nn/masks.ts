/**
 * Helpers for Adversarial Weight Masking: every conv by its state-dict module name (the names
 * PyTorch's named_modules gives, e.g. `layer2.0.shortcut.0`), soft masks on them, and folding the
 * masks into the weights once training ends.
 */
import type { Tensor } from '../tensor/tensor.js';
import { requireGrad } from '../autograd/engine.js';
import { full, tensor } from '../ops/create.js';
import type { Module } from './module.js';
import { Conv2d } from './conv.js';

export function convLayers(model: Module): Array<[string, Conv2d]> {
  return model.namedModules().filter((e): e is [string, Conv2d] => e[1] instanceof Conv2d);
}

export interface MaskOptions {
  /** Initial value of every mask entry (AWM starts at 1). */
  value?: number;
  /** Default true: the masks are what AWM optimises. */
  requiresGrad?: boolean;
}

/** Puts a mask of constant `value` on every conv; the model owns them (see Conv2d.mask). */
export function attachMasks(model: Module, opts: MaskOptions = {}): Map<string, Tensor> {
  const masks = new Map<string, Tensor>();
  for (const [name, conv] of convLayers(model)) {
    const m = full(conv.weight.backend, conv.weight.shape, opts.value ?? 1, { name: `${name}.mask` });
    if (opts.requiresGrad ?? true) requireGrad(m);
    conv.mask = m;
    masks.set(name, m);
  }
  return masks;
}

/** Puts the given masks (by conv name, e.g. a finished AWM run's) on the model as constants; every conv must have one. */
export function setMasks(model: Module, masks: ReadonlyMap<string, Float32Array>): void {
  const convs = convLayers(model);
  const missing = convs.filter(([name]) => !masks.has(name)).map(([name]) => name);
  if (missing.length) throw new Error(`setMasks: no mask for ${missing.join(', ')}`);
  for (const [name, conv] of convs) conv.mask = tensor(conv.weight.backend, masks.get(name)!, conv.weight.shape, { name: `${name}.mask` });
}

/** Reads back the masks on the model, by conv name (convs without one are left out). */
export async function readMasks(model: Module): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name, conv] of convLayers(model)) if (conv.mask) out.set(name, Float32Array.from(await conv.mask.data()));
  return out;
}

/** Folds every mask into its weight (weight <- weight * mask) and removes the masks. */
export function foldMasks(model: Module): void {
  for (const [, conv] of convLayers(model)) conv.foldMask();
}

/** Removes (and disposes) every mask without touching the weights. */
export function clearMasks(model: Module): void {
  for (const [, conv] of convLayers(model)) conv.mask = null;
}

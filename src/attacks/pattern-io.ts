/**
 * User-given pattern images. A spec carries a pattern either inline (float32 little-endian, base64,
 * CHW: self-contained, so specs stored in model metadata always use it) or as a reference to a
 * safetensors file, which resolvePatternFiles turns into an inline pattern before the spec is used.
 */
import { parseSafetensors } from '../io/safetensors.js';
import { float32ToBase64 } from './base64.js';
import type { AttackSpec, PatternSource, TriggerSpec } from './types.js';

/** An inline pattern from values in CHW order; [h, w] shapes become [1, h, w]. */
export function inlinePattern(values: ArrayLike<number>, shape: readonly number[]): PatternSource {
  const chw = shape.length === 2 ? [1, shape[0]!, shape[1]!] : shape.length === 4 && shape[0] === 1 ? shape.slice(1) : [...shape];
  if (chw.length !== 3 || !chw.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new Error(`pattern: shape [${shape.join(', ')}] is not [C, H, W], [H, W] or [1, C, H, W]`);
  }
  const [c, h, w] = chw as [number, number, number];
  if (values.length !== c * h * w) throw new Error(`pattern: ${values.length} values do not fill shape [${shape.join(', ')}]`);
  return { type: 'inline', shape: [c, h, w], data: float32ToBase64(Float32Array.from(values)) };
}

/** The tensor `key` of a safetensors file (e.g. models/blend_pattern.safetensors, key "pattern"). */
export function patternFromSafetensors(bytes: Uint8Array, key = 'pattern', source?: string): PatternSource {
  const file = parseSafetensors(bytes, source);
  const t = file.tensors.get(key);
  if (!t) throw new Error(`pattern: ${source ?? 'the safetensors file'} has no tensor "${key}" (it has: ${[...file.tensors.keys()].join(', ')})`);
  return inlinePattern(t.data, t.shape);
}

function mapPatterns(trigger: TriggerSpec, f: (p: PatternSource) => PatternSource): TriggerSpec {
  return trigger.type === 'blend' || trigger.type === 'additive' ? { ...trigger, pattern: f(trigger.pattern) } : trigger;
}

export function hasFilePatterns(spec: AttackSpec): boolean {
  return spec.backdoors.some((b) => (b.trigger.type === 'blend' || b.trigger.type === 'additive') && b.trigger.pattern.type === 'file');
}

/** A copy of `spec` with every file pattern read through `readBytes` (which resolves paths, e.g. against the spec's folder). */
export async function resolvePatternFiles(spec: AttackSpec, readBytes: (path: string) => Promise<Uint8Array>): Promise<AttackSpec> {
  const loaded = new Map<string, PatternSource>();
  for (const b of spec.backdoors) {
    mapPatterns(b.trigger, (p) => {
      if (p.type === 'file') loaded.set(`${p.path}\0${p.key}`, p);
      return p;
    });
  }
  for (const [id, p] of loaded) {
    if (p.type !== 'file') continue;
    loaded.set(id, patternFromSafetensors(await readBytes(p.path), p.key, p.path));
  }
  const backdoors = spec.backdoors.map((b) => ({
    ...b,
    trigger: mapPatterns(b.trigger, (p) => (p.type === 'file' ? loaded.get(`${p.path}\0${p.key}`)! : p)),
  }));
  return { ...spec, backdoors };
}

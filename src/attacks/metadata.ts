/** Recording an attack in a model file's safetensors metadata, so the model carries the trigger it was trained with. */
import { hasFilePatterns } from './pattern-io.js';
import { parseAttackSpec, serializeAttackSpec } from './parse.js';
import type { AttackSpec } from './types.js';

/** Key under which a model's safetensors metadata stores its attack (JSON text). */
export const ATTACK_METADATA_KEY = 'attack';

/** Metadata entries recording `spec` in a model file; file patterns must be resolved first, so the model stands alone. */
export function attackToMetadata(spec: AttackSpec): Record<string, string> {
  if (hasFilePatterns(spec)) throw new Error(`attackToMetadata: "${spec.name}" refers to a pattern file; resolve it (resolvePatternFiles) before storing the spec in a model`);
  return { [ATTACK_METADATA_KEY]: serializeAttackSpec(spec) };
}

/** The attack recorded in a model's metadata, or null when it has none. */
export function attackFromMetadata(metadata: Record<string, string>): AttackSpec | null {
  const text = metadata[ATTACK_METADATA_KEY];
  if (text === undefined) return null;
  try {
    return parseAttackSpec(text);
  } catch (e) {
    throw new Error(`model metadata "${ATTACK_METADATA_KEY}": ${(e as Error).message}`);
  }
}

/** Node-only: attack specs and pattern images on disk. File patterns resolve against the spec file's folder. */
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseAttackSpec, serializeAttackSpec } from './parse.js';
import { patternFromSafetensors, resolvePatternFiles } from './pattern-io.js';
import type { AttackSpec, PatternSource } from './types.js';

/** An inline pattern from a safetensors file (default key "pattern", as the shared blend_pattern.safetensors). */
export async function loadPatternFile(path: string, key = 'pattern'): Promise<PatternSource> {
  return patternFromSafetensors(new Uint8Array(await readFile(path)), key, path);
}

/** Reads, validates and resolves a spec file; the result is self-contained. */
export async function readAttackSpecFile(path: string): Promise<AttackSpec> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`attack spec: cannot read ${path} (${(e as Error).message})`);
  }
  let spec: AttackSpec;
  try {
    spec = parseAttackSpec(text);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  const folder = dirname(path);
  return resolvePatternFiles(spec, async (p) => new Uint8Array(await readFile(resolve(folder, p))));
}

/** Writes the spec as indented JSON (e.g. beside a model as model.attack.json). */
export async function writeAttackSpecFile(path: string, spec: AttackSpec): Promise<void> {
  await writeFile(path, `${JSON.stringify(JSON.parse(serializeAttackSpec(spec)), null, 2)}\n`);
}

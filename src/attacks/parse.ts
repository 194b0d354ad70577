/**
 * Reading attack specs from JSON (a user's file, a model's metadata) with errors that name the bad
 * field, e.g. `attack spec: backdoors[0].trigger.alpha must be at most 1, got 2` (a ParseError). Omitted poison
 * fields take the defaults of the label rule, so the parsed spec is always complete.
 */
import { ParseError } from '../io/parse-error.js';
import { base64ToFloat32 } from './base64.js';
import { SpecReader, describe, type Json } from './check.js';
import type { AttackSpec, BackdoorSpec, Eligibility, LabelRule, PatchPosition, PatternSource, PgdSpec, PoisonRule, TriggerSpec } from './types.js';

/** The shared reader, refusing with ParseError like the file parsers (same messages). */
class AttackSpecReader extends SpecReader {
  override fail(path: string, message: string): never {
    throw new ParseError(`${this.prefix}: ${path} ${message}`);
  }
}

const read: SpecReader = new AttackSpecReader('attack spec');

/** Compact JSON of a spec, validated on the way out so nothing malformed gets stored. */
export function serializeAttackSpec(spec: AttackSpec): string {
  return JSON.stringify(parseAttackSpec(spec));
}

/** Accepts JSON text or an already-parsed value; returns a validated, complete spec. */
export function parseAttackSpec(input: unknown): AttackSpec {
  let json = input;
  if (typeof input === 'string') {
    try {
      json = JSON.parse(input);
    } catch (e) {
      throw new ParseError(`attack spec: not valid JSON (${(e as Error).message})`);
    }
  }
  const root = read.object(json, 'spec', ['version', 'name', 'backdoors']);
  if (root.version !== undefined && root.version !== 1) read.fail('spec.version', `must be 1, got ${describe(root.version)}`);
  const name = read.string(root, 'name', 'spec');
  const list = read.array(root, 'backdoors', 'spec');
  if (list.length === 0) read.fail('spec.backdoors', 'must list at least one backdoor');
  const backdoors = list.map((b, i) => parseBackdoor(b, `backdoors[${i}]`));
  checkCombination(backdoors);
  return { version: 1, name, backdoors };
}

function parseBackdoor(value: unknown, path: string): BackdoorSpec {
  const o = read.object(value, path, ['trigger', 'label', 'poison', 'pgd']);
  const trigger = parseTrigger(o.trigger, `${path}.trigger`);
  const label = parseLabel(o.label, `${path}.label`);
  const poison = parsePoison(o.poison, `${path}.poison`, label);
  if (trigger.type === 'warp' && (poison.eligible !== 'all' || poison.rateOf !== 'all')) {
    read.fail(`${path}.poison`, 'of a warp (WaNet) trigger must have eligible "all" and rateOf "all": it poisons a fraction of every batch');
  }
  const out: BackdoorSpec = { trigger, label, poison };
  if (o.pgd !== undefined) {
    if (label.type !== 'clean-label') read.fail(`${path}.pgd`, `is only for clean-label backdoors (label.type is "${label.type}")`);
    out.pgd = parsePgd(o.pgd, `${path}.pgd`);
  }
  return out;
}

function parseLabel(value: unknown, path: string): LabelRule {
  const o = read.object(value, path, ['type', 'target']);
  const type = read.oneOf(o, 'type', path, ['all-to-one', 'all-to-all', 'clean-label'] as const);
  if (type === 'all-to-all') {
    if (o.target !== undefined) read.fail(`${path}.target`, 'is not used by all-to-all labels (y -> (y + 1) mod C)');
    return { type };
  }
  return { type, target: read.number(o, 'target', path, { integer: true, min: 0 }) };
}

function parsePoison(value: unknown, path: string, label: LabelRule): PoisonRule {
  const o = read.object(value, path, ['rate', 'eligible', 'rateOf']);
  const defaultEligible: Eligibility = label.type === 'all-to-one' ? 'non-target' : label.type === 'clean-label' ? 'target-only' : 'all';
  const rate = read.number(o, 'rate', path, { min: 0, max: 1 });
  const eligible = read.oneOf(o, 'eligible', path, ['all', 'non-target', 'target-only'] as const, defaultEligible);
  const rateOf = read.oneOf(o, 'rateOf', path, ['all', 'eligible'] as const, label.type === 'clean-label' ? 'eligible' : 'all');
  if (label.type === 'all-to-all' && eligible !== 'all') read.fail(`${path}.eligible`, `must be "all" for all-to-all labels, which have no single target (got "${eligible}")`);
  if (label.type === 'clean-label' && eligible !== 'target-only') read.fail(`${path}.eligible`, `must be "target-only" for clean-label attacks (got "${eligible}")`);
  return { rate, eligible, rateOf };
}

function parsePgd(value: unknown, path: string): PgdSpec {
  const o = read.object(value, path, ['eps', 'steps', 'stepSize']);
  return {
    eps: read.number(o, 'eps', path, { min: 0, max: 1 }),
    steps: read.number(o, 'steps', path, { integer: true, min: 1 }),
    stepSize: read.number(o, 'stepSize', path, { above: 0, max: 1 }),
  };
}

function parseTrigger(value: unknown, path: string): TriggerSpec {
  const kind = read.object(value, path, ['type', 'height', 'width', 'position', 'values', 'alpha', 'pattern', 'size', 'k', 's', 'gridRescale', 'seed', 'crossRatio']);
  const type = read.oneOf(kind, 'type', path, ['patch', 'blend', 'additive', 'corners', 'warp'] as const);
  switch (type) {
    case 'patch': {
      const o = read.object(value, path, ['type', 'height', 'width', 'position', 'values']);
      const height = read.number(o, 'height', path, { integer: true, min: 1 });
      const width = read.number(o, 'width', path, { integer: true, min: 1 });
      const position = parsePosition(o.position, `${path}.position`);
      const values = read.array(o, 'values', path);
      if (values.length === 0) read.fail(`${path}.values`, 'must hold at least one value');
      values.forEach((v, i) => {
        if (typeof v !== 'number' || !(v >= 0 && v <= 1)) read.fail(`${path}.values[${i}]`, `must be a number in [0, 1], got ${describe(v)}`);
      });
      return { type, height, width, position, values: values as number[] };
    }
    case 'blend': {
      const o = read.object(value, path, ['type', 'alpha', 'pattern']);
      return { type, alpha: read.number(o, 'alpha', path, { min: 0, max: 1 }), pattern: parsePattern(o.pattern, `${path}.pattern`) };
    }
    case 'additive': {
      const o = read.object(value, path, ['type', 'pattern']);
      return { type, pattern: parsePattern(o.pattern, `${path}.pattern`) };
    }
    case 'corners': {
      const o = read.object(value, path, ['type', 'size']);
      return { type, size: read.number(o, 'size', path, { integer: true, min: 1 }) };
    }
    case 'warp': {
      const o = read.object(value, path, ['type', 'k', 's', 'gridRescale', 'seed', 'crossRatio']);
      return {
        type,
        k: read.number(o, 'k', path, { integer: true, min: 1 }),
        s: read.number(o, 's', path, { min: 0 }),
        gridRescale: read.number(o, 'gridRescale', path, { above: 0, fallback: 1 }),
        seed: read.number(o, 'seed', path, { integer: true }),
        crossRatio: read.number(o, 'crossRatio', path, { min: 0, fallback: 2 }),
      };
    }
  }
}

function parsePosition(value: unknown, path: string): PatchPosition {
  const probe = read.object(value, path, ['corner', 'margin', 'top', 'left']);
  if (probe.corner !== undefined) {
    const o = read.object(value, path, ['corner', 'margin']);
    const corner = read.oneOf(o, 'corner', path, ['top-left', 'top-right', 'bottom-left', 'bottom-right'] as const);
    return { corner, margin: read.number(o, 'margin', path, { integer: true, min: 0, fallback: 0 }) };
  }
  const o = read.object(value, path, ['top', 'left']);
  if (o.top === undefined && o.left === undefined) read.fail(path, 'needs either corner (and margin) or top and left');
  return { top: read.number(o, 'top', path, { integer: true, min: 0 }), left: read.number(o, 'left', path, { integer: true, min: 0 }) };
}

function parsePattern(value: unknown, path: string): PatternSource {
  const kind = read.object(value, path, ['type', 'seed', 'size', 'margin', 'density', 'amplitude', 'shape', 'data', 'path', 'key']);
  const type = read.oneOf(kind, 'type', path, ['noise', 'trojan-square', 'trojan-watermark', 'inline', 'file'] as const);
  const seedOf = (o: Json): number => read.number(o, 'seed', path, { integer: true });
  switch (type) {
    case 'noise':
      return { type, seed: seedOf(read.object(value, path, ['type', 'seed'])) };
    case 'trojan-square': {
      const o = read.object(value, path, ['type', 'seed', 'size', 'margin']);
      return { type, seed: seedOf(o), size: read.number(o, 'size', path, { integer: true, min: 1 }), margin: read.number(o, 'margin', path, { integer: true, min: 0 }) };
    }
    case 'trojan-watermark': {
      const o = read.object(value, path, ['type', 'seed', 'density', 'amplitude']);
      return { type, seed: seedOf(o), density: read.number(o, 'density', path, { above: 0, max: 1 }), amplitude: read.number(o, 'amplitude', path, { above: 0, max: 1 }) };
    }
    case 'inline':
      return parseInline(read.object(value, path, ['type', 'shape', 'data']), path);
    case 'file': {
      const o = read.object(value, path, ['type', 'path', 'key']);
      return { type, path: read.string(o, 'path', path), key: read.string(o, 'key', path, 'pattern') };
    }
  }
}

function parseInline(o: Json, path: string): PatternSource {
  const shape = read.array(o, 'shape', path);
  if (shape.length !== 3 || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 1)) {
    read.fail(`${path}.shape`, 'must be [channels, height, width], three positive integers');
  }
  const data = read.string(o, 'data', path);
  let values: Float32Array;
  try {
    values = base64ToFloat32(data, 'base64');
  } catch (e) {
    read.fail(`${path}.data`, `is not base64 float32 data (${(e as Error).message})`);
  }
  const [c, h, w] = shape as [number, number, number];
  if (values.length !== c * h * w) read.fail(`${path}.data`, `holds ${values.length} values, shape ${c}x${h}x${w} needs ${c * h * w}`);
  if (!values.every(Number.isFinite)) read.fail(`${path}.data`, 'holds a non-finite value');
  return { type: 'inline', shape: [c, h, w], data };
}

/** Rules that span backdoors: distinct targets, and attacks that only work alone. */
function checkCombination(backdoors: BackdoorSpec[]): void {
  if (backdoors.length < 2) return;
  const seen = new Map<number, number>();
  backdoors.forEach((b, i) => {
    if (b.trigger.type === 'warp' || b.label.type === 'clean-label' || b.label.type === 'all-to-all') {
      const what = b.trigger.type === 'warp' ? 'a warp (WaNet) trigger' : `a ${b.label.type} label rule`;
      read.fail(`backdoors[${i}]`, `has ${what}, which cannot be combined with other backdoors`);
    }
    const target = b.label.target;
    const first = seen.get(target);
    if (first !== undefined) read.fail(`backdoors[${i}].label.target`, `repeats backdoors[${first}]'s target ${target}; multiple backdoors need distinct targets`);
    seen.set(target, i);
  });
}

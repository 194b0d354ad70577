/** Small JSON shape checkers whose errors name the offending field by its path. */

export type Json = Record<string, unknown>;

export class SpecReader {
  constructor(readonly prefix: string) {}

  fail(path: string, message: string): never {
    throw new Error(`${this.prefix}: ${path} ${message}`);
  }

  object(value: unknown, path: string, allowed: readonly string[]): Json {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(path, `must be an object, got ${describe(value)}`);
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) this.fail(`${path}.${key}`, `is not a known field (expected one of: ${allowed.join(', ')})`);
    }
    return value as Json;
  }

  number(o: Json, key: string, path: string, opts: { min?: number; max?: number; integer?: boolean; above?: number; fallback?: number } = {}): number {
    const v = o[key] === undefined ? opts.fallback : o[key];
    const at = `${path}.${key}`;
    if (v === undefined) this.fail(at, 'is required');
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(at, `must be a finite number, got ${describe(v)}`);
    if (opts.integer && !Number.isSafeInteger(v)) this.fail(at, `must be an integer, got ${v}`);
    if (opts.min !== undefined && v < opts.min) this.fail(at, `must be at least ${opts.min}, got ${v}`);
    if (opts.max !== undefined && v > opts.max) this.fail(at, `must be at most ${opts.max}, got ${v}`);
    if (opts.above !== undefined && v <= opts.above) this.fail(at, `must be greater than ${opts.above}, got ${v}`);
    return v;
  }

  string(o: Json, key: string, path: string, fallback?: string): string {
    const v = o[key] === undefined ? fallback : o[key];
    if (v === undefined) this.fail(`${path}.${key}`, 'is required');
    if (typeof v !== 'string' || v.length === 0) this.fail(`${path}.${key}`, `must be a non-empty string, got ${describe(v)}`);
    return v;
  }

  oneOf<T extends string>(o: Json, key: string, path: string, choices: readonly T[], fallback?: T): T {
    const v = o[key] === undefined ? fallback : o[key];
    if (v === undefined) this.fail(`${path}.${key}`, `is required (one of: ${choices.join(', ')})`);
    if (!choices.includes(v as T)) this.fail(`${path}.${key}`, `must be one of ${choices.map((c) => `"${c}"`).join(', ')}, got ${describe(v)}`);
    return v as T;
  }

  array(o: Json, key: string, path: string): unknown[] {
    const v = o[key];
    if (!Array.isArray(v)) this.fail(`${path}.${key}`, `must be an array, got ${describe(v)}`);
    return v;
  }
}

export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'object') return 'an object';
  return String(value);
}

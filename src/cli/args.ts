/**
 * A small, strict command-line parser: `--name value`, `--name=value` and boolean `--flag`. Every
 * flag must be declared; unknown flags, missing values, malformed numbers and numbers out of a flag's
 * declared range are errors that name the flag and echo what was typed, so a typo never silently falls
 * back to a default and a bad value is refused before any work starts.
 *
 * Why not Node's util.parseArgs: the commands take `--flag=false` for booleans whose default is on
 * (`--fallback=false`), which util.parseArgs refuses, and Node 20 has no `--no-flag` negation either.
 */

export type FlagType = 'string' | 'number' | 'int' | 'boolean';

export interface FlagSpec {
  type: FlagType;
  help: string;
  default?: string | number | boolean;
  required?: boolean;
  choices?: readonly string[];
  /** Numbers: the smallest value allowed (inclusive). */
  min?: number;
  /** Numbers: the largest value allowed (inclusive). */
  max?: number;
  /** Numbers: the value must be greater than this. */
  above?: number;
}

export type FlagSpecs = Record<string, FlagSpec>;
export type ParsedFlags = Record<string, string | number | boolean | undefined>;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

function convert(name: string, spec: FlagSpec, raw: string): string | number | boolean {
  switch (spec.type) {
    case 'boolean':
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      throw new UsageError(`--${name} takes true or false, got '${raw}'`);
    case 'number': {
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(v)) throw new UsageError(`--${name} takes a number, got '${raw}'`);
      return inRange(name, spec, v, raw);
    }
    case 'int': {
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isSafeInteger(v)) throw new UsageError(`--${name} takes an integer, got '${raw}'`);
      return inRange(name, spec, v, raw);
    }
    default:
      if (spec.choices && !spec.choices.includes(raw)) throw new UsageError(`--${name} must be one of ${spec.choices.join(', ')}; got '${raw}'`);
      return raw;
  }
}

function inRange(name: string, spec: FlagSpec, v: number, raw: string): number {
  const { min, max, above } = spec;
  const ok = (min === undefined || v >= min) && (max === undefined || v <= max) && (above === undefined || v > above);
  if (ok) return v;
  throw new UsageError(`--${name} must be ${rangeText(spec)}, got '${raw}'`);
}

/** The declared range in words ("between 0 and 1", "at least 1", "above 0"), for errors and --help. */
export function rangeText(spec: Pick<FlagSpec, 'min' | 'max' | 'above'>): string {
  const { min, max, above } = spec;
  if (min !== undefined && max !== undefined) return `between ${min} and ${max}`;
  const parts: string[] = [];
  if (min !== undefined) parts.push(`at least ${min}`);
  if (above !== undefined) parts.push(`above ${above}`);
  if (max !== undefined) parts.push(`at most ${max}`);
  return parts.join(' and ');
}

export function parseFlags(argv: readonly string[], specs: FlagSpecs): ParsedFlags {
  const out: ParsedFlags = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument '${arg}' (flags start with --)`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    // Own keys only: --toString or --constructor must not find an Object.prototype member.
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (!spec) throw new UsageError(`unknown flag --${name}`);
    let raw: string;
    if (eq >= 0) raw = arg.slice(eq + 1);
    else if (spec.type === 'boolean' && (i + 1 >= argv.length || argv[i + 1]!.startsWith('--'))) raw = 'true';
    else {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
      raw = argv[++i]!;
    }
    out[name] = convert(name, spec, raw);
  }
  for (const [name, spec] of Object.entries(specs)) {
    if (out[name] === undefined && spec.default !== undefined) out[name] = spec.default;
    if (out[name] === undefined && spec.required) throw new UsageError(`--${name} is required`);
  }
  return out;
}

export function usage(command: string, summary: string, specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const arg = s.type === 'boolean' ? '' : s.choices ? ` <${s.choices.join('|')}>` : ` <${s.type}>`;
    const def = s.default !== undefined ? ` (default ${s.default})` : s.required ? ' (required)' : '';
    const range = rangeText(s);
    return `  --${name}${arg}\n      ${s.help}${def}${range ? `; ${range}` : ''}`;
  });
  return `awm ${command}: ${summary}\n\n${rows.join('\n')}\n`;
}

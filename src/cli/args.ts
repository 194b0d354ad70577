/**
 * A small, strict command-line parser: `--name value`, `--name=value` and boolean `--flag`. Every
 * flag must be declared; unknown flags, missing values and malformed numbers are errors that name
 * the flag, so a typo never silently falls back to a default.
 */

export type FlagType = 'string' | 'number' | 'int' | 'boolean';

export interface FlagSpec {
  type: FlagType;
  help: string;
  default?: string | number | boolean;
  required?: boolean;
  choices?: readonly string[];
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
      return v;
    }
    case 'int': {
      const v = Number(raw);
      if (!Number.isInteger(v)) throw new UsageError(`--${name} takes an integer, got '${raw}'`);
      return v;
    }
    default:
      if (spec.choices && !spec.choices.includes(raw)) throw new UsageError(`--${name} must be one of ${spec.choices.join(', ')}; got '${raw}'`);
      return raw;
  }
}

export function parseFlags(argv: readonly string[], specs: FlagSpecs): ParsedFlags {
  const out: ParsedFlags = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument '${arg}' (flags start with --)`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = specs[name];
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
    return `  --${name}${arg}\n      ${s.help}${def}`;
  });
  return `awm ${command}: ${summary}\n\n${rows.join('\n')}\n`;
}

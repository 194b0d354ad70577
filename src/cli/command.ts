/** What every `awm` subcommand provides: its flags, a one-line summary, and a run function. */
import type { FlagSpecs, ParsedFlags } from './args.js';

export interface Command {
  name: string;
  summary: string;
  flags: FlagSpecs;
  run(flags: ParsedFlags, io: CommandIO): Promise<void>;
}

/** Output channels, so tests can capture what a command prints. */
export interface CommandIO {
  /** Progress and detail: dropped by --quiet, sent to stderr by --json. */
  log(line: string): void;
  warn(line: string): void;
  /**
   * What the command found or wrote, once at its end: `lines` for a person, `data` for a program (--json prints it
   * alone on stdout). Without it the lines go to log.
   */
  result?(lines: readonly string[], data: Record<string, unknown>): void;
}

/** Hands a command's result to the IO, or its lines to log where the IO has no result channel. */
export function emitResult(io: CommandIO, lines: readonly string[], data: Record<string, unknown>): void {
  if (io.result) io.result(lines, data);
  else for (const line of lines) io.log(line);
}

/** The global output flags every command takes (main strips them before the command's own flags are parsed). */
export interface OutputMode {
  /** Progress lines dropped; warnings, errors and the result stay. */
  quiet: boolean;
  /** The result as one JSON document on stdout; progress on stderr (or nowhere with quiet). */
  json: boolean;
}

export const OUTPUT_FLAGS_HELP = [
  '  --quiet        print only the result (and warnings and errors)',
  '  --json         print the result as one JSON document on stdout; progress goes to stderr',
];

export function consoleIOFor(mode: OutputMode): CommandIO {
  const toStderr = (line: string) => console.error(line);
  return {
    log: mode.quiet ? () => undefined : mode.json ? toStderr : (line) => console.log(line),
    warn: toStderr,
    result: mode.json ? (_lines, data) => console.log(JSON.stringify(data, null, 2)) : (lines) => { for (const line of lines) console.log(line); },
  };
}

export const consoleIO: CommandIO = consoleIOFor({ quiet: false, json: false });

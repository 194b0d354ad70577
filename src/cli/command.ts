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
  log(line: string): void;
  warn(line: string): void;
}

export const consoleIO: CommandIO = {
  log: (line) => console.log(line),
  warn: (line) => console.error(line),
};

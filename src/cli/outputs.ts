/**
 * Output paths, checked before any work starts: a long run must not end in "cannot write" or, worse, overwrite the
 * very model it was cleaning. Each output's folder must exist and be writable, no output may be one of the inputs or
 * another output, and an existing file is replaced only with --force.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { FlagSpecs } from './args.js';

export interface NamedPath {
  /** The flag the path came from (or what it is, for files derived from one), for the message. */
  what: string;
  path: string;
}

export const forceFlag: FlagSpecs = {
  force: { type: 'boolean', help: 'replace output files that already exist (without it, an existing output is an error)' },
};

/** The same file, also through a different spelling or a link. */
function sameFile(a: string, b: string): boolean {
  if (resolve(a) === resolve(b)) return true;
  if (!existsSync(a) || !existsSync(b)) return false;
  const sa = statSync(a);
  const sb = statSync(b);
  return sa.dev === sb.dev && sa.ino === sb.ino;
}

export function checkOutputPaths(outputs: readonly NamedPath[], inputs: readonly NamedPath[], force: boolean): void {
  outputs.forEach((o, i) => {
    const dir = dirname(resolve(o.path));
    if (!existsSync(dir)) throw new Error(`${o.what} ${o.path}: folder ${dir} does not exist`);
    if (!statSync(dir).isDirectory()) throw new Error(`${o.what} ${o.path}: ${dir} is not a folder`);
    try {
      accessSync(dir, constants.W_OK);
    } catch {
      throw new Error(`${o.what} ${o.path}: folder ${dir} is not writable`);
    }
    if (existsSync(o.path) && statSync(o.path).isDirectory()) throw new Error(`${o.what} ${o.path} is a folder; name a file`);
    const input = inputs.find((x) => sameFile(x.path, o.path));
    if (input) throw new Error(`${o.what} ${o.path} is also the input ${input.what}; write the output elsewhere so the input is kept`);
    const twin = outputs.slice(0, i).find((x) => sameFile(x.path, o.path));
    if (twin) throw new Error(`${o.what} and ${twin.what} both name ${o.path}`);
    if (!force && existsSync(o.path)) throw new Error(`${o.what} ${o.path} already exists; pass --force to replace it`);
  });
}

/** An input file named by a flag must exist and be a file. */
export function requireInputFile(input: NamedPath): void {
  if (!existsSync(input.path)) throw new Error(`${input.what} ${input.path} does not exist`);
  if (statSync(input.path).isDirectory()) throw new Error(`${input.what} ${input.path} is a folder; name a file`);
}

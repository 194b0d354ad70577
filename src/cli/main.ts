#!/usr/bin/env node
/**
 * The `awm` command: train, attack, eval, scan, purify, demo, explain. Each subcommand lives in its own file.
 * Errors print one clear line (no stack trace unless AWM_DEBUG=1) and exit with status 1;
 * usage errors exit with 2.
 */
import { parseFlags, usage, UsageError } from './args.js';
import { consoleIO, consoleIOFor, OUTPUT_FLAGS_HELP, type Command } from './command.js';
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const loaders: Record<string, () => Promise<Command>> = {
  train: async () => (await import('./cmd-train.js')).trainCommand,
  eval: async () => (await import('./cmd-eval.js')).evalCommand,
  attack: async () => (await import('./cmd-attack.js')).attackCommand,
  scan: async () => (await import('./cmd-scan.js')).scanCommand,
  purify: async () => (await import('./cmd-purify.js')).purifyCommand,
  demo: async () => (await import('./cmd-demo.js')).demoCommand,
  explain: async () => (await import('./cmd-explain.js')).explainCommand,
};

async function help(): Promise<string> {
  const lines = ['usage: awm <command> [flags]   (awm <command> --help for its flags; awm --version)', ''];
  for (const load of Object.values(loaders)) {
    const c = await load();
    lines.push(`  ${c.name.padEnd(8)} ${c.summary}`);
  }
  lines.push('', 'every command also takes:', ...OUTPUT_FLAGS_HELP);
  return lines.join('\n');
}

/** The version in the package.json above this command: the installed package's, or the repository's. */
async function packageVersion(): Promise<string> {
  const { shippedFile } = await import('./common.js');
  const file = shippedFile('package.json', 'no package.json was found above the awm command');
  const version = (JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown }).version;
  if (typeof version !== 'string') throw new Error(`${file} has no version`);
  return version;
}

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v') {
    try {
      consoleIO.log(await packageVersion());
      return 0;
    } catch (e) {
      consoleIO.warn(`awm: error: ${(e as Error).message}`);
      return 1;
    }
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    consoleIO.log(await help());
    return name ? 0 : 2;
  }
  const load = loaders[name];
  if (!load) {
    consoleIO.warn(`awm: unknown command '${name}' (commands: ${Object.keys(loaders).join(', ')}; awm --help)`);
    return 2;
  }
  const command = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    consoleIO.log([usage(command.name, command.summary, command.flags), '', 'output:', ...OUTPUT_FLAGS_HELP].join('\n'));
    return 0;
  }
  const mode = { quiet: rest.includes('--quiet'), json: rest.includes('--json') };
  const own = rest.filter((arg) => arg !== '--quiet' && arg !== '--json');
  // The command's own IO reports its errors too: on a terminal it takes its status line down first.
  const io = consoleIOFor(mode);
  try {
    const flags = parseFlags(own, command.flags);
    await command.run(flags, io);
    return 0;
  } catch (e) {
    const err = e as Error;
    if (err instanceof UsageError) {
      // One line: the help text would push the message off the screen.
      io.warn(`awm ${name}: ${err.message} (awm ${name} --help lists the flags)`);
      return 2;
    }
    io.warn(`awm ${name}: error: ${err.message}`);
    if (process.env.AWM_DEBUG === '1') io.warn(err.stack ?? '');
    return 1;
  }
}

/**
 * Whether Node was started on this module: `node dist/awm.mjs`, or a bin link to it such as node_modules/.bin/awm,
 * whose own name says nothing (so both sides are resolved to real paths), but not a test that imports main().
 */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

#!/usr/bin/env node
// Bundles a benchmark entry (bench/<name>.ts, default all) with esbuild and runs it in Node.
// Benchmarks are never part of `npm test`.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';

const args = process.argv.slice(2);
const names = args.length && !args[0].startsWith('--') ? [args.shift()] : readdirSync('bench').filter((f) => f.endsWith('.ts') && !f.startsWith('_')).map((f) => f.slice(0, -3));
mkdirSync('dist/bench', { recursive: true });
let status = 0;
for (const name of names) {
  const outfile = `dist/bench/${name}.mjs`;
  await build({ entryPoints: [`bench/${name}.ts`], bundle: true, platform: 'node', format: 'esm', target: 'node20', external: ['webgpu', '@tensorflow/*'], outfile, logLevel: 'warning' });
  console.log(`\n== bench/${name}.ts`);
  const r = spawnSync(process.execPath, [outfile, ...args], { stdio: 'inherit' });
  if (r.status !== 0) status = r.status ?? 1;
}
process.exit(status);

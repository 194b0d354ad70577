#!/usr/bin/env node
// Rebuilds web/demo-assets/ (the page's built-in demo) from data/fashion-mnist-subset: bundles the
// TypeScript generator with esbuild and runs it in Node. Seeded and CPU-only, so reruns are identical.
// Usage: node web/make-demo-assets.mjs [dataDir] [outDir]
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const work = mkdtempSync(join(tmpdir(), 'awm-demo-assets-'));
const outfile = join(work, 'demo-assets.mjs');
try {
  await build({ entryPoints: ['web/tools/demo-assets.ts'], bundle: true, platform: 'node', format: 'esm', target: 'node20', external: ['webgpu'], outfile, logLevel: 'warning' });
  const run = spawnSync(process.execPath, [outfile, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exitCode = run.status ?? 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}

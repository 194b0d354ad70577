#!/usr/bin/env node
// Builds the static page into web/dist (or --outdir DIR): esbuild bundles web/main.ts and the engine
// sources it imports into one browser script, and the HTML, styles and demo assets are copied beside it.
// The bundle must not reach for Node built-ins: the page has no runtime dependency at all.
import { build } from 'esbuild';
import { cpSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const at = process.argv.indexOf('--outdir');
const outdir = resolve(at > 0 ? process.argv[at + 1] : join(here, 'dist'));

rmSync(outdir, { recursive: true, force: true });
mkdirSync(join(outdir, 'demo-assets'), { recursive: true });
const t0 = performance.now();
await build({
  entryPoints: [join(here, 'main.ts')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  outfile: join(outdir, 'main.js'),
  logLevel: 'warning',
});
const js = readFileSync(join(outdir, 'main.js'), 'utf8');
// (src/device/node-gpu.ts names node:fs in a string for Node's getBuiltinModule; only imports count.)
if (/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)["']node:/.test(js)) throw new Error('web/build: the page bundle refers to a Node built-in; a browser-only module imported a .node.ts file');
for (const file of ['index.html', 'styles.css']) cpSync(join(here, file), join(outdir, file));
for (const file of ['model.safetensors', 'images.safetensors']) cpSync(join(here, 'demo-assets', file), join(outdir, 'demo-assets', file));
console.log(`web: built ${outdir} (main.js ${(js.length / 1024).toFixed(0)} KiB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

#!/usr/bin/env node
// Builds what the npm package ships, each part on its own or all of them (the default):
//   lib      dist/index.js and the .d.ts files beside it (tsc with tsconfig.build.json), what `import 'webgpu-awm'` loads;
//   cli      dist/awm.mjs, the `awm` command as one Node bundle (Dawn's `webgpu` package stays outside it);
//   browser  dist/browser.js, the library as one browser ES module that imports nothing (`webgpu-awm/browser`).
// Usage: node scripts/build-package.mjs [lib] [cli] [browser] [--outdir DIR]   (DIR instead of dist/, for tests)
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const PARTS = ['lib', 'cli', 'browser'];

function usageError(message) {
  console.error(`build-package: ${message}\nusage: node scripts/build-package.mjs [${PARTS.join('] [')}] [--outdir DIR]`);
  process.exit(2);
}

const asked = process.argv.slice(2);
const at = asked.indexOf('--outdir');
if (at >= 0 && !asked[at + 1]) usageError('--outdir needs a folder');
const dist = at >= 0 ? resolve(asked.splice(at, 2)[1]) : join(root, 'dist');
for (const part of asked) {
  if (!PARTS.includes(part)) usageError(`unknown part '${part}'`);
}
const parts = asked.length ? asked : PARTS;

/**
 * A browser bundle must not carry Node code. The library reaches Dawn's Node bindings only through
 * src/device/node-gpu.ts, behind a dynamic import taken when no browser is around; the browser bundle gets this
 * stand-in instead, which says what to import in Node.
 */
const nodeGpuStandIn = {
  name: 'node-gpu-stand-in',
  setup(b) {
    b.onResolve({ filter: /[\\/]node-gpu\.js$/ }, (args) => ({ path: join(args.resolveDir, 'node-gpu.js'), namespace: 'node-gpu-stand-in' }));
    b.onLoad({ filter: /.*/, namespace: 'node-gpu-stand-in' }, (args) => ({
      resolveDir: dirname(args.path),
      loader: 'js',
      contents: [
        "import { NoWebGpuError } from './gpu.js';",
        'export async function requestNodeAdapter() {',
        "  throw new NoWebGpuError(\"webgpu-awm/browser has no Node WebGPU (navigator.gpu is what it uses); Node programs load the 'webgpu-awm' entry, which finds Dawn\");",
        '}',
      ].join('\n'),
    }));
  },
};

/** What a browser bundle may not contain: a Node built-in, CommonJS, or any import (it must stand alone). */
function browserBundleProblems(js) {
  const problems = [];
  if (/\bnode:[a-z]/.test(js)) problems.push("it names a Node built-in ('node:...')");
  if (/\brequire\s*\(/.test(js)) problems.push('it calls require(');
  if (/\bimport\s*\(/.test(js) || /(?:^|[;}\s])import\s*[\w{*"'$]/m.test(js)) problems.push('it imports another module');
  if (/\bgetBuiltinModule\b/.test(js)) problems.push("it reaches for Node's getBuiltinModule");
  return problems;
}

async function buildLib() {
  // Only tsc's own output goes, so that no declaration of a deleted source file lingers; other tools' folders in
  // dist/ (benchmark bundles, for one) stay.
  for (const entry of readdirSync(join(root, 'src'), { withFileTypes: true })) {
    if (entry.isDirectory()) rmSync(join(dist, entry.name), { recursive: true, force: true });
  }
  for (const file of ['index.js', 'index.d.ts']) rmSync(join(dist, file), { force: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', dist], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`build-package: tsc -p tsconfig.build.json failed (status ${r.status})`);
}

async function buildCli() {
  await build({
    entryPoints: [join(root, 'src/cli/main.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['webgpu'],
    outfile: join(dist, 'awm.mjs'),
    logLevel: 'warning',
  });
}

async function buildBrowser() {
  const outfile = join(dist, 'browser.js');
  await build({
    entryPoints: [join(root, 'src/index.ts')],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: true,
    // Module classes name themselves in error messages.
    keepNames: true,
    sourcemap: 'linked',
    sourcesContent: false,
    plugins: [nodeGpuStandIn],
    outfile,
    logLevel: 'warning',
  });
  const problems = browserBundleProblems(readFileSync(outfile, 'utf8'));
  if (problems.length) throw new Error(`build-package: dist/browser.js is not a standalone browser module: ${problems.join('; ')}`);
}

const builders = { lib: buildLib, cli: buildCli, browser: buildBrowser };
for (const part of parts) {
  try {
    await builders[part]();
  } catch (e) {
    // esbuild has printed its own errors (they come with an `errors` list); anything else says what failed.
    if (!Array.isArray(e.errors)) console.error(e.message);
    process.exit(1);
  }
}

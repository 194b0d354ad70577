#!/usr/bin/env node
// Checks the npm package as a user gets it: `npm pack` (whose prepack builds dist/), the tarball's contents, an
// install into an empty project, `import 'webgpu-awm'` and 'webgpu-awm/browser' in Node, a consumer .ts file
// type-checked with tsc against the installed declarations, `npx awm --help` / `--version`, `npx awm explain` on the
// files the package ships, and examples/node-eval.mjs, whose figures must equal what `npx awm eval` measures.
// Packages come from npm's cache where it has them (`npm ci` filled it), else from the registry.
// Usage: node scripts/check-package.mjs [--keep]   (--keep leaves the temporary folder and says where)
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const keep = process.argv.includes('--keep');
const work = mkdtempSync(join(tmpdir(), 'awm-check-package-'));
const consumer = join(work, 'consumer');
const installed = join(consumer, 'node_modules', 'webgpu-awm');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';

let passed = 0;
let failed = 0;

/** Runs a command; a non-zero status (or a time-out) fails the check with the command's output. */
function sh(command, args, cwd, timeoutS = 300) {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: timeoutS * 1000, maxBuffer: 64 * 2 ** 20 });
  if (r.status !== 0) {
    const why = r.error ? r.error.message : `status ${r.status}${r.signal ? `, signal ${r.signal}` : ''}`;
    throw new Error(`\`${[command, ...args].join(' ')}\` in ${cwd} failed (${why})\n${r.stdout ?? ''}${r.stderr ?? ''}`);
  }
  return r.stdout;
}

function expect(ok, what) {
  if (!ok) throw new Error(what);
}

/** A number printed after `label` (percent figures), or a failure naming the output it was not in. */
function figure(text, pattern, what) {
  const m = pattern.exec(text);
  if (!m) throw new Error(`no ${what} in:\n${text}`);
  return Number(m[1]);
}

function check(name, body) {
  const t0 = performance.now();
  try {
    body();
    passed++;
    console.log(`ok   ${name} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    return true;
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message}`);
    return false;
  }
}

let tarball = '';
const steps = [
  ['npm pack builds the package (prepack: library, declarations, awm command, browser bundle)', () => {
    const dest = join(work, 'pack');
    mkdirSync(dest);
    sh(npm, ['pack', '--pack-destination', dest, '--loglevel', 'error'], root, 600);
    const made = readdirSync(dest).filter((f) => f.endsWith('.tgz'));
    expect(made.length === 1, `npm pack left ${made.length} tarballs in ${dest}`);
    tarball = join(dest, made[0]);
  }],
  ['the tarball holds what the package needs and no test, benchmark or model zoo', () => {
    const files = sh('tar', ['-tzf', tarball], work).split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
    const need = [
      'package.json', 'LICENSE', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/awm.mjs', 'dist/browser.js',
      'dist/nn/index.d.ts', 'data/fashion-mnist-subset/t10k-images-idx3-ubyte.gz', 'data/fashion-mnist-subset/train-labels-idx1-ubyte.gz',
      'web/demo-assets/model.safetensors', 'web/demo-assets/images.safetensors',
      'examples/node-eval.mjs', 'examples/browser.html', 'examples/README.md',
    ];
    const missing = need.filter((f) => !files.includes(f));
    expect(missing.length === 0, `the tarball lacks ${missing.join(', ')}`);
    const stray = files.filter((f) => /^(test|bench|models|scratch|node_modules|dist\/bench|web\/dist)\//.test(f));
    expect(stray.length === 0, `the tarball carries ${stray.slice(0, 5).join(', ')}${stray.length > 5 ? ` and ${stray.length - 5} more` : ''}`);
  }],
  ['it installs into an empty project', () => {
    mkdirSync(consumer);
    writeFileSync(join(consumer, 'package.json'), `${JSON.stringify({ name: 'awm-consumer', private: true, type: 'module' }, null, 2)}\n`);
    sh(npm, ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel', 'error'], consumer, 600);
    const meta = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
    expect(meta.version === pkg.version, `installed version ${meta.version}, expected ${pkg.version}`);
    expect(meta.optionalDependencies?.webgpu !== undefined && meta.dependencies?.webgpu === undefined, "'webgpu' must stay an optional dependency");
  }],
  ["import 'webgpu-awm' and 'webgpu-awm/browser' in Node ESM: one API, and a CPU training step runs", () => {
    writeFileSync(join(consumer, 'import-check.mjs'), [
      "import * as awm from 'webgpu-awm';",
      "import * as browser from 'webgpu-awm/browser';",
      "const be = await awm.createBackend('cpu');",
      "const model = awm.nn.createModel(be, { arch: 'small-cnn', inChannels: 1, numClasses: 3, inputSize: 28 }, { seed: 1 });",
      'const x = awm.ops.full(be, [2, 1, 28, 28], 0.5);',
      "const labels = awm.ops.tensor(be, [0, 2], [2], { dtype: 'int32' });",
      'const loss = awm.tidy(() => { const l = awm.ops.crossEntropy(model.forward(x), labels); awm.backward(l); return l; });',
      'const grads = model.parameters().filter((p) => p.grad).length;',
      'console.log(JSON.stringify({ keys: Object.keys(awm).sort(), browserKeys: Object.keys(browser).sort(), loss: await loss.item(), grads, params: model.parameters().length }));',
    ].join('\n'));
    const r = JSON.parse(sh(process.execPath, ['import-check.mjs'], consumer, 120));
    for (const name of ['createBackend', 'runAwm', 'purifyModel', 'nn', 'ops', 'io', 'data', 'attacks']) expect(r.keys.includes(name), `'webgpu-awm' exports no ${name}`);
    expect(JSON.stringify(r.keys) === JSON.stringify(r.browserKeys), "'webgpu-awm/browser' exports other names than 'webgpu-awm'");
    // Three classes from a fresh model: the loss is near ln 3, and every parameter got a gradient.
    expect(Math.abs(r.loss - Math.log(3)) < 0.5, `the loss of a fresh 3-class model is ${r.loss}, far from ln 3`);
    expect(r.params > 0 && r.grads === r.params, `${r.grads} of ${r.params} parameters got a gradient`);
  }],
  ['a consumer .ts file type-checks against the installed declarations (tsc --noEmit)', () => {
    writeFileSync(join(consumer, 'tsconfig.json'), `${JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false },
      files: ['consumer.ts'],
    }, null, 2)}\n`);
    writeFileSync(join(consumer, 'consumer.ts'), [
      "import { backward, createBackend, nn, ops, tidy, type Backend, type Tensor, type WebGpuBackend } from 'webgpu-awm';",
      "import { runAwm } from 'webgpu-awm/browser';",
      '',
      'export async function step(): Promise<number> {',
      "  const be: Backend = await createBackend('cpu');",
      "  const model = nn.createModel(be, { arch: 'small-cnn', inChannels: 1, numClasses: 10, inputSize: 28 }, { seed: 1 });",
      '  const x: Tensor = ops.full(be, [2, 1, 28, 28], 0.5);',
      "  const labels = ops.tensor(be, [1, 2], [2], { dtype: 'int32' });",
      '  const loss = tidy(() => {',
      '    const l = ops.crossEntropy(model.forward(x), labels);',
      '    backward(l);',
      '    return l;',
      '  });',
      '  return loss.item();',
      '}',
      '// WebGPU\'s own types reach the consumer with no setting of its own.',
      'export const deviceOf = (be: WebGpuBackend): GPUDevice => be.handle.device;',
      'export const awm: typeof runAwm = runAwm;',
      '// @ts-expect-error: the declarations give real types, so a wrong use is an error',
      'export const wrong: string = createBackend;',
    ].join('\n'));
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    sh(process.execPath, [tsc, '-p', 'tsconfig.json'], consumer, 180);
  }],
  ['npx awm --help prints the commands', () => {
    const out = sh(npx, ['--no-install', 'awm', '--help'], consumer, 60);
    expect(/^usage: awm <command>/.test(out), `npx awm --help printed:\n${out}`);
    for (const name of ['train', 'eval', 'attack', 'purify', 'demo', 'explain']) expect(new RegExp(`^  ${name} `, 'm').test(out), `npx awm --help lists no ${name}:\n${out}`);
  }],
  ['npx awm --version prints the package version', () => {
    const out = sh(npx, ['--no-install', 'awm', '--version'], consumer, 60).trim();
    expect(out === pkg.version, `npx awm --version printed '${out}', expected '${pkg.version}'`);
  }],
  ['npx awm explain finds the model the package ships', () => {
    const out = sh(npx, ['--no-install', 'awm', 'explain', '--inner', '1'], consumer, 300);
    const model = join(installed, 'web', 'demo-assets', 'model.safetensors');
    expect(out.includes(`model: ${model} `), `awm explain did not use the installed package's ${model}:\n${out}`);
  }],
  ['examples/node-eval.mjs measures what `npx awm eval` measures', () => {
    copyFileSync(join(root, 'examples', 'node-eval.mjs'), join(consumer, 'node-eval.mjs'));
    const example = sh(process.execPath, ['node-eval.mjs'], consumer, 300);
    const model = join(installed, 'web', 'demo-assets', 'model.safetensors');
    const cli = sh(npx, ['--no-install', 'awm', 'eval', '--model', model, '--dataset', 'fashion-mnist', '--data-dir', join(installed, 'data', 'fashion-mnist-subset'), '--backend', 'cpu'], consumer, 300);
    const accuracy = figure(example, /clean accuracy: ([\d.]+) %/, 'clean accuracy from the example');
    const asr = figure(example, /attack success rate: ([\d.]+) %/, 'attack success rate from the example');
    expect(example.includes('1000 test images'), `the example did not evaluate the shipped subset's 1000 test images:\n${example}`);
    expect(accuracy === figure(cli, /clean accuracy: ([\d.]+)%/, 'clean accuracy from awm eval'), `clean accuracy: the example says ${accuracy} %, awm eval:\n${cli}`);
    expect(asr === figure(cli, /ASR ([\d.]+)% \(target class excluded\)/, 'ASR from awm eval'), `ASR: the example says ${asr} %, awm eval:\n${cli}`);
    console.log(`     the example: clean accuracy ${accuracy} %, ASR ${asr} %`);
  }],
];

const t0 = performance.now();
for (const [name, body] of steps) {
  // Each check needs the ones before it (the tarball, the install), so the first failure ends the run.
  if (!check(name, body)) break;
}
if (keep) console.log(`left ${work}`);
else rmSync(work, { recursive: true, force: true });
const skipped = steps.length - passed - failed;
console.log(`check-package: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
console.log(`package: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed ? 1 : 0);

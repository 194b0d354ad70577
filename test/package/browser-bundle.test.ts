/**
 * The package's browser bundle (`webgpu-awm/browser`, dist/browser.js as scripts/build-package.mjs builds it): it
 * stands alone (no Node built-in, no require, no import of anything), exports the library's whole public API, and
 * examples/browser.html, which uses nothing else, evaluates the demo model in headless Chromium to the figures the
 * CPU backend gives in Node.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromiumAvailable, launchChromium, serve } from '../helpers/chromium.js';
import { requireWebGpu } from '../helpers/backends.js';
import * as library from '../../src/index.js';
import { CpuBackend } from '../../src/backends/cpu/index.js';
import { loadModelFile } from '../../src/nn/model-file.js';
import { parseSafetensors } from '../../src/io/safetensors.js';
import { attackFromMetadata } from '../../src/attacks/metadata.js';
import { evaluateClassifier } from '../../src/train/train.js';
import { evaluateModel } from '../../src/awm/purify.js';
import type { ImageDataset } from '../../src/data/dataset.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const at = (path: string) => join(root, path);
let outdir = '';
let js = '';

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'awm-browser-bundle-'));
  const r = spawnSync(process.execPath, [at('scripts/build-package.mjs'), 'browser', '--outdir', outdir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build-package.mjs browser failed (${r.status}): ${r.stderr}`);
  js = readFileSync(join(outdir, 'browser.js'), 'utf8');
});
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

/** The demo's evaluation images as the page's example reads them. */
function demoImages(): ImageDataset {
  const file = parseSafetensors(new Uint8Array(readFileSync(at('web/demo-assets/images.safetensors'))), 'images.safetensors');
  const images = file.tensors.get('eval.images')!;
  const [n, c, h, w] = images.shape as [number, number, number, number];
  return { images: images.data as Uint8Array, labels: file.tensors.get('eval.labels')!.data as Int32Array, n, c, h, w, numClasses: 10 };
}

describe('the browser bundle (webgpu-awm/browser)', () => {
  it('stands alone: no Node built-in, no require, no import', () => {
    expect(js.length).toBeGreaterThan(100_000);
    expect(js).not.toMatch(/node:[a-z]/);
    expect(js).not.toMatch(/\brequire\s*\(/);
    expect(js).not.toMatch(/\bimport\s*\(/);
    expect(js).not.toMatch(/(?:^|[;}\s])import\s*[\w{*"'$]/m);
    expect(js).not.toMatch(/getBuiltinModule/);
  });

  it("exports the library's whole public API, and in Node says it has no Dawn", async () => {
    const bundle = (await import(pathToFileURL(join(outdir, 'browser.js')).href)) as typeof library;
    expect(Object.keys(bundle).sort()).toEqual(Object.keys(library).sort());
    expect(Object.keys(bundle.nn).sort()).toEqual(Object.keys(library.nn).sort());
    await expect(bundle.getGPU()).rejects.toThrow(/webgpu-awm\/browser has no Node WebGPU.*'webgpu-awm' entry/);
    await expect(bundle.getGPU()).rejects.toBeInstanceOf(bundle.NoWebGpuError);
  });
});

if (!chromiumAvailable) {
  if (requireWebGpu) throw new Error('AWM_REQUIRE_WEBGPU=1 but /usr/bin/chromium is missing (apt-get install chromium)');
  console.warn('\n*** browser example test SKIPPED: /usr/bin/chromium not found (apt-get install chromium)\n');
}

describe.skipIf(!chromiumAvailable)('examples/browser.html in headless Chromium', () => {
  it('evaluates the demo model on WebGPU to the CPU backend\'s accuracy and ASR', async () => {
    const cpu = new CpuBackend({ precision: 'float32' });
    const { model, metadata } = loadModelFile(cpu, new Uint8Array(readFileSync(at('web/demo-assets/model.safetensors'))));
    const test = demoImages();
    const expected = { accuracy: (await evaluateClassifier(model, cpu, test)).accuracy, asr: (await evaluateModel(model, cpu, { testSet: test, attack: attackFromMetadata(metadata)! })).asr };
    model.dispose();

    const file = (path: string, type: string) => ({ body: readFileSync(path), type });
    const site = await serve({
      '/examples/browser.html': file(at('examples/browser.html'), 'text/html'),
      '/dist/browser.js': { body: js, type: 'text/javascript' },
      '/web/demo-assets/model.safetensors': file(at('web/demo-assets/model.safetensors'), 'application/octet-stream'),
      '/web/demo-assets/images.safetensors': file(at('web/demo-assets/images.safetensors'), 'application/octet-stream'),
    });
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${site.url}/examples/browser.html`);
      await page.waitForFunction(() => 'awmExample' in globalThis, null, { timeout: 30_000 });
      const result = (await page.evaluate(() => (globalThis as unknown as { awmExample: Promise<unknown> }).awmExample)) as {
        error?: string; backend: string; n: number; accuracy: number; asr: number;
      };
      const text = await page.textContent('#out');
      expect(errors).toEqual([]);
      expect(result.error).toBeUndefined();
      if (requireWebGpu) expect(result.backend).toBe('webgpu');
      expect(result.n).toBe(test.n);
      // WebGPU's float32 sums may round one borderline image the other way.
      expect(Math.abs(result.accuracy - expected.accuracy)).toBeLessThanOrEqual(1 / test.n + 1e-9);
      expect(Math.abs(result.asr - expected.asr)).toBeLessThanOrEqual(1 / test.n + 1e-9);
      expect(text).toContain(`clean accuracy: ${(100 * result.accuracy).toFixed(1)} %`);
      expect(await page.getAttribute('#out', 'data-status')).toBe('done');
    } finally {
      await browser.close();
      await site.close();
    }
  });
});

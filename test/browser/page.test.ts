/**
 * The web page in real Chromium (headless, WebGPU on SwiftShader): built with web/build.mjs and served
 * by web/serve.mjs exactly as `npm run web` does, then driven through playwright-core. One run of the
 * built-in demo on a tiny configuration must lower ASR and draw every view; the errors a person can
 * meet (no WebGPU, a file that is not a model, shapes that do not fit, images of the wrong size) must
 * be explained in the page. A screenshot of the finished run goes to test/browser/artifacts/page.png.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { chromiumAvailable, launchChromium } from '../helpers/chromium.js';
import { requireWebGpu } from '../helpers/backends.js';
import { encodePng } from '../../src/io/png.js';
import { serializeSafetensors } from '../../src/io/safetensors.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const artifacts = join(root, 'test/browser/artifacts');

/** Small enough for SwiftShader on two cores; the demo model's ASR still falls (checked below). */
const TINY = { method: 'awm+', rounds: '3', inner: '1', batch: '16', alpha: '0.5', tau: '25', 'trigger-lr': '10', 'mask-lr': '0.1', 'lr-decay': '0.9', copies: '4', candidates: '2', seed: '1', device: 'webgpu', 'mask-optimizer': 'layer-adam', 'suspect-shift': '0.5', 'suspect-target': '0.4' };

if (!chromiumAvailable) {
  if (requireWebGpu) throw new Error('AWM_REQUIRE_WEBGPU=1 but /usr/bin/chromium is missing (apt-get install chromium)');
  console.warn('\n*** web page test SKIPPED: /usr/bin/chromium not found (apt-get install chromium)\n');
}

/** Starts web/serve.mjs on a free port and resolves with the address it prints. */
function startServer(dir: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [join(root, 'web/serve.mjs'), '--dir', dir], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let said = '';
    const onData = (chunk: Buffer) => {
      said += chunk.toString();
      const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(said);
      if (m) resolve({ url: m[0], child });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`web/serve.mjs exited (${code}): ${said}`)));
  });
}

async function openPage(page: Page, url: string): Promise<string[]> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.state === 'idle', null, { timeout: 30_000 });
  return errors;
}

async function runAndWait(page: Page, timeout: number): Promise<void> {
  await page.click('#run');
  await page.waitForFunction(() => document.body.dataset.state === 'done' || document.body.dataset.state === 'error', null, { timeout });
}

async function shownError(page: Page): Promise<{ kind: string; text: string }> {
  return page.evaluate(() => {
    const box = document.getElementById('error')!;
    return box.hidden ? { kind: '', text: '' } : { kind: box.dataset.kind ?? '', text: (box.textContent ?? '').trim() };
  });
}

function grayPng(size: number, value: number): Buffer {
  return Buffer.from(encodePng({ width: size, height: size, channels: 1, data: new Uint8Array(size * size).fill(value) }));
}

describe.skipIf(!chromiumAvailable)('web page (headless Chromium, WebGPU on SwiftShader)', () => {
  let site: { url: string; child: ChildProcess };
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let dist: string;

  beforeAll(async () => {
    dist = mkdtempSync(join(tmpdir(), 'awm-web-'));
    const built = spawnSync(process.execPath, [join(root, 'web/build.mjs'), '--outdir', dist], { encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`web/build.mjs failed: ${built.stderr}${built.stdout}`);
    site = await startServer(dist);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    site?.child.kill();
    if (dist) rmSync(dist, { recursive: true, force: true });
  });

  it('runs the built-in demo on a tiny configuration: ASR falls, every view draws, the downloads are there', async () => {
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 1100, height: 900 });
    const log: string[] = [];
    page.on('console', (m) => log.push(m.text()));
    const errors = await openPage(page, site.url);
    for (const [id, value] of Object.entries(TINY)) {
      if (id === 'method' || id === 'device' || id === 'mask-optimizer') await page.selectOption(`#${id}`, value);
      else await page.fill(`#${id}`, value);
    }
    await page.check('#select-round');
    await page.check('#suspect-trigger');
    await page.check('#calibrate-head');
    const t0 = performance.now();
    await runAndWait(page, 280_000);
    const seconds = (performance.now() - t0) / 1000;
    const error = await shownError(page);
    expect(error.text, log.join('\n')).toBe('');
    expect(errors).toEqual([]);

    const result = await page.evaluate(() => {
      const drawn = (id: string) => Number(document.getElementById(id)!.dataset.drawn ?? '0');
      const metrics = document.getElementById('metrics')!.dataset;
      return {
        before: Number(metrics.beforeAsr), after: Number(metrics.afterAsr),
        accBefore: Number(metrics.beforeAcc), accAfter: Number(metrics.afterAcc),
        drawn: Object.fromEntries(['metrics', 'attack-example', 'triggers', 'losses', 'histograms', 'grad-norms', 'below-half', 'downloads'].map((id) => [id, drawn(id)])),
        triggers: document.querySelectorAll('#triggers canvas').length,
        captions: Array.from(document.querySelectorAll('#triggers figcaption'), (c) => c.textContent ?? ''),
        links: Array.from(document.querySelectorAll<HTMLAnchorElement>('#downloads a'), (a) => a.download),
        log: document.getElementById('log')!.textContent ?? '',
      };
    });
    console.log(`web page: demo run in ${seconds.toFixed(1)} s; ASR ${result.before} -> ${result.after}, clean accuracy ${result.accBefore} -> ${result.accAfter}\n${result.log}`);
    expect(result.log).toMatch(/device: WebGPU/);
    // AWM+ checks itself: the original agrees with itself; each of the two candidates is checked and one is kept.
    expect(result.log).toMatch(/self-check before: agreement with the original 100\.0 %/);
    expect(result.log).toMatch(/self-check of candidate 2: agreement with the original \d/);
    expect(result.log).toMatch(/kept candidate [12] \(seed [12]\)/);
    // Best round on: every round of every candidate is checked, and each candidate keeps one of its rounds.
    expect(result.log.match(/self-check after round \d/g)).toHaveLength(Number(TINY.rounds) * Number(TINY.candidates));
    expect(result.log.match(/kept the masks of round [123] of 3/g)).toHaveLength(Number(TINY.candidates));
    // The output check ("Fall back to AWM", on by default) ran on the kept output.
    expect(result.log).toMatch(/output check on composites of the clean images \(256 cut-and-paste, 256 mixtures\): [\d.]+ % of one kind moved into class \d/);
    // The options beyond the quick preset reach the run: the masks' optimiser, and the head calibration after them.
    expect(result.log).toMatch(/masks by layer-adam/);
    expect(result.log).toMatch(/suspect search: 7 trigger searches/);
    expect(result.log).toMatch(/unlearning the suspect search's \d trigger\(s\) into class \d on every other triggered image|suspect trigger: none to unlearn/);
    expect(result.log).toMatch(/suspect target: (each round also unlearns a trigger searched towards class \d inside L1 10\.00 \(0\.4 of tau\)|off \(no class named by the searches\))/);
    expect(result.log).toMatch(/suspect-class shift: (class \d's bias lowered by 0.5 \(the (suspect search's trigger|noise probe) sent [\d.]+ % of the check images there\)|none)/);
    expect(result.log).toMatch(/head calibration \(linear\) on \d+ fresh crops: cross-entropy to the original model [\d.]+ -> [\d.]+, weight moved [\d.]+ %/);
    expect(result.before).toBeGreaterThan(0.9);
    expect(result.after).toBeLessThan(result.before - 0.3);
    expect(result.accAfter).toBeGreaterThan(0.5);
    for (const [id, n] of Object.entries(result.drawn)) expect(n, `view #${id} drew`).toBeGreaterThan(0);
    // The live view draws every round's trigger of every candidate.
    expect(result.triggers).toBe(Number(TINY.rounds) * Number(TINY.candidates));
    // The demo's attack is a 3x3 patch: each caption says how much of the round's trigger lies on it.
    expect(result.captions).toHaveLength(result.triggers);
    for (const c of result.captions) expect(c).toMatch(/^round \d+: \d+ % on the real trigger$/);
    expect(result.links).toEqual(['demo-purified.safetensors', 'demo-report.md', 'demo-report.json']);
    const sizes = await page.evaluate(async () => Promise.all(Array.from(document.querySelectorAll<HTMLAnchorElement>('#downloads a'), async (a) => (await (await fetch(a.href)).arrayBuffer()).byteLength)));
    for (const size of sizes) expect(size).toBeGreaterThan(1000);
    const report = await page.evaluate(async () => {
      const link = Array.from(document.querySelectorAll<HTMLAnchorElement>('#downloads a')).find((a) => a.download.endsWith('.json'))!;
      return (await (await fetch(link.href)).json()) as { settings: Record<string, unknown>; details: { headCalibration?: { mode: string; weightChange: number }; suspectShift?: { shift: number } } };
    });
    expect(report.details.headCalibration?.mode).toBe('linear');
    expect(report.details.headCalibration?.weightChange).toBeGreaterThan(0);
    expect(report.settings).toMatchObject({ lrDecay: 0.9, maskOptimizer: 'layer-adam', calibrateHead: true, headFit: 'linear', suspectShift: 0.5, suspectTrigger: true, suspectTarget: 0.4 });
    expect(report.details.suspectShift?.shift).toBe(0.5);

    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'page.png'), fullPage: true });
    await page.close();
  }, 300_000);

  it('explains a file that is not a model, shapes that do not fit, and images of the wrong size', async () => {
    const page = await browser.context.newPage();
    await openPage(page, site.url);
    await page.check('input[name="source"][value="files"]');
    const demoModel = readFileSync(join(root, 'web/demo-assets/model.safetensors'));
    const cases: Array<{ model: { name: string; buffer: Buffer }; images: Array<{ name: string; buffer: Buffer }>; kind: string; says: RegExp }> = [
      { model: { name: 'holiday.safetensors', buffer: Buffer.from('this is not a model') }, images: [], kind: 'not-a-model', says: /holiday\.safetensors is not a model file/ },
      {
        model: { name: 'odd.safetensors', buffer: Buffer.from(serializeSafetensors({ 'conv1.weight': { shape: [4, 1, 3, 3], data: new Float32Array(36) }, 'fc1.weight': { shape: [3], data: new Float32Array(3) } })) },
        images: [], kind: 'shapes', says: /shapes in odd\.safetensors do not fit/,
      },
      {
        model: { name: 'demo.safetensors', buffer: demoModel },
        images: Array.from({ length: 10 }, (_, k) => ({ name: `${k}_shirt.png`, buffer: grayPng(k === 3 ? 32 : 28, 100) })),
        kind: 'image-size', says: /3_shirt\.png is 32x32 pixels, but the model takes 28x28/,
      },
    ];
    for (const c of cases) {
      await page.setInputFiles('#model-file', { ...c.model, mimeType: 'application/octet-stream' });
      await page.setInputFiles('#clean-files', c.images.map((f) => ({ ...f, mimeType: 'image/png' })));
      await runAndWait(page, 60_000);
      const error = await shownError(page);
      expect(error.kind, error.text).toBe(c.kind);
      expect(error.text).toMatch(c.says);
    }

    // A folder pick: labels come from the subfolder names, and a class without images is named.
    const folder = join(dist, 'picked');
    for (let k = 0; k < 9; k++) {
      mkdirSync(join(folder, String(k)), { recursive: true });
      writeFileSync(join(folder, String(k), 'a.png'), grayPng(28, 20 * k));
    }
    await page.setInputFiles('#clean-files', []);
    await page.setInputFiles('#clean-folder', folder);
    await runAndWait(page, 60_000);
    const error = await shownError(page);
    expect(error.kind, error.text).toBe('images');
    expect(error.text).toMatch(/Class 9 has no clean image/);
    expect(await page.textContent('#log')).toMatch(/clean images: 9;/);
    await page.close();
  });

  it('explains one round of the demo step by step, on the CPU, even where the browser has no WebGPU', async () => {
    const page = await browser.context.newPage();
    await page.addInitScript(() => {
      delete (Navigator.prototype as unknown as { gpu?: unknown }).gpu;
    });
    const errors = await openPage(page, site.url);
    await page.fill('#inner', '2');
    await page.click('#explain-round');
    await page.waitForFunction(() => document.body.dataset.state === 'done' || document.body.dataset.state === 'error', null, { timeout: 60_000 });
    const shown = await page.evaluate(() => ({
      state: document.body.dataset.state,
      status: document.getElementById('status')!.textContent,
      hidden: document.getElementById('view-explain')!.hidden,
      agrees: document.getElementById('view-explain')!.dataset.agrees,
      text: document.getElementById('explain')!.textContent ?? '',
      trigger: { hidden: document.getElementById('explain-trigger-figure')!.hidden, width: (document.getElementById('explain-trigger') as HTMLCanvasElement).width },
    }));
    expect(shown.state, shown.text).toBe('done');
    expect(shown).toMatchObject({ hidden: false, agrees: 'true', status: 'one round explained; every check agrees' });
    // The round's trigger is drawn: 28 pixels at 4x zoom.
    expect(shown.trigger).toEqual({ hidden: false, width: 112 });
    expect(shown.text).toMatch(/^One round of the faithful AWM on 20 clean images, on the CPU in float64/);
    expect(shown.text).toMatch(/batch 16, 2 step\(s\) per phase per pass, alpha 0.5, tau 25.00/);
    expect(shown.text).toMatch(/== 1\. Phase 1[^]*step {2}2: CE [^]*== 2\. Phase 2[^]*conv1 \[\d+, 0, \d, \d\]: autograd \S+, numeric \S+: agree/);
    expect(shown.text).toMatch(/The model's own trigger covers 1\.1 % of the pixels/);
    expect(shown.text).toMatch(/\(identical\)\.\nEvery check agrees\.$/);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('scans the demo model: names its BadNets target and draws the labelled triggers', async () => {
    const page = await browser.context.newPage();
    const errors = await openPage(page, site.url);
    await page.click('#scan');
    await page.waitForFunction(() => document.body.dataset.state === 'done' || document.body.dataset.state === 'error', null, { timeout: 120_000 });
    const shown = await page.evaluate(() => ({
      state: document.body.dataset.state,
      log: document.getElementById('log')!.textContent ?? '',
      hidden: document.getElementById('view-scan')!.hidden,
      backdoored: document.getElementById('view-scan')!.dataset.backdoored,
      target: document.getElementById('view-scan')!.dataset.target,
      verdict: document.getElementById('scan-verdict')!.textContent ?? '',
      table: document.getElementById('scan-table')!.textContent ?? '',
      width: (document.getElementById('scan-picture') as HTMLCanvasElement).width,
    }));
    expect(shown.state, shown.log).toBe('done');
    expect(shown).toMatchObject({ hidden: false, backdoored: 'true', target: '0' });
    expect(shown.verdict).toMatch(/^backdoored: class 0 is the target/);
    expect(shown.table).toMatch(/^0 T-shirt\/top .*<- target$/m);
    expect(shown.width).toBeGreaterThan(900);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('says so when the browser has no WebGPU', async () => {
    const page = await browser.context.newPage();
    await page.addInitScript(() => {
      delete (Navigator.prototype as unknown as { gpu?: unknown }).gpu;
    });
    await openPage(page, site.url);
    expect(await shownError(page)).toMatchObject({ kind: 'no-webgpu', text: expect.stringMatching(/This browser has no WebGPU/) });
    await runAndWait(page, 30_000);
    expect(await shownError(page)).toMatchObject({ kind: 'no-webgpu', text: expect.stringMatching(/CPU \(slow\)/) });
    await page.close();
  });
});

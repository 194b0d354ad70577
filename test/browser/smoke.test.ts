import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { bundle, chromiumAvailable, launchChromium, serve } from '../helpers/chromium.js';
import { requireWebGpu } from '../helpers/backends.js';

if (!chromiumAvailable) {
  if (requireWebGpu) throw new Error('AWM_REQUIRE_WEBGPU=1 but /usr/bin/chromium is missing (apt-get install chromium)');
  console.warn('\n*** browser smoke test SKIPPED: /usr/bin/chromium not found (apt-get install chromium)\n');
}

describe.skipIf(!chromiumAvailable)('browser smoke test (headless Chromium, WebGPU on SwiftShader)', () => {
  it('the same bundle runs matmul and conv2d (forward and backward) on navigator.gpu and matches the CPU backend', async () => {
    const js = await bundle(fileURLToPath(new URL('./smoke-entry.ts', import.meta.url)));
    const site = await serve({
      '/': { body: '<!doctype html><script type="module" src="/smoke.js"></script>', type: 'text/html' },
      '/smoke.js': { body: js, type: 'text/javascript' },
    });
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(site.url);
      await page.waitForFunction(() => 'smokeResult' in globalThis, null, { timeout: 60_000 });
      const result = (await page.evaluate(() => (globalThis as unknown as { smokeResult: Promise<unknown> }).smokeResult)) as {
        error?: string; backend: string; maxErr: Record<string, number>; sizes: Record<string, number>;
      };
      expect(errors).toEqual([]);
      expect(result.error).toBeUndefined();
      expect(result.backend).toMatch(/WebGPU/);
      expect(result.sizes).toEqual({ mm: 33 * 9, y: 2 * 5 * 5 * 4, dx: 2 * 3 * 9 * 7, dw: 5 * 3 * 3 * 3 });
      for (const [k, err] of Object.entries(result.maxErr)) expect(err, k).toBeLessThan(1e-3);
    } finally {
      await browser.close();
      await site.close();
    }
  });
});

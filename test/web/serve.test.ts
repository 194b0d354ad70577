/**
 * web/serve.mjs against hostile request paths: malformed escapes get 400, escapes from the page's
 * folder 403, missing files 404, and after all of them the server still answers. Requests go over
 * raw sockets to 127.0.0.1, so the paths reach the server byte for byte (no client normalises them).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const INDEX = '<!doctype html><title>serve test</title>';

let dir: string;
let child: ChildProcess;
let port: number;
let exited: number | null | undefined;

function startServer(): Promise<number> {
  child = spawn(process.execPath, [join(repo, 'web/serve.mjs'), '--dir', join(dir, 'site')], {
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.on('exit', (code) => {
    exited = code;
  });
  return new Promise((resolve, reject) => {
    let said = '';
    const timer = setTimeout(() => reject(new Error(`web/serve.mjs printed no address in 10 s: ${said}`)), 10_000);
    const onData = (chunk: Buffer) => {
      said += chunk.toString();
      const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(said);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`web/serve.mjs exited (${code}): ${said}`)));
  });
}

/** Sends `GET <target>` exactly as given and resolves with the status code and body. */
function get(target: string | Uint8Array): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    socket.setTimeout(5_000, () => socket.destroy(new Error(`no answer to GET ${String(target).slice(0, 60)} in 5 s`)));
    socket.on('connect', () => {
      socket.write(Buffer.concat([Buffer.from('GET '), Buffer.from(target), Buffer.from(' HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')]));
    });
    socket.on('data', (chunk) => chunks.push(chunk));
    // A server that refuses an oversized request answers and closes while the request is still being written; the
    // answer it sent first is what counts, the reset that follows is not a failure.
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET' && /^HTTP\/1\.1 \d{3}/.test(Buffer.concat(chunks).toString('latin1'))) return;
      reject(e);
    });
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (!m) return reject(new Error(`not an HTTP answer: ${JSON.stringify(text.slice(0, 80))}`));
      resolve({ status: Number(m[1]), body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'serve-test-'));
  mkdirSync(join(dir, 'site', 'sub'), { recursive: true });
  writeFileSync(join(dir, 'site', 'index.html'), INDEX);
  writeFileSync(join(dir, 'site', 'sub', 'a.js'), 'export {};');
  // A file next to the served folder: what a path escape would reach.
  writeFileSync(join(dir, 'secret.txt'), 'secret');
  port = await startServer();
}, 20_000);

afterAll(() => {
  if (child && exited === undefined) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('web/serve.mjs', () => {
  it('serves the page and its files', async () => {
    expect(await get('/')).toEqual({ status: 200, body: INDEX });
    expect(await get('/index.html?x=1#y')).toEqual({ status: 200, body: INDEX });
    expect((await get('/sub/a.js')).status).toBe(200);
    expect((await get('/sub/%61.js')).status).toBe(200);
    expect((await get('/missing.js')).status).toBe(404);
    expect((await get('/sub')).status).toBe(404);
  });

  const hostile: Array<[string, number]> = [
    ['/%', 400],
    ['/%zz', 400],
    ['/%E0%A4%A', 400],
    ['/%ff', 400],
    ['/%00', 400],
    ['/index.html%00.js', 400],
    ['/..%5c..%5csecret.txt', 400],
    ['/%5c', 400],
    ['*', 400],
    ['/..%2f..%2fetc/passwd', 403],
    ['/..%2fsecret.txt', 403],
    ['/../secret.txt', 403],
    ['/../package.json', 403],
    ['/sub/../../secret.txt', 403],
    ['/%2e%2e/secret.txt', 403],
    ['//', 200],
    ['//etc/passwd', 404],
    ['///../secret.txt', 403],
    [`/${'a'.repeat(8_000)}`, 404],
    [`/${'a/'.repeat(3_000)}`, 404],
  ];
  for (const [target, status] of hostile) {
    it(`GET ${target.length > 40 ? `${target.slice(0, 20)}... (${target.length} chars)` : target} answers ${status}`, async () => {
      const answer = await get(target);
      expect(answer.status).toBe(status);
      expect(answer.body).not.toContain('secret');
    });
  }

  it('a raw NUL byte or a path beyond the header limit is refused by the HTTP layer', async () => {
    expect((await get(Uint8Array.from([0x2f, 0x61, 0x00, 0x62]))).status).toBe(400);
    expect((await get(`/${'b'.repeat(100_000)}`)).status).toBe(431);
  });

  it('is still alive and serving after every hostile request', async () => {
    await Promise.all(hostile.map(([target]) => get(target)));
    expect(exited).toBeUndefined();
    expect(await get('/')).toEqual({ status: 200, body: INDEX });
  });
});

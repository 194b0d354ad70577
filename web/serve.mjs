#!/usr/bin/env node
// Serves the built page (web/dist, or --dir DIR) on 127.0.0.1 and prints its address. Port: $PORT,
// else 8080, or the next free one; PORT=0 picks any free port. Local only: the page needs nothing else.
// Malformed URLs get 400, paths leaving the folder 403, missing files 404; no request stops the server.
import { createServer } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const at = process.argv.indexOf('--dir');
const root = resolve(at > 0 ? process.argv[at + 1] : join(here, 'dist'));
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.map': 'application/json', '.safetensors': 'application/octet-stream', '.png': 'image/png',
};

if (!existsSync(join(root, 'index.html'))) {
  console.error(`web/serve: ${root} has no index.html; build it first (node web/build.mjs)`);
  process.exit(1);
}

/**
 * The request's path, percent-decoded, or null when it is malformed: bad escapes (`/%`, `/%zz`), a
 * target that is not a path, NUL bytes, or backslashes (a separator on Windows, never in the page's names).
 */
function requestPath(url) {
  const raw = (url ?? '/').split(/[?#]/, 1)[0];
  if (!raw.startsWith('/')) return null;
  let path;
  try {
    path = decodeURIComponent(raw);
  } catch {
    return null;
  }
  return path.includes('\0') || path.includes('\\') ? null : path;
}

function answer(req, res) {
  const path = requestPath(req.url);
  if (path === null) return void res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request');
  const file = normalize(join(root, path.endsWith('/') ? `${path}index.html` : path));
  // Nothing outside the page's folder is served, whatever the URL says.
  if (file !== root && !file.startsWith(root + sep)) return void res.writeHead(403, { 'content-type': 'text/plain' }).end('forbidden');
  if (!existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  const body = readFileSync(file);
  res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': body.length, 'cache-control': 'no-store' });
  res.end(body);
}

// A request can fail (an unreadable file, a name the file system refuses) but never stops the server.
const server = createServer((req, res) => {
  try {
    answer(req, res);
  } catch (e) {
    console.error(`web/serve: ${req.method} ${JSON.stringify(req.url)}: ${e.message}`);
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end('internal error');
  }
});

function listen(port, triesLeft) {
  server.once('error', (e) => {
    if (e.code === 'EADDRINUSE' && triesLeft > 0) return listen(port + 1, triesLeft - 1);
    console.error(`web/serve: cannot listen on 127.0.0.1:${port}: ${e.message}`);
    process.exit(1);
  });
  server.listen(port, '127.0.0.1', () => {
    console.log(`AWM page: http://127.0.0.1:${server.address().port}/  (serving ${root}; Ctrl+C to stop)`);
  });
}

const requested = process.env.PORT === undefined ? 8080 : Number(process.env.PORT);
listen(requested, requested === 0 ? 0 : 20);

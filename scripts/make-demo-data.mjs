#!/usr/bin/env node
// Builds the small Fashion-MNIST subset shipped in data/fashion-mnist-subset (the demo's default
// data when the full set is not installed): the first 600 training and 100 test images of each
// class, in the official IDX format, gzipped. Source: Debian's dataset-fashion-mnist package.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';

const src = process.argv[2] ?? '/usr/share/datasets/fashion-mnist';
const out = process.argv[3] ?? 'data/fashion-mnist-subset';
mkdirSync(out, { recursive: true });

function pick(split, perClass) {
  const img = gunzipSync(readFileSync(`${src}/${split}-images-idx3-ubyte.gz`));
  const lab = gunzipSync(readFileSync(`${src}/${split}-labels-idx1-ubyte.gz`));
  const n = lab.readUInt32BE(4);
  const counts = new Array(10).fill(0);
  const chosen = [];
  for (let i = 0; i < n; i++) {
    const y = lab[8 + i];
    if (counts[y] < perClass) { counts[y]++; chosen.push(i); }
  }
  const imgOut = Buffer.alloc(16 + chosen.length * 784);
  img.copy(imgOut, 0, 0, 16);
  imgOut.writeUInt32BE(chosen.length, 4);
  const labOut = Buffer.alloc(8 + chosen.length);
  lab.copy(labOut, 0, 0, 8);
  labOut.writeUInt32BE(chosen.length, 4);
  chosen.forEach((i, k) => { img.copy(imgOut, 16 + k * 784, 16 + i * 784, 16 + (i + 1) * 784); labOut[8 + k] = lab[8 + i]; });
  writeFileSync(`${out}/${split}-images-idx3-ubyte.gz`, gzipSync(imgOut, { level: 9 }));
  writeFileSync(`${out}/${split}-labels-idx1-ubyte.gz`, gzipSync(labOut, { level: 9 }));
  console.log(`${split}: ${chosen.length} images`);
}
pick('train', 600);
pick('t10k', 100);

import { it } from 'vitest';
import { cpu64, gpuBackend, randomArray } from '../helpers/backends.js';
it('timing', async () => {
  const gpu = gpuBackend!;
  const lines: string[] = [];
  for (const [rows, cols] of [[65537, 64], [65537, 8], [2048, 64], [2048, 1000], [256, 4096], [1, 100000]] as const) {
    const x = randomArray(rows * cols, 77, -5, 5);
    const xs = gpu.upload(x, 'float32');
    await gpu.sync();
    let t = performance.now();
    const o = gpu.softmax(xs, rows, cols, true); await gpu.sync();
    const first = performance.now() - t;
    t = performance.now();
    const o2 = gpu.softmax(xs, rows, cols, true); await gpu.sync();
    const g = performance.now() - t;
    lines.push(`${rows} ${cols} gpu first ${first.toFixed(0)} gpu ${g.toFixed(0)}`);
    gpu.release(o); gpu.release(o2); gpu.release(xs);
  }
  require('fs').writeFileSync('/tmp/gs/timing.txt', lines.join('\n'));
}, 120000);

/** One histogram of mask values per conv layer, redrawn after every round. */
import { markDrawn, prepareCanvas } from '../dom.js';
import { drawHistogram } from '../charts.js';
import type { LayerMaskStats } from '../../../src/awm/purify.js';

const CELL_W = 170;
const CELL_H = 110;
const PER_ROW = 4;

export class MaskHistogramView {
  constructor(private readonly canvas: HTMLCanvasElement) {}

  reset(): void {
    prepareCanvas(this.canvas, PER_ROW * CELL_W, CELL_H).clearRect(0, 0, PER_ROW * CELL_W, CELL_H);
    delete this.canvas.dataset.drawn;
  }

  draw(stats: readonly LayerMaskStats[]): void {
    const perRow = Math.min(PER_ROW, Math.max(1, stats.length));
    const rows = Math.ceil(stats.length / perRow);
    const ctx = prepareCanvas(this.canvas, perRow * CELL_W, rows * CELL_H);
    stats.forEach((s, i) => {
      drawHistogram(ctx, (i % perRow) * CELL_W + 8, Math.floor(i / perRow) * CELL_H, CELL_W - 20, CELL_H - 4, s.histogram, `${s.layer} (${s.size})`);
    });
    markDrawn(this.canvas);
  }
}

/**
 * Per-layer views: how hard the loss pulls on each layer's mask (L2 norm of its gradient, at the
 * latest mask step) and how much of each layer AWM has switched off (fraction of the mask below 0.5).
 */
import { markDrawn, prepareCanvas, percent } from '../dom.js';
import { COLORS, drawBars } from '../charts.js';
import type { LayerMaskStats } from '../../../src/awm/purify.js';

const WIDTH = 440;

export class LayerView {
  constructor(private readonly grads: HTMLCanvasElement, private readonly below: HTMLCanvasElement, private readonly stepLabel: HTMLElement) {}

  reset(): void {
    for (const c of [this.grads, this.below]) {
      prepareCanvas(c, WIDTH, 40).clearRect(0, 0, WIDTH, 40);
      delete c.dataset.drawn;
    }
    this.stepLabel.textContent = '';
  }

  drawGradients(norms: ReadonlyArray<{ layer: string; norm: number }>, where: string): void {
    this.draw(this.grads, norms.map((n) => ({ label: n.layer, value: n.norm })), { log: true, format: (v) => v.toExponential(2), color: COLORS.clean });
    this.stepLabel.textContent = where;
  }

  drawBelowHalf(stats: readonly LayerMaskStats[]): void {
    this.draw(this.below, stats.map((s) => ({ label: s.layer, value: s.below05 })), { max: 1, format: percent, color: COLORS.below });
  }

  private draw(canvas: HTMLCanvasElement, bars: Array<{ label: string; value: number }>, opts: { max?: number; log?: boolean; format: (v: number) => string; color: string }): void {
    const height = bars.length * 18 + 6;
    drawBars(prepareCanvas(canvas, WIDTH, height), WIDTH, bars, opts);
    markDrawn(canvas);
  }
}

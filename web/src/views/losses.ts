/** The mask objective's terms at every mask step: clean CE, triggered CE and their weighted total. */
import { markDrawn, prepareCanvas } from '../dom.js';
import { COLORS, drawLines } from '../charts.js';
import type { AwmMaskStepInfo } from '../../../src/awm/awm.js';

const WIDTH = 720;
const HEIGHT = 240;

export class LossView {
  private clean: number[] = [];
  private triggered: number[] = [];
  private total: number[] = [];
  private roundStarts: number[] = [];
  private lastRound = 0;

  constructor(private readonly canvas: HTMLCanvasElement) {}

  reset(): void {
    this.clean = [];
    this.triggered = [];
    this.total = [];
    this.roundStarts = [];
    this.lastRound = 0;
    prepareCanvas(this.canvas, WIDTH, HEIGHT).clearRect(0, 0, WIDTH, HEIGHT);
    delete this.canvas.dataset.drawn;
  }

  add(step: AwmMaskStepInfo): void {
    if (step.round !== this.lastRound && this.total.length > 0) this.roundStarts.push(this.total.length);
    this.lastRound = step.round;
    this.clean.push(step.cleanLoss);
    this.triggered.push(step.triggeredLoss);
    this.total.push(step.loss);
    const last = (xs: number[]) => xs[xs.length - 1]!.toFixed(3);
    drawLines(prepareCanvas(this.canvas, WIDTH, HEIGHT), WIDTH, HEIGHT, [
      { name: `clean CE ${last(this.clean)}`, color: COLORS.clean, values: this.clean },
      { name: `triggered CE ${last(this.triggered)}`, color: COLORS.triggered, values: this.triggered },
      { name: `total ${last(this.total)}`, color: COLORS.total, values: this.total },
    ], { xLabel: 'mask step (dashed lines: a new round and a new trigger)', marks: this.roundStarts });
    markDrawn(this.canvas);
  }
}

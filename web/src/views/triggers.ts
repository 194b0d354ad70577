/** The trigger recovered in each round, drawn as an image (grey = unchanged, bright = added, dark = removed). */
import { el, markDrawn } from '../dom.js';
import { drawRgb } from '../charts.js';
import { triggerToRgb } from '../../../src/awm/pictures.js';
import type { AwmRoundStats } from '../../../src/awm/awm.js';

export class TriggerView {
  constructor(private readonly strip: HTMLElement) {}

  reset(): void {
    this.strip.replaceChildren();
    delete this.strip.dataset.drawn;
  }

  add(stats: AwmRoundStats, shape: { c: number; h: number; w: number }): void {
    const figure = el('figure', '', { class: 'trigger' });
    const canvas = el('canvas');
    const zoom = Math.max(1, Math.round(112 / Math.max(shape.h, shape.w)));
    drawRgb(canvas, triggerToRgb(stats.trigger, shape.c, shape.h, shape.w), shape.w, shape.h, zoom);
    canvas.title = `round ${stats.round}: L1 ${stats.triggerL1.toFixed(1)} rescaled to ${stats.triggerL1Rescaled.toFixed(1)}`;
    figure.append(canvas, el('figcaption', `round ${stats.round}`));
    this.strip.append(figure);
    markDrawn(this.strip);
  }
}

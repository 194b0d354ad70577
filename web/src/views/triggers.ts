/** The trigger recovered in each round, drawn as an image (grey = unchanged, bright = added, dark = removed). */
import { el, markDrawn } from '../dom.js';
import { drawRgb } from '../charts.js';
import { triggerToRgb } from '../../../src/awm/pictures.js';
import type { AwmRoundStats } from '../../../src/awm/awm.js';
import { footprintShare } from '../../../src/awm/trigger-footprint.js';

export class TriggerView {
  /** The real trigger's pixels, when the page knows the attack: only to caption the pictures, AWM never sees it. */
  private footprint: Uint8Array | undefined;

  constructor(private readonly strip: HTMLElement) {}

  reset(): void {
    this.strip.replaceChildren();
    delete this.strip.dataset.drawn;
    this.footprint = undefined;
  }

  setFootprint(footprint: Uint8Array | undefined): void {
    this.footprint = footprint;
  }

  add(stats: AwmRoundStats, shape: { c: number; h: number; w: number }): void {
    const figure = el('figure', '', { class: 'trigger' });
    const canvas = el('canvas');
    const zoom = Math.max(1, Math.round(112 / Math.max(shape.h, shape.w)));
    drawRgb(canvas, triggerToRgb(stats.trigger, shape.c, shape.h, shape.w), shape.w, shape.h, zoom);
    canvas.title = `round ${stats.round}: L1 ${stats.triggerL1.toFixed(1)} rescaled to ${stats.triggerL1Rescaled.toFixed(1)}`;
    const onReal = this.footprint ? footprintShare(stats.trigger, shape.c, shape.h, shape.w, this.footprint).share : undefined;
    figure.append(canvas, el('figcaption', onReal === undefined ? `round ${stats.round}` : `round ${stats.round}: ${(100 * onReal).toFixed(0)} % on the real trigger`));
    this.strip.append(figure);
    markDrawn(this.strip);
  }
}

/** Clean accuracy and attack success rate before and after, on the evaluation images. */
import { byId, markDrawn, percent } from '../dom.js';
import type { BackdoorMetrics } from '../../../src/attacks/metrics.js';

export type When = 'before' | 'after';

export class MetricsView {
  constructor(private readonly table: HTMLElement, private readonly note: HTMLElement) {}

  reset(note = ''): void {
    for (const when of ['before', 'after'] as const) {
      byId(`${when}-acc`).textContent = '–';
      byId(`${when}-asr`).textContent = '–';
      delete this.table.dataset[`${when}Asr`];
      delete this.table.dataset[`${when}Acc`];
    }
    this.note.textContent = note;
    delete this.table.dataset.drawn;
  }

  show(when: When, m: BackdoorMetrics): void {
    byId(`${when}-acc`).textContent = percent(m.cleanAccuracy);
    byId(`${when}-asr`).textContent = percent(m.asr);
    // Raw values for the browser test (the text is rounded).
    this.table.dataset[`${when}Asr`] = String(m.asr);
    this.table.dataset[`${when}Acc`] = String(m.cleanAccuracy);
    markDrawn(this.table);
  }

  explain(note: string): void {
    this.note.textContent = note;
  }
}

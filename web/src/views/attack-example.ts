/** One evaluation image without and with the real trigger, to compare with the recovered ones. */
import { el, markDrawn } from '../dom.js';
import { drawRgb } from '../charts.js';
import type { ImageDataset } from '../../../src/data/dataset.js';
import { compileTrigger, toFloatImages, toUint8Images, type AttackSpec } from '../../../src/attacks/index.js';
import { attackTarget } from '../../../src/attacks/labels.js';

function toRgb(chw: Uint8Array, c: number, h: number, w: number): Uint8Array {
  const out = new Uint8Array(h * w * 3);
  for (let p = 0; p < h * w; p++) for (let k = 0; k < 3; k++) out[p * 3 + k] = chw[Math.min(k, c - 1) * h * w + p]!;
  return out;
}

export class AttackExampleView {
  constructor(private readonly box: HTMLElement) {}

  reset(): void {
    this.box.replaceChildren();
    delete this.box.dataset.drawn;
  }

  show(ds: ImageDataset, attack: AttackSpec): void {
    this.reset();
    const rule = attack.backdoors[0]!.label;
    let i = 0;
    while (i < ds.n - 1 && attackTarget(rule, ds.labels[i]!, ds.numClasses) === ds.labels[i]) i++;
    const per = ds.c * ds.h * ds.w;
    const image = ds.images.subarray(i * per, (i + 1) * per);
    const triggered = toUint8Images(compileTrigger(attack.backdoors[0]!.trigger, ds)(toFloatImages(image)));
    const zoom = Math.max(1, Math.round(112 / Math.max(ds.h, ds.w)));
    const name = (k: number) => ds.classNames?.[k] ?? `class ${k}`;
    const target = attackTarget(rule, ds.labels[i]!, ds.numClasses);
    for (const [pixels, caption] of [[image, `clean: ${name(ds.labels[i]!)}`], [triggered, `with the real trigger (attacker’s class: ${name(target)})`]] as const) {
      const figure = el('figure', '', { class: 'trigger' });
      const canvas = el('canvas');
      drawRgb(canvas, toRgb(pixels, ds.c, ds.h, ds.w), ds.w, ds.h, zoom);
      figure.append(canvas, el('figcaption', caption));
      this.box.append(figure);
    }
    markDrawn(this.box);
  }
}

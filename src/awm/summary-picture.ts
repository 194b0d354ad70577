/**
 * The demo's one-glance picture: a few triggered test images with the model's answer before and after
 * the defense, the attack's trigger beside the one the defense recovered, and clean accuracy and attack
 * success as labelled bars before and after. Browser-safe; drawn from plain numbers, so any caller with
 * predictions can make one.
 */
import { blankImage, drawRgb, drawText, fillRect, lineHeight, strokeRect, textWidth, wrapText, type Rgb } from '../io/draw.js';
import type { RasterImage } from '../io/raster.js';
import { COLOR_SCALE_HEIGHT, MARGIN, PALETTE, colorScale, fitText, pct, signColor, swatch, swatchWidth, titleBlock, titleHeight, titleWidth } from './picture-parts.js';
import { triggerToRgb } from './pictures.js';

export interface SummaryExample {
  /** The triggered image, C x H x W values in [0, 1]. */
  image: ArrayLike<number>;
  /** Its true class, and the model's answer before and after the defense. */
  label: number;
  before: number;
  after: number;
}

export interface SummaryRates {
  cleanAccuracy: number;
  asr: number;
}

export interface SummaryInput {
  title: string;
  /** Lines under the title (what data, attack and defense). */
  subtitles?: readonly string[];
  shape: { c: number; h: number; w: number };
  classNames?: readonly string[];
  /** The attack's target class. */
  target: number;
  examples: readonly SummaryExample[];
  /** What the attack's trigger does to an image (C x H x W; drawn as triggerToRgb draws a recovered trigger). */
  trueTrigger?: ArrayLike<number>;
  recovered?: { delta: ArrayLike<number>; caption: string };
  before: SummaryRates;
  after: SummaryRates;
  /** How many test images the rates were measured on. */
  evaluationImages?: number;
}

const TILE_GAP = 12;
const BAR_W = 300;
const BAR_H = 14;
const BAR_GROUP_GAP = 8;
/** Lines a trigger's caption may wrap to. */
const CAPTION_LINES = 2;

/** Images in [0, 1] (C x H x W) as HWC RGB bytes; one channel repeats over the three. */
export function imageToRgb(image: ArrayLike<number>, c: number, h: number, w: number): Uint8Array {
  const out = new Uint8Array(h * w * 3);
  for (let p = 0; p < h * w; p++) {
    for (let k = 0; k < 3; k++) out[p * 3 + k] = Math.round(255 * Math.min(1, Math.max(0, image[(c === 1 ? 0 : Math.min(k, c - 1)) * h * w + p]!)));
  }
  return out;
}

/** Green for the right class, red for the attack's target, grey for any other wrong class. */
export function answerColor(answer: number, label: number, target: number): Rgb {
  return answer === label ? PALETTE.right : answer === target ? PALETTE.target : PALETTE.otherWrong;
}

export function summaryPicture(s: SummaryInput): RasterImage {
  const { c, h, w } = s.shape;
  const name = (k: number) => s.classNames?.[k] ?? String(k);
  const subtitles = s.subtitles ?? [];
  const zoom = Math.max(1, Math.round(84 / Math.max(h, w)));
  const tileW = Math.max(w * zoom, 120);
  const tileH = h * zoom + 4 + 3 * lineHeight();
  const perRow = Math.max(1, Math.min(6, s.examples.length));
  const rows = Math.ceil(s.examples.length / perRow);
  const answerLegend = ['right class', `the attack's target (${name(s.target)})`, 'another wrong class'];

  const trigZoom = Math.max(1, Math.round(112 / Math.max(h, w)));
  const trigW = Math.max(w * trigZoom, 130);
  const triggers = [
    ...(s.trueTrigger ? [{ delta: s.trueTrigger, caption: 'the attack\'s (true)' }] : []),
    ...(s.recovered ? [s.recovered] : []),
  ];
  const trigSectionW = Math.max(triggers.length * (trigW + TILE_GAP) - TILE_GAP, 112 + 60, textWidth('Trigger: the attack\'s and the recovered one'));
  const trigSectionH = triggers.length ? lineHeight() + 4 + h * trigZoom + 4 + CAPTION_LINES * lineHeight() + 6 + COLOR_SCALE_HEIGHT : 0;

  const barLabelW = textWidth('attack success (ASR)') + 10;
  const barSectionW = barLabelW + BAR_W + 10 + textWidth('100.0 %');
  const barSectionH = lineHeight() + 4 + lineHeight() + 6 + 2 * (2 * (BAR_H + 3) + BAR_GROUP_GAP) + 6 + lineHeight();

  const examplesW = perRow * (tileW + TILE_GAP) - TILE_GAP;
  const legendW = answerLegend.reduce((a, l) => a + swatchWidth(l), 0);
  const bottomW = (trigSectionH ? trigSectionW + 30 : 0) + barSectionW;
  const width = Math.max(titleWidth(s.title, subtitles), 2 * MARGIN + Math.max(examplesW, legendW, bottomW, textWidth('Triggered test images: the model\'s answer before and after the defense')));
  const top = titleHeight(subtitles);
  const examplesH = s.examples.length ? lineHeight() + 4 + lineHeight() + 6 + rows * (tileH + TILE_GAP) : 0;
  const height = top + examplesH + Math.max(trigSectionH, barSectionH) + MARGIN;
  const image = blankImage(width, height);
  titleBlock(image, s.title, subtitles);

  let y = top;
  if (s.examples.length) {
    drawText(image, 'Triggered test images: the model\'s answer before and after the defense', MARGIN, y, { color: PALETTE.text });
    y += lineHeight() + 4;
    let lx = MARGIN;
    [PALETTE.right, PALETTE.target, PALETTE.otherWrong].forEach((color, k) => (lx = swatch(image, lx, y, color, answerLegend[k]!)));
    y += lineHeight() + 6;
    s.examples.forEach((ex, i) => {
      const x = MARGIN + (i % perRow) * (tileW + TILE_GAP);
      const ty = y + Math.floor(i / perRow) * (tileH + TILE_GAP);
      drawRgb(image, imageToRgb(ex.image, c, h, w), w, h, x, ty, zoom);
      strokeRect(image, x - 1, ty - 1, w * zoom + 2, h * zoom + 2, PALETTE.frame);
      const ly = ty + h * zoom + 4;
      drawText(image, fitText(`true: ${name(ex.label)}`, tileW), x, ly, { color: PALETTE.text });
      drawText(image, fitText(`before: ${name(ex.before)}`, tileW), x, ly + lineHeight(), { color: answerColor(ex.before, ex.label, s.target) });
      drawText(image, fitText(`after: ${name(ex.after)}`, tileW), x, ly + 2 * lineHeight(), { color: answerColor(ex.after, ex.label, s.target) });
    });
    y += rows * (tileH + TILE_GAP);
  }

  let bx = MARGIN;
  if (triggers.length) {
    drawText(image, 'Trigger: the attack\'s and the recovered one', bx, y, { color: PALETTE.text });
    const ty = y + lineHeight() + 4;
    triggers.forEach((t, i) => {
      const x = bx + i * (trigW + TILE_GAP);
      const ix = x + Math.floor((trigW - w * trigZoom) / 2);
      drawRgb(image, triggerToRgb(t.delta, c, h, w), w, h, ix, ty, trigZoom);
      strokeRect(image, ix - 1, ty - 1, w * trigZoom + 2, h * trigZoom + 2, PALETTE.frame);
      wrapText(t.caption, trigW).slice(0, CAPTION_LINES).forEach((line, k) => {
        drawText(image, fitText(line, trigW), x + trigW / 2, ty + h * trigZoom + 4 + k * lineHeight(), { align: 'center', color: PALETTE.muted });
      });
    });
    const sy = ty + h * trigZoom + 4 + CAPTION_LINES * lineHeight() + 6;
    colorScale(image, bx, sy, 112, (t) => signColor(2 * t - 1), ['-', '0', '+'], 'removed / added');
    bx += trigSectionW + 30;
  }

  drawText(image, `Clean accuracy and attack success${s.evaluationImages ? ` (${s.evaluationImages} test images)` : ''}`, bx, y, { color: PALETTE.text });
  let by = y + lineHeight() + 4;
  swatch(image, swatch(image, bx, by, PALETTE.before, 'before the defense (backdoored)'), by, PALETTE.after, 'after the defense');
  by += lineHeight() + 6;
  const groups: Array<[string, number, number]> = [
    ['clean accuracy', s.before.cleanAccuracy, s.after.cleanAccuracy],
    ['attack success (ASR)', s.before.asr, s.after.asr],
  ];
  const barX = bx + barLabelW;
  for (const [label, before, after] of groups) {
    drawText(image, label, bx, by + BAR_H - 2, { color: PALETTE.text });
    for (const [value, color] of [[before, PALETTE.before], [after, PALETTE.after]] as const) {
      fillRect(image, barX, by, BAR_W, BAR_H, PALETTE.grid);
      fillRect(image, barX, by, Math.round(BAR_W * Math.min(1, Math.max(0, value))), BAR_H, color);
      drawText(image, pct(value), barX + BAR_W + 6, by + 4, { color: PALETTE.text });
      by += BAR_H + 3;
    }
    by += BAR_GROUP_GAP;
  }
  fillRect(image, barX, by, BAR_W, 1, PALETTE.axis);
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    const tx = barX + Math.round(v * BAR_W);
    fillRect(image, Math.min(tx, barX + BAR_W - 1), by, 1, 4, PALETTE.axis);
    drawText(image, `${100 * v} %`, tx, by + 6, { align: v === 0 ? 'left' : v === 1 ? 'right' : 'center', color: PALETTE.muted });
  }
  return image;
}

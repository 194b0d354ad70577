/**
 * The two pictures of the final soft masks: one histogram panel per layer, every panel on the same
 * axes (x: mask value 0..1, y: share of the layer's entries on one log scale), and a heat strip per
 * layer (its entries sorted from lowest to highest, coloured by value). Browser-safe.
 */
import { blankImage, drawLine, drawText, fillRect, lineHeight, strokeRect, textWidth } from '../io/draw.js';
import type { RasterImage } from '../io/raster.js';
import type { LayerMaskStats } from './purify.js';
import { COLOR_SCALE_HEIGHT, MARGIN, PALETTE, colorScale, fitText, maskColor, pct, swatch, swatchWidth, titleBlock, titleHeight, titleWidth } from './picture-parts.js';

/** What a mask picture needs of a layer: LayerMaskStats' name, size, share below 0.5 and bin counts over [0, 1]. */
export type LayerMasks = Pick<LayerMaskStats, 'layer' | 'size' | 'below05' | 'histogram'> & { mean?: number };

const PLOT_H = 90;
const Y_LABEL_W = 30;
const PANEL_GAP = 16;

/** Decades below 1 the shared y axis spans: enough to show one entry of the largest layer, at least 2, at most 7. */
export function histogramDecades(layers: readonly LayerMasks[]): number {
  const largest = Math.max(1, ...layers.map((l) => l.histogram.reduce((a, b) => a + b, 0)));
  return Math.min(7, Math.max(2, Math.ceil(Math.log10(largest))));
}

function decadeLabel(k: number): string {
  return k === 0 ? '1' : k === 1 ? '0.1' : k === 2 ? '0.01' : `1e-${k}`;
}

/**
 * Bar height in pixels of a bin holding `share` of its layer on a log axis of `decades` decades over `plotH` pixels:
 * 0 for an empty bin, at least 1 pixel for any entry at all.
 */
export function barHeight(share: number, decades: number, plotH: number): number {
  if (!(share > 0)) return 0;
  return Math.max(1, Math.min(plotH, Math.round((plotH * (Math.log10(share) + decades)) / decades)));
}

/**
 * One panel per layer, `perRow` to a row, in layer order. Every panel has the same axes, so bars compare
 * across layers: bins below 0.5 red, the rest blue; each panel titled with the layer, its entries and the
 * share of them below 0.5.
 */
export function histogramGrid(layers: readonly LayerMasks[], opts: { perRow?: number; title?: string } = {}): RasterImage {
  const bins = Math.max(1, ...layers.map((l) => l.histogram.length));
  const barW = Math.max(3, Math.floor(160 / bins));
  const plotW = bins * barW;
  const panelW = Y_LABEL_W + plotW + 4;
  const panelH = 2 * lineHeight() + 4 + PLOT_H + 4 + lineHeight();
  const perRow = Math.max(1, Math.min(opts.perRow ?? 4, layers.length));
  const rows = Math.max(1, Math.ceil(layers.length / perRow));
  const decades = histogramDecades(layers);
  // Tick labels every decade up to 4 decades, every other one beyond (5x7 text needs about 9 pixels a line).
  const labelStep = Math.ceil(decades / 4);
  const title = opts.title ?? `Mask values per layer (${layers.length} layers)`;
  const subtitles = [
    `x: mask value, 0 to 1 in ${bins} bins; y: share of the layer's entries, log scale (1 down to ${decadeLabel(decades)}), the same in every panel`,
  ];
  const legendLabels = ['below 0.5 (weights mostly switched off)', '0.5 and above (kept)'];
  const width = Math.max(titleWidth(title, subtitles), 2 * MARGIN + perRow * (panelW + PANEL_GAP) - PANEL_GAP, 2 * MARGIN + swatchWidth(legendLabels[0]!) + swatchWidth(legendLabels[1]!));
  const legendY = titleHeight(subtitles);
  const top = legendY + lineHeight() + 8;
  const height = top + rows * (panelH + PANEL_GAP) - PANEL_GAP + MARGIN;
  const image = blankImage(width, height);
  titleBlock(image, title, subtitles);
  swatch(image, swatch(image, MARGIN, legendY, PALETTE.below, legendLabels[0]!), legendY, PALETTE.above, legendLabels[1]!);
  layers.forEach((layer, i) => {
    const x = MARGIN + (i % perRow) * (panelW + PANEL_GAP);
    const y = top + Math.floor(i / perRow) * (panelH + PANEL_GAP);
    const total = layer.histogram.reduce((a, b) => a + b, 0);
    drawText(image, fitText(layer.layer, panelW), x, y, { color: PALETTE.text });
    drawText(image, fitText(`${layer.size} entries, ${pct(layer.below05)} < 0.5`, panelW), x, y + lineHeight(), { color: PALETTE.muted });
    const px = x + Y_LABEL_W;
    const py = y + 2 * lineHeight() + 4;
    for (let k = 0; k <= decades; k++) {
      const gy = py + Math.round((PLOT_H * k) / decades);
      fillRect(image, px, gy, plotW, 1, PALETTE.grid);
      fillRect(image, px - 3, gy, 3, 1, PALETTE.axis);
      if (k % labelStep === 0) drawText(image, decadeLabel(k), px - 5, gy - 3, { align: 'right', color: PALETTE.muted });
    }
    layer.histogram.forEach((count, b) => {
      const bh = barHeight(total > 0 ? count / total : 0, decades, PLOT_H);
      const color = (b + 0.5) / layer.histogram.length < 0.5 ? PALETTE.below : PALETTE.above;
      fillRect(image, px + b * barW, py + PLOT_H - bh, barW - 1, bh, color);
    });
    drawLine(image, px - 1, py, px - 1, py + PLOT_H, PALETTE.axis);
    drawLine(image, px - 1, py + PLOT_H, px + plotW, py + PLOT_H, PALETTE.axis);
    for (const [v, align] of [[0, 'left'], [0.5, 'center'], [1, 'right']] as const) {
      const tx = px + Math.round(v * plotW);
      fillRect(image, Math.min(tx, px + plotW - 1), py + PLOT_H + 1, 1, 3, PALETTE.axis);
      drawText(image, String(v), tx, py + PLOT_H + 5, { align, color: PALETTE.muted });
    }
  });
  return image;
}

/**
 * The value at each of `width` evenly spaced quantiles of a histogram over [0, 1] (each bin's centre): column j of a
 * strip shows the entry at rank (j + 0.5) / width of the layer's sorted values.
 */
export function stripValues(histogram: readonly number[], width: number): Float32Array {
  const total = histogram.reduce((a, b) => a + b, 0);
  const out = new Float32Array(width);
  if (total === 0) return out.fill(Number.NaN);
  let bin = 0;
  let below = histogram[0]!;
  for (let j = 0; j < width; j++) {
    const rank = ((j + 0.5) / width) * total;
    while (below <= rank && bin < histogram.length - 1) below += histogram[++bin]!;
    out[j] = (bin + 0.5) / histogram.length;
  }
  return out;
}

const STRIP_W = 400;
const STRIP_H = 12;

/**
 * One row per layer: its name, its entries sorted from lowest (left) to highest (right) as colours from dark red (0)
 * through white (0.5) to blue (1), and its mean and share below 0.5; a colour scale under the rows.
 */
export function maskStrips(layers: readonly LayerMasks[], opts: { title?: string } = {}): RasterImage {
  const title = opts.title ?? `Mask values per layer, sorted (${layers.length} layers)`;
  const subtitles = ['each row: one layer\'s entries from lowest (left) to highest (right), coloured by value; the share of a colour is the share of entries'];
  const nameW = Math.min(150, Math.max(40, ...layers.map((l) => textWidth(l.layer))));
  const facts = layers.map((l) => `${l.mean !== undefined ? `mean ${l.mean.toFixed(3)}, ` : ''}${pct(l.below05)} < 0.5`);
  const factW = Math.max(0, ...facts.map((f) => textWidth(f)));
  const rowH = STRIP_H + 5;
  const top = titleHeight(subtitles);
  const scaleW = 200;
  const caption = 'mask value (0: switched off, 1: kept as trained)';
  const sx = MARGIN + nameW + 8;
  const width = Math.max(titleWidth(title, subtitles), sx + STRIP_W + 8 + factW + MARGIN, sx + scaleW + 10 + textWidth(caption) + MARGIN);
  const height = top + layers.length * rowH + 8 + COLOR_SCALE_HEIGHT + MARGIN;
  const image = blankImage(width, height);
  titleBlock(image, title, subtitles);
  layers.forEach((layer, i) => {
    const y = top + i * rowH;
    drawText(image, fitText(layer.layer, nameW), sx - 8, y + 3, { align: 'right', color: PALETTE.text });
    const values = stripValues(layer.histogram, STRIP_W);
    for (let j = 0; j < STRIP_W; j++) if (!Number.isNaN(values[j]!)) fillRect(image, sx + j, y, 1, STRIP_H, maskColor(values[j]!));
    strokeRect(image, sx - 1, y - 1, STRIP_W + 2, STRIP_H + 2, PALETTE.frame);
    drawText(image, facts[i]!, sx + STRIP_W + 8, y + 3, { color: PALETTE.muted });
  });
  colorScale(image, sx, top + layers.length * rowH + 8, scaleW, maskColor, ['0', '0.5', '1'], caption);
  return image;
}

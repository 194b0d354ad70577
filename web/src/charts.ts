/**
 * Canvas drawing for the views: a line chart, horizontal bars and a small histogram. Plain 2D
 * canvas, no library, sized in CSS pixels (see prepareCanvas).
 */

export const COLORS = { clean: '#2a6fdb', triggered: '#d8452c', total: '#333333', below: '#c8322c', above: '#3557c8', axis: '#888888', grid: '#e4e4e4', text: '#222222' };
const FONT = '12px system-ui, sans-serif';

export interface Series {
  name: string;
  color: string;
  values: readonly number[];
}

function niceRange(values: readonly number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  if (!Number.isFinite(lo)) return [0, 1];
  if (lo === hi) return [lo - 1, hi + 1];
  return [Math.min(0, lo), hi * 1.05];
}

/** Lines over a shared x (step index); `marks` draw light vertical lines (round boundaries). */
export function drawLines(ctx: CanvasRenderingContext2D, width: number, height: number, series: readonly Series[], opts: { xLabel: string; marks?: readonly number[] }): void {
  const pad = { left: 44, right: 10, top: 22, bottom: 30 };
  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  ctx.clearRect(0, 0, width, height);
  ctx.font = FONT;
  const n = Math.max(2, ...series.map((s) => s.values.length));
  const [lo, hi] = niceRange(series.flatMap((s) => s.values));
  const x = (i: number) => pad.left + (w * i) / (n - 1);
  const y = (v: number) => pad.top + h - (h * (v - lo)) / (hi - lo);
  ctx.strokeStyle = COLORS.grid;
  ctx.fillStyle = COLORS.text;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((hi - lo) * k) / 4;
    ctx.beginPath();
    ctx.moveTo(pad.left, y(v));
    ctx.lineTo(pad.left + w, y(v));
    ctx.stroke();
    ctx.fillText(v.toPrecision(3), pad.left - 4, y(v));
  }
  ctx.strokeStyle = COLORS.axis;
  ctx.setLineDash([3, 3]);
  for (const m of opts.marks ?? []) {
    ctx.beginPath();
    ctx.moveTo(x(m), pad.top);
    ctx.lineTo(x(m), pad.top + h);
    ctx.stroke();
  }
  ctx.setLineDash([]);
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    s.values.forEach((v, i) => (i === 0 ? ctx.moveTo(x(i), y(v)) : ctx.lineTo(x(i), y(v))));
    ctx.stroke();
    if (s.values.length === 1) ctx.fillRect(x(0) - 2, y(s.values[0]!) - 2, 4, 4);
  }
  ctx.lineWidth = 1;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'alphabetic';
  ctx.fillText(opts.xLabel, pad.left + w / 2, height - 6);
  let lx = pad.left;
  ctx.textAlign = 'left';
  for (const s of series) {
    ctx.fillStyle = s.color;
    ctx.fillRect(lx, 7, 14, 4);
    ctx.fillStyle = COLORS.text;
    ctx.fillText(s.name, lx + 18, 14);
    lx += 26 + ctx.measureText(s.name).width;
  }
}

export interface Bar {
  label: string;
  value: number;
  color?: string;
}

/** One horizontal bar per row; `log` spreads values over decades (gradient norms span several). */
export function drawBars(ctx: CanvasRenderingContext2D, width: number, bars: readonly Bar[], opts: { max?: number; log?: boolean; format: (v: number) => string; color: string; rowHeight?: number }): number {
  const row = opts.rowHeight ?? 18;
  const height = bars.length * row + 6;
  ctx.clearRect(0, 0, width, height);
  ctx.font = FONT;
  ctx.textBaseline = 'middle';
  const labelWidth = Math.min(150, Math.max(40, ...bars.map((b) => ctx.measureText(b.label).width + 8)));
  const valueWidth = 64;
  const span = width - labelWidth - valueWidth;
  const positive = bars.map((b) => b.value).filter((v) => v > 0);
  const floor = opts.log ? Math.min(...positive, 1) / 10 : 0;
  const scale = (v: number) => {
    if (!(v > 0)) return 0;
    const top = opts.max ?? Math.max(...positive);
    if (!opts.log) return Math.min(1, v / top);
    return Math.max(0, Math.log10(v / floor) / Math.log10(top / floor));
  };
  bars.forEach((b, i) => {
    const cy = 3 + i * row + row / 2;
    ctx.fillStyle = COLORS.text;
    ctx.textAlign = 'right';
    ctx.fillText(b.label, labelWidth - 6, cy);
    ctx.fillStyle = COLORS.grid;
    ctx.fillRect(labelWidth, cy - row / 2 + 3, span, row - 6);
    ctx.fillStyle = b.color ?? opts.color;
    ctx.fillRect(labelWidth, cy - row / 2 + 3, span * scale(b.value), row - 6);
    ctx.fillStyle = COLORS.text;
    ctx.textAlign = 'left';
    ctx.fillText(opts.format(b.value), labelWidth + span + 6, cy);
  });
  return height;
}

/** Bins over [0, 1], log counts; bins below 0.5 in red (switched-off weights), the rest blue. */
export function drawHistogram(ctx: CanvasRenderingContext2D, x0: number, y0: number, width: number, height: number, counts: readonly number[], title: string): void {
  ctx.font = FONT;
  ctx.fillStyle = COLORS.text;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'alphabetic';
  ctx.fillText(title, x0, y0 + 12);
  const top = y0 + 18;
  const h = height - 34;
  const peak = Math.log1p(Math.max(1, ...counts));
  const bw = width / counts.length;
  counts.forEach((c, b) => {
    const bh = (h * Math.log1p(c)) / peak;
    ctx.fillStyle = (b + 0.5) / counts.length < 0.5 ? COLORS.below : COLORS.above;
    ctx.fillRect(x0 + b * bw + 1, top + h - bh, bw - 2, bh);
  });
  ctx.strokeStyle = COLORS.axis;
  ctx.beginPath();
  ctx.moveTo(x0, top + h + 0.5);
  ctx.lineTo(x0 + width, top + h + 0.5);
  ctx.stroke();
  ctx.fillStyle = COLORS.text;
  ctx.textBaseline = 'top';
  for (const [v, align] of [[0, 'left'], [0.5, 'center'], [1, 'right']] as const) {
    ctx.textAlign = align;
    ctx.fillText(String(v), x0 + v * width, top + h + 3);
  }
}

/** An RGB raster (HWC bytes) onto a canvas, each pixel a zoom x zoom block. */
export function drawRgb(canvas: HTMLCanvasElement, rgb: Uint8Array, w: number, h: number, zoom: number): void {
  canvas.width = w * zoom;
  canvas.height = h * zoom;
  const ctx = canvas.getContext('2d')!;
  const image = ctx.createImageData(w * zoom, h * zoom);
  for (let y = 0; y < h * zoom; y++) {
    for (let x = 0; x < w * zoom; x++) {
      const src = (Math.floor(y / zoom) * w + Math.floor(x / zoom)) * 3;
      const dst = (y * w * zoom + x) * 4;
      image.data[dst] = rgb[src]!;
      image.data[dst + 1] = rgb[src + 1]!;
      image.data[dst + 2] = rgb[src + 2]!;
      image.data[dst + 3] = 255;
    }
  }
  ctx.putImageData(image, 0, 0);
}

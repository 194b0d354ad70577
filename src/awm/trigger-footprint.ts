/**
 * Where a recovered trigger's mass lies: the densest small window, and the share on the pixels an
 * attack's own trigger covers. Pure functions on host arrays; used by the walkthrough and, for
 * evaluation only (the defenses never see the attack), by the purify report.
 */
import { applyTrigger, type AttackSpec } from '../attacks/index.js';

/** A trigger counts as found on the attack's pixels when it holds this many times an even spread's share there. */
export const FOUND_FACTOR = 5;

export interface DensestWindow {
  row: number;
  col: number;
  size: number;
  /** The window's share of the trigger's L1 mass, and of the image's pixels. */
  share: number;
  areaShare: number;
}

/** How many values satisfy `pred`. */
export function count(v: ArrayLike<number>, pred: (a: number) => boolean): number {
  let n = 0;
  for (let i = 0; i < v.length; i++) if (pred(v[i]!)) n++;
  return n;
}

/** The k x k window (over all channels) holding the largest share of sum |trigger|. */
export function densestWindow(trigger: ArrayLike<number>, c: number, h: number, w: number, k: number): DensestWindow {
  const size = Math.min(k, h, w);
  const mass = new Float64Array(h * w);
  let total = 0;
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < h * w; i++) {
      const a = Math.abs(trigger[ch * h * w + i]!);
      mass[i]! += a;
      total += a;
    }
  }
  let best = { row: 0, col: 0, value: -1 };
  for (let r = 0; r + size <= h; r++) {
    for (let col = 0; col + size <= w; col++) {
      let s = 0;
      for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) s += mass[(r + i) * w + col + j]!;
      if (s > best.value) best = { row: r, col, value: s };
    }
  }
  return { row: best.row, col: best.col, size, share: total > 0 ? best.value / total : 0, areaShare: (size * size) / (h * w) };
}

/** The share of sum |trigger| (over all channels) on the footprint's pixels, and their share of the image. */
export function footprintShare(trigger: ArrayLike<number>, c: number, h: number, w: number, footprint: Uint8Array): { share: number; areaShare: number } {
  if (footprint.length !== h * w) throw new Error(`the trigger footprint holds ${footprint.length} pixels, expected ${h}x${w}`);
  let on = 0;
  let total = 0;
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < h * w; i++) {
      const a = Math.abs(trigger[ch * h * w + i]!);
      total += a;
      if (footprint[i]) on += a;
    }
  }
  return { share: total > 0 ? on / total : 0, areaShare: count(footprint, (v) => v !== 0) / (h * w) };
}

/**
 * The pixels (h x w, 1 = in) an attack's trigger changes, found on two flat gray images (0.25 and 0.75,
 * so a white, black or colored patch moves at least one); undefined when it changes every pixel or none
 * (a blend, a warp) or cannot be drawn here (a pattern kept in a file).
 */
export function triggerFootprint(attack: AttackSpec, shape: { c: number; h: number; w: number }): Uint8Array | undefined {
  const per = shape.c * shape.h * shape.w;
  const plane = shape.h * shape.w;
  const footprint = new Uint8Array(plane);
  for (const level of [0.25, 0.75]) {
    const plain = new Float32Array(per).fill(level);
    let marked: Float32Array;
    try {
      marked = applyTrigger(attack, plain, { c: shape.c, h: shape.h, w: shape.w });
    } catch {
      return undefined;
    }
    for (let i = 0; i < per; i++) if (Math.abs(marked[i]! - level) > 1e-6) footprint[i % plane] = 1;
  }
  const on = count(footprint, (v) => v !== 0);
  return on > 0 && on < plane / 2 ? footprint : undefined;
}

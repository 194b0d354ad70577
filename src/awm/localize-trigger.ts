/**
 * Where a recovered trigger's backdoor sits: AWM+'s --localize-trigger.
 *
 * On the page's small CNN the suspect search's triggers sent every check image to the backdoor's target, yet only a
 * third of their L1 sat in the 3x3 patch, and unlearning them left the patch firing; unlearning the real patch instead
 * took the same runs to 5-6 % ASR (README, "Unlearning the suspect's trigger"). The part in the patch is dense, though:
 * a third of the budget on 9 of 784 pixels. So: take the square window where the triggers' L1 is densest, search a
 * trigger towards the suspect class inside that window only, and keep it if it alone still sends the check images
 * there. Windows grow from 3 pixels until one does; a trigger spread over the image (a blend) passes none, and nothing
 * changes. Pure functions (the window, the region) sit beside the search so they can be tested alone.
 */
import type { Backend } from '../tensor/backend.js';
import type { Module } from '../nn/module.js';
import { Rng } from '../data/rng.js';
import { predictClasses } from '../train/train.js';
import type { CleanSet } from './clean-set.js';
import { targetedTriggerSearch } from './targeted-search.js';
import { addTrigger } from './trigger-search.js';
import { classFlip } from './trigger-flips.js';

/** A square window of the image: top row, left column, side in pixels. */
export interface TriggerWindow {
  y: number;
  x: number;
  size: number;
}

/** The window sides tried, smallest first (pixels; those larger than the image are skipped). */
export const LOCALIZE_SIZES = [3, 5, 7, 9] as const;

/** Descent steps of the search inside a window, and its step per element (as the targeted search's). */
export const LOCALIZE_STEPS = 40;
export const LOCALIZE_LR = 0.1;

/**
 * The size x size window holding the most L1 of the triggers summed (each C*H*W, channels added per pixel); ties go to
 * the first in row-major order. Throws on an empty list, a window larger than the image or a wrong length.
 */
export function densestWindow(triggers: readonly Float32Array[], c: number, h: number, w: number, size: number): TriggerWindow {
  if (!triggers.length) throw new Error('densestWindow: no triggers');
  if (!(Number.isInteger(size) && size >= 1 && size <= h && size <= w)) throw new Error(`densestWindow: a ${size}-pixel window does not fit a ${h}x${w} image`);
  const per = c * h * w;
  // Integral image of the per-pixel mass, (h+1) x (w+1).
  const sum = new Float64Array((h + 1) * (w + 1));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let m = 0;
      for (const t of triggers) {
        if (t.length !== per) throw new Error(`densestWindow: a trigger holds ${t.length} values, expected ${c}x${h}x${w}`);
        for (let ch = 0; ch < c; ch++) m += Math.abs(t[ch * h * w + y * w + x]!);
      }
      sum[(y + 1) * (w + 1) + x + 1] = m + sum[y * (w + 1) + x + 1]! + sum[(y + 1) * (w + 1) + x]! - sum[y * (w + 1) + x]!;
    }
  }
  let best: TriggerWindow = { y: 0, x: 0, size };
  let bestMass = -1;
  for (let y = 0; y + size <= h; y++) {
    for (let x = 0; x + size <= w; x++) {
      const mass = sum[(y + size) * (w + 1) + x + size]! - sum[y * (w + 1) + x + size]! - sum[(y + size) * (w + 1) + x]! + sum[y * (w + 1) + x]!;
      if (mass > bestMass + 1e-12) {
        bestMass = mass;
        best = { y, x, size };
      }
    }
  }
  return best;
}

/** 1 inside the window on every channel, 0 elsewhere (C*H*W). */
export function windowRegion(win: TriggerWindow, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(c * h * w);
  for (let ch = 0; ch < c; ch++) {
    for (let y = win.y; y < win.y + win.size; y++) out.fill(1, ch * h * w + y * w + win.x, ch * h * w + y * w + win.x + win.size);
  }
  return out;
}

export interface LocalizeOptions {
  /** The suspected class the triggers send images to. */
  cls: number;
  /** The flip into `cls` a window's trigger must reach to be kept. */
  minFlip: number;
  batchSize: number;
  seed: number;
}

/** One window tried: where, and the share of the check images outside the class its trigger sent there. */
export interface WindowTry extends TriggerWindow {
  flip: number;
}

export interface LocalizedTrigger {
  /** The kept window's trigger (C*H*W, zero outside the window), or undefined when no window reached minFlip. */
  trigger?: Float32Array;
  window?: WindowTry;
  tries: WindowTry[];
}

/** The size x size window centred on `win` (as near as the image allows). */
export function widenWindow(win: TriggerWindow, size: number, h: number, w: number): TriggerWindow {
  if (!(Number.isInteger(size) && size >= win.size && size <= h && size <= w)) throw new Error(`widenWindow: a ${size}-pixel window does not fit a ${h}x${w} image around a ${win.size}-pixel one`);
  const grow = Math.floor((size - win.size) / 2);
  const clamp = (v: number, n: number) => Math.min(Math.max(v, 0), n - size);
  return { y: clamp(win.y - grow, h), x: clamp(win.x - grow, w), size };
}

/**
 * For each side in LOCALIZE_SIZES, smallest first: the densest window of `triggers`, a targeted search towards o.cls
 * restricted to it (from the triggers' mean there, its whole area as budget), and its flip on the check images against
 * `own` (the model's answers without a trigger). At the first window whose flip reaches o.minFlip, one refinement: the
 * same search in the window two pixels wider around it, with that trigger's L1 as the budget (sparsified, the largest
 * kept), kept if it reaches o.minFlip as well. Why: the densest window need not sit on the patch (on the page's small
 * CNN it was one column off, and a square filling it, unlearned, left the real patch firing); given room and the same
 * L1, the search puts it on the pixels that move the model most.
 */
export async function localizeTrigger(
  model: Module, backend: Backend, check: CleanSet, own: Int32Array, triggers: readonly Float32Array[], o: LocalizeOptions,
): Promise<LocalizedTrigger> {
  const { c, h, w } = check;
  const per = c * h * w;
  const tries: WindowTry[] = [];
  const rng = new Rng(o.seed >>> 0);
  const search = async (win: TriggerWindow, start: Float32Array, budget: number) => {
    const region = windowRegion(win, c, h, w);
    const from = start.map((v, i) => v * region[i]!);
    const { trigger } = await targetedTriggerSearch(model, backend, check, from, {
      cls: o.cls, budget, steps: LOCALIZE_STEPS, batchSize: o.batchSize, lr: LOCALIZE_LR, region,
    }, rng);
    const flip = classFlip(own, await predictClasses(model, backend, addTrigger(check.images, trigger), [check.n, c, h, w]), o.cls);
    const tried = { ...win, flip };
    tries.push(tried);
    return { trigger, tried };
  };
  const mean = new Float32Array(per);
  for (const t of triggers) for (let i = 0; i < per; i++) mean[i] += t[i]! / triggers.length;
  for (const size of LOCALIZE_SIZES) {
    if (size > h || size > w) break;
    const first = await search(densestWindow(triggers, c, h, w, size), mean, c * size * size);
    if (first.tried.flip < o.minFlip) continue;
    if (size + 2 > h || size + 2 > w) return { trigger: first.trigger, window: first.tried, tries };
    if (typeof process !== 'undefined' && process.env.LOC_SIGN) {
      for (const sign of [1, -1] as const) {
        const region = windowRegion(widenWindow(first.tried, Math.min(size + 2, h, w), h, w), c, h, w);
        const { trigger } = await targetedTriggerSearch(model, backend, check, new Float32Array(per), { cls: o.cls, budget: c * (size + 2) ** 2, steps: LOCALIZE_STEPS, batchSize: o.batchSize, lr: LOCALIZE_LR, region, sign }, rng);
        const flip = classFlip(own, await predictClasses(model, backend, addTrigger(check.images, trigger), [check.n, c, h, w]), o.cls);
        tries.push({ ...first.tried, size: -sign, flip });
        if (flip >= o.minFlip) return { trigger, window: { ...first.tried, flip }, tries };
      }
    }
    const l1 = first.trigger.reduce((s, v) => s + Math.abs(v), 0);
    const wide = await search(widenWindow(first.tried, size + 2, h, w), first.trigger, l1);
    const kept = wide.tried.flip >= o.minFlip ? wide : first;
    return { trigger: kept.trigger, window: kept.tried, tries };
  }
  return { tries };
}

/**
 * `count` additive triggers that paint random content into random rectangles of the window: each picks a rectangle
 * inside it, a brightness b uniform in [0, 1], and per element +1 with probability b, else -1 (so after the clip to
 * [0, 1] the rectangle is set to white or black pixels). Stacked, count x C*H*W. Why: on the page's small CNN the
 * window's own trigger fired the backdoor with a mix of raised and lowered pixels and, unlearned, left the real patch
 * firing, while unlearning the real patch removed it (README, "Localizing the suspect's trigger"); where a patch sits is
 * found reliably, what it shows is not, so the masks learn that nothing painted there should move the answer.
 */
export function windowPatterns(win: TriggerWindow, c: number, h: number, w: number, count: number, rng: Rng): Float32Array {
  if (win.y < 0 || win.x < 0 || win.y + win.size > h || win.x + win.size > w) throw new Error(`windowPatterns: the window at (${win.y}, ${win.x}) of ${win.size} pixels leaves the ${h}x${w} image`);
  const per = c * h * w;
  const out = new Float32Array(count * per);
  for (let k = 0; k < count; k++) {
    const rh = 1 + rng.int(win.size);
    const rw = 1 + rng.int(win.size);
    const y0 = win.y + rng.int(win.size - rh + 1);
    const x0 = win.x + rng.int(win.size - rw + 1);
    const b = rng.uniform();
    for (let ch = 0; ch < c; ch++) {
      for (let y = y0; y < y0 + rh; y++) {
        for (let x = x0; x < x0 + rw; x++) out[k * per + ch * h * w + y * w + x] = rng.uniform() < b ? 1 : -1;
      }
    }
  }
  return out;
}

/**
 * The attack spec: plain JSON, so it can be stored in a model's safetensors metadata and in a file
 * beside it, and re-applied later to measure ASR. Pixel values are floats in [0, 1], images NCHW.
 *
 * An attack is a list of backdoors. Each backdoor has three independent parts: a trigger (what is
 * done to an image), a label rule (what its label becomes) and a poison-set rule (which training
 * images get it). One backdoor is the usual case; several make a multiple-backdoor attack.
 */

export const ATTACK_SPEC_VERSION = 1;

export interface AttackSpec {
  version: 1;
  /** Short name for reports (a preset name or the user's own). */
  name: string;
  backdoors: BackdoorSpec[];
}

export interface BackdoorSpec {
  trigger: TriggerSpec;
  label: LabelRule;
  poison: PoisonRule;
  /** Clean-label (CLB) only: PGD perturbation of the poisoned images against a clean model, before the trigger. */
  pgd?: PgdSpec;
}

export type LabelRule =
  /** y' = target. */
  | { type: 'all-to-one'; target: number }
  /** y' = (y + 1) mod C. */
  | { type: 'all-to-all' }
  /** y' = y; the images poisoned come from class `target`, which the trigger should then evoke. */
  | { type: 'clean-label'; target: number };

export type Eligibility = 'all' | 'non-target' | 'target-only';

export interface PoisonRule {
  /** Fraction of images poisoned (of the whole training set, or of the eligible images; see `rateOf`). */
  rate: number;
  /** Which images may be poisoned; 'non-target' and 'target-only' refer to the label rule's target. */
  eligible: Eligibility;
  /** What `rate` is a fraction of. BackdoorBench counts the whole set; CLB counts the target class. */
  rateOf: 'all' | 'eligible';
}

export interface PgdSpec {
  /** L-infinity radius. */
  eps: number;
  steps: number;
  stepSize: number;
}

/** Where a point sits: `margin` pixels from the named corner's two borders, or an explicit top-left pixel. */
export type PatchPosition =
  | { corner: 'top-left' | 'top-right' | 'bottom-left' | 'bottom-right'; margin: number }
  | { top: number; left: number };

export type TriggerSpec =
  /** BadNets: pixels of a height x width patch are replaced by `values`. */
  | {
      type: 'patch';
      height: number;
      width: number;
      position: PatchPosition;
      /** 1 value (every pixel and channel), C values (one per channel), or C*height*width values (CHW order). */
      values: number[];
    }
  /** Blend: x' = (1 - alpha) x + alpha p. */
  | { type: 'blend'; alpha: number; pattern: PatternSource }
  /** TrojanNN-style: x' = clip(x + p, 0, 1). */
  | { type: 'additive'; pattern: PatternSource }
  /** CLB: a size x size checkerboard in each corner, mirrored so each corner pixel is white. */
  | { type: 'corners'; size: number }
  /** WaNet: warp by a fixed smooth random field; its poisoning happens per batch (see wanet.ts). */
  | { type: 'warp'; k: number; s: number; gridRescale: number; seed: number; crossRatio: number };

/**
 * An image-sized array (C x H x W; C may be 1 and is then shared by every channel), generated or given.
 * Generated sources are functions of their fields and the image shape only, so train and test agree.
 */
export type PatternSource =
  /** Uniform [0, 1) noise, one value per channel and pixel. */
  | { type: 'noise'; seed: number }
  /** A colourful size x size square `margin` pixels from the bottom-right border, values ±[0.5, 1]. */
  | { type: 'trojan-square'; seed: number; size: number; margin: number }
  /** A faint sparse watermark: a `density` fraction of pixels get ±amplitude, the same in every channel. */
  | { type: 'trojan-watermark'; seed: number; density: number; amplitude: number }
  /** Given values: float32 little-endian, base64, CHW order. */
  | { type: 'inline'; shape: [number, number, number]; data: string }
  /** A safetensors file (path relative to the spec file), resolved into 'inline' before use. */
  | { type: 'file'; path: string; key: string };

/** Geometry of one image; an ImageDataset satisfies it. */
export interface ImageShape {
  c: number;
  h: number;
  w: number;
}

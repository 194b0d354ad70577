/** Turns a PatternSource into values for one image shape. Generated patterns depend only on their fields and the shape. */
import { Rng } from '../data/rng.js';
import { base64ToFloat32 } from './base64.js';
import type { ImageShape, PatternSource } from './types.js';

export interface Pattern {
  /** 1 (shared by every image channel) or the image's C. */
  c: number;
  h: number;
  w: number;
  /** c*h*w values, CHW order. */
  values: Float32Array;
}

export function materializePattern(source: PatternSource, shape: ImageShape): Pattern {
  const { c, h, w } = shape;
  switch (source.type) {
    case 'noise': {
      const rng = new Rng(source.seed);
      const values = new Float32Array(c * h * w);
      for (let i = 0; i < values.length; i++) values[i] = rng.uniform();
      return { c, h, w, values };
    }
    case 'trojan-square':
      return trojanSquare(source.seed, source.size, source.margin, shape);
    case 'trojan-watermark':
      return trojanWatermark(source.seed, source.density, source.amplitude, shape);
    case 'inline': {
      const [pc, ph, pw] = source.shape;
      if (ph !== h || pw !== w || (pc !== 1 && pc !== c)) {
        throw new Error(`pattern: an inline pattern of shape ${pc}x${ph}x${pw} does not fit ${c}x${h}x${w} images (channels must be 1 or ${c})`);
      }
      const values = base64ToFloat32(source.data, 'pattern.data');
      if (values.length !== pc * ph * pw) throw new Error(`pattern: data holds ${values.length} values, shape ${pc}x${ph}x${pw} needs ${pc * ph * pw}`);
      return { c: pc, h, w, values };
    }
    case 'file':
      throw new Error(`pattern: the file pattern "${source.path}" must be loaded first (resolvePatternFiles)`);
  }
}

/** Per channel and pixel ±(0.5 + 0.5u): strong enough to survive the clip yet different in every channel. */
function trojanSquare(seed: number, size: number, margin: number, shape: ImageShape): Pattern {
  const { c, h, w } = shape;
  const top = h - margin - size;
  const left = w - margin - size;
  if (top < 0 || left < 0) throw new Error(`pattern: a ${size}x${size} trojan square ${margin} pixels from the border does not fit ${h}x${w} images`);
  const rng = new Rng(seed);
  const values = new Float32Array(c * h * w);
  for (let ch = 0; ch < c; ch++) {
    for (let y = top; y < top + size; y++) {
      for (let x = left; x < left + size; x++) {
        const sign = rng.uniform() < 0.5 ? -1 : 1;
        values[(ch * h + y) * w + x] = sign * (0.5 + 0.5 * rng.uniform());
      }
    }
  }
  return { c, h, w, values };
}

/** Achromatic, so one channel serves every image channel. */
function trojanWatermark(seed: number, density: number, amplitude: number, shape: ImageShape): Pattern {
  const { h, w } = shape;
  const rng = new Rng(seed);
  const values = new Float32Array(h * w);
  for (let i = 0; i < values.length; i++) {
    const on = rng.uniform() < density;
    const sign = rng.uniform() < 0.5 ? -1 : 1;
    if (on) values[i] = sign * amplitude;
  }
  return { c: 1, h, w, values };
}

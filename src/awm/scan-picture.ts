/**
 * The scan's picture: each class's recovered sparse and dense trigger, labelled with the class and the share of the
 * other classes' images it sends there, the target's column marked in the title. One look tells a person which
 * class has the short path and what the path looks like.
 */
import type { RasterImage } from '../io/raster.js';
import { triggerGrid } from './pictures.js';
import type { ScanResult } from './scan.js';

export function scanPicture(r: ScanResult, shape: { c: number; h: number; w: number }, classNames?: readonly string[]): RasterImage {
  const k = r.scores.length;
  const name = (cls: number) => (classNames?.[cls] ? `${cls} ${classNames[cls]}` : `class ${cls}`);
  const triggers = [...r.triggers.sparse, ...r.triggers.dense];
  const captions = [...r.scores, ...r.scores].map((s) => `${name(s.cls)}${s.cls === r.target ? ' *' : ''}`);
  const extra = [...r.scores.map((s) => `sends ${(100 * s.sparseFlip).toFixed(0)} %`), ...r.scores.map((s) => `sends ${(100 * s.denseFlip).toFixed(0)} %`)];
  return triggerGrid(triggers, shape, {
    perRow: k,
    title: `Scan: ${!r.backdoored ? 'no backdoor found' : r.allToAll ? 'backdoored, all-to-all' : `backdoored, target ${name(r.target!)} (marked *)`}`,
    captions,
    extra,
    extraNote: 'top row: sparse triggers (small L1 budget); bottom row: dense ones (small change per pixel); "sends": the share of the other classes\' images moved into the class',
  });
}

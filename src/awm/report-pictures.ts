/**
 * Every picture of a purification report, encoded as PNG and named, for `awm purify`, `awm demo` and the
 * browser page alike: the demo's summary (when given its inputs), the recovered triggers, the mask
 * histograms and the mask heat strips. Browser-safe (the encoder is a parameter; Node passes a
 * compressing one).
 */
import { encodePng } from '../io/png-encode.js';
import type { RasterImage } from '../io/raster.js';
import type { PurifyReport } from './purify.js';
import { histogramGrid, maskStrips, type LayerMasks } from './mask-pictures.js';
import { pct } from './picture-parts.js';
import { maskHistogram, triggerGrid } from './pictures.js';
import { summaryPicture, type SummaryInput } from './summary-picture.js';

/** The file name of each picture, after the caller's prefix. */
export const PICTURE_FILES = {
  summary: 'summary.png',
  triggers: 'triggers.png',
  masks: 'masks.png',
  maskStrips: 'mask-strips.png',
} as const;

export type PictureKind = keyof typeof PICTURE_FILES;

/** Where reportMarkdown finds each picture: a file name beside the report, or a data: URL. */
export type PictureLinks = Partial<Record<PictureKind, string>>;

export interface ReportPictureOptions {
  /** Put before each file name (e.g. 'model-report-'); default none. */
  prefix?: string;
  /** PNG encoder; default the browser-safe stored encoding. */
  encode?: (image: RasterImage) => Uint8Array;
  /** The demo's summary picture, drawn from these inputs. */
  summary?: SummaryInput;
}

/** Bins of the heat strips when the raw masks are at hand (the report itself keeps 20). */
const STRIP_BINS = 256;

/**
 * The report's pictures as [file name, PNG bytes], in the order the report shows them; only those with data to draw.
 * `outcome` is the defense's (DefenseOutcome's triggers and masks): without the raw masks the heat strips use the
 * report's 20-bin histograms.
 */
export function reportPictures(
  report: PurifyReport,
  outcome: { triggers?: readonly ArrayLike<number>[]; masks?: ReadonlyMap<string, ArrayLike<number>> },
  shape: { c: number; h: number; w: number },
  opts: ReportPictureOptions = {},
): Array<[string, Uint8Array]> {
  const prefix = opts.prefix ?? '';
  const encode = opts.encode ?? ((image: RasterImage) => encodePng(image));
  const method = report.method.toUpperCase();
  const files: Array<[string, Uint8Array]> = [];
  const add = (kind: PictureKind, image: RasterImage) => files.push([prefix + PICTURE_FILES[kind], encode(image)]);
  if (opts.summary) add('summary', summaryPicture(opts.summary));
  if (outcome.triggers?.length) {
    const onAttack = report.triggerOnAttack;
    add('triggers', triggerGrid(outcome.triggers, shape, {
      title: `Recovered triggers, one per round of ${method} (${outcome.triggers.length})`,
      ...(onAttack && onAttack.perRound.length === outcome.triggers.length ? {
        extra: onAttack.perRound.map((s) => `patch ${pct(s)}`),
        extraNote: `patch: the share of the trigger's L1 mass on the attack's own pixels (${pct(onAttack.areaShare)} of the image; evaluation only)`,
      } : {}),
    }));
  }
  if (report.maskStats?.length) {
    const layers: LayerMasks[] = report.maskStats;
    add('masks', histogramGrid(layers, { title: `Mask values per layer after ${method} (${layers.length} layers)` }));
    const fine = layers.map((l) => {
      const raw = outcome.masks?.get(l.layer);
      return raw ? { ...l, histogram: maskHistogram(raw, STRIP_BINS) } : l;
    });
    add('maskStrips', maskStrips(fine, { title: `Mask values per layer after ${method}, sorted (${layers.length} layers)` }));
  }
  return files;
}

/**
 * The links reportMarkdown embeds for files made by reportPictures with the same prefix: by default the file name
 * itself (the pictures lie beside the report); `link` may make anything else of it (the page makes data: URLs).
 */
export function pictureLinks(files: ReadonlyArray<readonly [string, Uint8Array]>, prefix = '', link: (name: string, png: Uint8Array) => string = (name) => name): PictureLinks {
  const links: PictureLinks = {};
  for (const kind of Object.keys(PICTURE_FILES) as PictureKind[]) {
    const file = files.find(([name]) => name === prefix + PICTURE_FILES[kind]);
    if (file) links[kind] = link(file[0], file[1]);
  }
  return links;
}

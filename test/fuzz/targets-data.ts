/**
 * Fuzz targets for the dataset formats in src/data: IDX (MNIST, Fashion-MNIST), CIFAR-10 binary
 * batches and their class-name file, GTSRB annotation CSVs and the PPM images they describe.
 */
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { CIFAR10_RECORD_BYTES, parseCifar10Batch, parseCifar10ClassNames } from '../../src/data/cifar10.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { GTSRB_CSV_COLUMNS, GTSRB_NUM_CLASSES, gtsrbImageToChw, parseGtsrbCsv, type GtsrbRow } from '../../src/data/gtsrb.js';
import { parseIdxDataset, parseIdxImages, parseIdxLabels } from '../../src/data/idx.js';
import { gunzipNode } from '../../src/io/decompress.node.js';
import { ParseError } from '../../src/io/parse-error.js';
import { encodeCifar10, encodeGtsrbCsv, encodeIdx, sameValues } from './formats.js';
import { INTERESTING_U32, mutated, mutatedText, type Mutation } from './mutate.js';
import { holds, rejection, type FuzzTarget, type Outcome } from './target.js';
import { pnmBytes } from './targets-io.js';

// --- IDX -----------------------------------------------------------------------------------------

const idxPair = fc.record({ n: fc.integer({ min: 0, max: 5 }), rows: fc.integer({ min: 0, max: 6 }), cols: fc.integer({ min: 0, max: 6 }) }).chain(({ n, rows, cols }) =>
  fc.record({
    images: fc.uint8Array({ minLength: n * rows * cols, maxLength: n * rows * cols }).map((data) => encodeIdx([n, rows, cols], data)),
    labels: fc.uint8Array({ minLength: n, maxLength: n, max: 11 }).map((data) => encodeIdx([n], data)),
  }),
);

/** One of the big-endian dimension fields (bytes 4, 8, 12) set to a boundary value. */
const dimSet: fc.Arbitrary<Mutation> = fc.tuple(fc.integer({ min: 0, max: 2 }), fc.constantFrom(...INTERESTING_U32)).map(([d, value]) => (bytes) => {
  if (bytes.length < 8 + 4 * d) return bytes;
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(4 + 4 * d, value, false);
  return out;
});

const damaged = (bytes: fc.Arbitrary<Uint8Array>) => fc.oneof(bytes, mutated(bytes, [dimSet, dimSet]));

interface IdxInput {
  images: Uint8Array;
  labels: Uint8Array;
}

const idxInput: fc.Arbitrary<IdxInput> = fc.oneof(
  idxPair,
  idxPair.chain(({ images, labels }) => fc.record({ images: damaged(fc.constant(images)), labels: damaged(fc.constant(labels)) })),
  // Gzipped files go through the same parsers after inflating; damaged gzip is the error to see.
  idxPair.chain(({ images, labels }) => fc.record({ images: damaged(fc.constant(new Uint8Array(gzipSync(images)))), labels: fc.constant(new Uint8Array(gzipSync(labels))) })),
  fc.record({ images: fc.uint8Array({ maxLength: 40 }), labels: fc.uint8Array({ maxLength: 16 }) }),
);

function checkDataset(ds: ImageDataset, channels: number): void {
  holds(ds.c === channels, `${ds.c} channels`);
  holds(ds.images.length === ds.n * ds.c * ds.h * ds.w, `${ds.images.length} pixels for ${ds.n}x${ds.c}x${ds.h}x${ds.w}`);
  holds(ds.labels instanceof Int32Array && ds.labels.length === ds.n, `${ds.labels.length} labels for ${ds.n} images`);
  holds(ds.labels.every((l) => l >= 0 && l < ds.numClasses), 'a label outside [0, numClasses)');
}

export const idxTarget: FuzzTarget<IdxInput> = {
  name: 'idx',
  parser: 'parseIdxImages, parseIdxLabels, parseIdxDataset (src/data/idx.ts)',
  input: () => idxInput,
  run: async ({ images, labels }): Promise<Outcome> => {
    // The single-file parsers on whatever bytes they get (gzip is only inflated by parseIdxDataset).
    try {
      const parsed = parseIdxImages(images, 'fuzz-images');
      holds(parsed.data.length === parsed.n * parsed.rows * parsed.cols, 'image bytes do not match the dimensions');
      const back = parseIdxImages(encodeIdx([parsed.n, parsed.rows, parsed.cols], parsed.data));
      holds(back.n === parsed.n && back.rows === parsed.rows && back.cols === parsed.cols && sameValues(back.data, parsed.data), 'images changed in a round trip');
    } catch (e) {
      rejection(e, [ParseError], /^idx \(fuzz-images\): ./);
    }
    try {
      const parsed = parseIdxLabels(labels, 'fuzz-labels');
      holds(sameValues(parseIdxLabels(encodeIdx([parsed.length], parsed)), parsed), 'labels changed in a round trip');
    } catch (e) {
      rejection(e, [ParseError], /^idx \(fuzz-labels\): ./);
    }
    let ds: ImageDataset;
    try {
      ds = await parseIdxDataset(images, labels, { gunzip: gunzipNode, imagesSource: 'fuzz-images', labelsSource: 'fuzz-labels' });
    } catch (e) {
      return rejection(e, [ParseError], /^idx( \(fuzz-(images|labels)\))?: ./);
    }
    checkDataset(ds, 1);
    return 'accepted';
  },
};

// --- CIFAR-10 ------------------------------------------------------------------------------------

const cifarBatch = fc
  .integer({ min: 0, max: 3 })
  .chain((n) => fc.tuple(fc.uint8Array({ minLength: n, maxLength: n, max: 10 }), fc.uint8Array({ minLength: n * 3072, maxLength: n * 3072 })))
  .map(([labels, images]) => encodeCifar10(labels, images));

const classNamesText = fc
  .tuple(fc.array(fc.stringMatching(/^[a-z][a-z_ ]{0,9}[a-z]$/), { minLength: 10, maxLength: 10 }), fc.constantFrom('\n', '\r\n'), fc.constantFrom('', '\n', '\n\n'))
  .map(([names, newline, end]) => names.join(newline) + end);

interface CifarInput {
  batch: Uint8Array;
  names: string;
}

const cifarInput: fc.Arbitrary<CifarInput> = fc.record({
  batch: fc.oneof(cifarBatch, mutated(cifarBatch), fc.uint8Array({ maxLength: 2 * CIFAR10_RECORD_BYTES + 3 })),
  names: fc.oneof(classNamesText, mutatedText(classNamesText, 'ab \n\r\t'), fc.string({ maxLength: 40, unit: 'binary' })),
});

export const cifar10Target: FuzzTarget<CifarInput> = {
  name: 'cifar10',
  parser: 'parseCifar10Batch, parseCifar10ClassNames (src/data/cifar10.ts)',
  input: () => cifarInput,
  run: async ({ batch, names }): Promise<Outcome> => {
    try {
      const parsed = parseCifar10ClassNames(names, 'fuzz-meta.txt');
      holds(parsed.length === 10 && parsed.every((n) => n.length > 0 && n === n.trim() && !/[\r\n]/.test(n)), 'class names are not 10 trimmed lines');
      holds(parseCifar10ClassNames(parsed.join('\n')).join('\n') === parsed.join('\n'), 'class names changed in a round trip');
    } catch (e) {
      rejection(e, [ParseError], /^cifar10 \(fuzz-meta\.txt\): ./);
    }
    let ds: ImageDataset;
    try {
      ds = parseCifar10Batch(batch, 'fuzz.bin');
    } catch (e) {
      return rejection(e, [ParseError], /^cifar10 \(fuzz\.bin\): ./);
    }
    checkDataset(ds, 3);
    holds(ds.h === 32 && ds.w === 32 && ds.numClasses === 10, 'not 32x32 with 10 classes');
    // The format has no freedom: what was accepted must be written back byte for byte.
    holds(sameValues(encodeCifar10(ds.labels, ds.images), batch), 'the batch changed in a round trip');
    return 'accepted';
  },
};

// --- GTSRB ---------------------------------------------------------------------------------------

/** Numbers as the CSV may spell them: small ones, and digit runs too long for a double to hold. */
const cellNumber = fc.oneof({ weight: 4, arbitrary: fc.nat({ max: 300 }).map(String) }, fc.bigInt({ min: 0n, max: 10n ** 30n }).map(String), fc.constant('007'));

const gtsrbRowText = fc
  .tuple(fc.stringMatching(/^[0-9A-Za-z_.]{1,12}$/), fc.array(cellNumber, { minLength: 6, maxLength: 6 }), fc.integer({ min: 0, max: GTSRB_NUM_CLASSES + 2 }))
  .map(([file, numbers, classId]) => [file, ...numbers, String(classId)].join(';'));

const gtsrbCsv = fc
  .tuple(fc.array(gtsrbRowText, { maxLength: 5 }), fc.constantFrom('\n', '\r\n'), fc.constantFrom('', '\n', '\n\n', ' \n'))
  .map(([rows, newline, end]) => [GTSRB_CSV_COLUMNS.join(';'), ...rows].join(newline) + end);

const gtsrbText = fc.oneof(gtsrbCsv, mutatedText(gtsrbCsv, ';\r\n 0123456789.-+eE,xX'), fc.string({ maxLength: 80 }));

function checkRow(row: GtsrbRow): void {
  const numbers = [row.width, row.height, row.roi.x1, row.roi.y1, row.roi.x2, row.roi.y2, row.classId];
  holds(numbers.every((v) => Number.isSafeInteger(v) && v >= 0), `row ${row.filename} holds ${numbers.join(', ')}, not all non-negative integers`);
  holds(row.classId < GTSRB_NUM_CLASSES, `ClassId ${row.classId}`);
  holds(row.filename.length > 0 && !/[;\r\n]/.test(row.filename), `file name ${JSON.stringify(row.filename)}`);
}

export const gtsrbCsvTarget: FuzzTarget<string> = {
  name: 'gtsrb-csv',
  parser: 'parseGtsrbCsv (src/data/gtsrb.ts)',
  input: () => gtsrbText,
  run: async (text) => {
    let rows: GtsrbRow[];
    try {
      rows = parseGtsrbCsv(text, 'GT-fuzz.csv');
    } catch (e) {
      return rejection(e, [ParseError], /^gtsrb \(GT-fuzz\.csv\): ./);
    }
    rows.forEach(checkRow);
    const back = parseGtsrbCsv(encodeGtsrbCsv(rows));
    holds(JSON.stringify(back) === JSON.stringify(rows), 'rows changed in a round trip');
    return 'accepted';
  },
};

interface GtsrbImageInput {
  ppm: Uint8Array;
  row: GtsrbRow;
  size: number;
  crop: 'none' | 'roi';
  /** Whether the row states the image's real size (so the decode goes on to the crop and resize). */
  matching: boolean;
}

const roiValue = fc.oneof(fc.nat({ max: 12 }), fc.constantFrom(2 ** 31, 2 ** 53 - 1));

const gtsrbImageInput: fc.Arbitrary<GtsrbImageInput> = fc.record({
  ppm: pnmBytes,
  row: fc.record({
    filename: fc.constant('00000.ppm'),
    width: fc.nat({ max: 10 }),
    height: fc.nat({ max: 10 }),
    roi: fc.record({ x1: roiValue, y1: roiValue, x2: roiValue, y2: roiValue }),
    classId: fc.nat({ max: GTSRB_NUM_CLASSES - 1 }),
  }),
  size: fc.integer({ min: 1, max: 12 }),
  crop: fc.constantFrom('none' as const, 'roi' as const),
  matching: fc.boolean(),
});

export const gtsrbImageTarget: FuzzTarget<GtsrbImageInput> = {
  name: 'gtsrb-image',
  parser: 'gtsrbImageToChw (src/data/gtsrb.ts)',
  input: () => gtsrbImageInput,
  run: async ({ ppm, row, size, crop, matching }) => {
    let chw: Uint8Array;
    try {
      let stated = row;
      if (matching) {
        // Read the real size the way a person writing the CSV would, from the header's tokens.
        const tokens = new TextDecoder('latin1').decode(ppm.subarray(0, 64)).replace(/#[^\n\r]*/g, ' ').split(/\s+/);
        stated = { ...row, width: Number(tokens[1]), height: Number(tokens[2]) };
      }
      chw = gtsrbImageToChw(ppm, stated, 'fuzz.ppm', { size, crop });
    } catch (e) {
      return rejection(e, [ParseError], /^(pnm|gtsrb) \(fuzz\.ppm\): ./);
    }
    holds(chw instanceof Uint8Array && chw.length === 3 * size * size, `${chw.length} bytes for 3x${size}x${size}`);
    return 'accepted';
  },
};

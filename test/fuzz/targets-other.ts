/**
 * Fuzz targets for the text and page inputs: attack-spec JSON, the CLI's flag parser (through
 * parseFlags alone, so its internals may change), and what the page does with dropped files:
 * openModel for a model file and imagesToDataset for images.
 */
import fc from 'fast-check';
import { attackPreset, attackToMetadata, ATTACK_PRESETS, type AttackPresetName } from '../../src/attacks/index.js';
import { parseAttackSpec, serializeAttackSpec } from '../../src/attacks/parse.js';
import type { AttackSpec } from '../../src/attacks/types.js';
import { CpuBackend } from '../../src/backends/cpu/index.js';
import { parseFlags, UsageError, type FlagSpec, type FlagSpecs, type ParsedFlags } from '../../src/cli/args.js';
import { ParseError } from '../../src/io/parse-error.js';
import { encodePng } from '../../src/io/png-encode.js';
import { encodePnm } from '../../src/io/pnm.js';
import type { ChannelCount } from '../../src/io/raster.js';
import { createModel } from '../../src/nn/models.js';
import { saveModel } from '../../src/nn/model-file.js';
import type { ModelSpec } from '../../src/nn/spec.js';
import { StateValueError } from '../../src/nn/state-dict.js';
import type { ModelSpecInput } from '../../src/nn/models.js';
import { PageError } from '../../web/src/errors.js';
import { imagesToDataset, type PickedFile } from '../../web/src/images.js';
import { openModel } from '../../web/src/model.js';
import { mutated, mutatedText, position } from './mutate.js';
import { holds, rejection, type FuzzTarget, type Outcome } from './target.js';
import { headerEdit, pngBytes, pnmBytes, rasterImage } from './targets-io.js';

// --- attack specs --------------------------------------------------------------------------------

const presetSpec: fc.Arbitrary<AttackSpec> = fc
  .tuple(fc.constantFrom(...ATTACK_PRESETS), fc.option(fc.record({ target: fc.nat(9), rate: fc.double({ min: 0, max: 1, noNaN: true }), allToAll: fc.boolean() }, { requiredKeys: [] }), { nil: undefined }))
  .map(([name, options]) => {
    try {
      return attackPreset(name as AttackPresetName, options);
    } catch {
      return attackPreset(name as AttackPresetName);
    }
  });

type JsonPath = Array<string | number>;

function paths(value: unknown, at: JsonPath = [], out: JsonPath[] = []): JsonPath[] {
  out.push(at);
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...at, i], out));
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) paths(v, [...at, k], out);
  return out;
}

/** One node of the JSON replaced, removed, joined by an unknown field, or pushed to a numeric edge. */
const jsonEdit = fc.record({
  where: position,
  op: fc.constantFrom('replace', 'delete', 'add', 'edge', 'wrap'),
  replacement: fc.jsonValue({ maxDepth: 2 }),
  edge: fc.constantFrom(-1, 0, -0, 0.5, 1, 1.0000001, 2 ** 31, 2 ** 53, 1e308, -1e308, '', '1', 'all', 'patch', 'all-to-all', 'clean-label'),
});

type JsonEdit = { where: number; op: string; replacement: unknown; edge: unknown };

function applyJsonEdit(spec: unknown, edit: JsonEdit): unknown {
  const root = JSON.parse(JSON.stringify(spec));
  const all = paths(root).slice(1);
  if (all.length === 0) return edit.replacement;
  const path = all[Math.floor(edit.where * all.length)]!;
  const parent = path.slice(0, -1).reduce<any>((node, k) => node[k], root);
  const key = path[path.length - 1]!;
  if (edit.op === 'replace') parent[key] = edit.replacement;
  else if (edit.op === 'edge') parent[key] = edit.edge;
  else if (edit.op === 'wrap') parent[key] = [parent[key]];
  else if (edit.op === 'delete') Array.isArray(parent) ? parent.splice(Number(key), 1) : delete parent[key];
  else if (typeof parent[key] === 'object' && parent[key] !== null && !Array.isArray(parent[key])) parent[key].extra = edit.replacement;
  else parent[key] = edit.replacement;
  return root;
}

const editedSpec = fc.tuple(presetSpec, fc.array(jsonEdit, { minLength: 1, maxLength: 3 })).map(([spec, edits]) => edits.reduce<unknown>((s, e) => applyJsonEdit(s, e), spec));

const attackInput: fc.Arbitrary<unknown> = fc.oneof(
  presetSpec.map((s) => serializeAttackSpec(s)),
  presetSpec,
  editedSpec,
  editedSpec.map((s) => JSON.stringify(s)),
  mutatedText(presetSpec.map((s) => JSON.stringify(s)), '{}[]:,"0123456789.-eE truefalsn'),
  fc.json({ maxDepth: 3 }),
  fc.jsonValue({ maxDepth: 3 }),
);

export const attackSpecTarget: FuzzTarget<unknown> = {
  name: 'attack-spec',
  parser: 'parseAttackSpec (src/attacks/parse.ts)',
  input: () => attackInput,
  run: async (input) => {
    let spec: AttackSpec;
    try {
      spec = parseAttackSpec(input);
    } catch (e) {
      return rejection(e, [ParseError], /^attack spec: ./);
    }
    holds(spec.version === 1 && typeof spec.name === 'string' && spec.name.length > 0, 'no version 1 or no name');
    holds(Array.isArray(spec.backdoors) && spec.backdoors.length > 0, 'no backdoors');
    const text = serializeAttackSpec(spec);
    holds(JSON.stringify(parseAttackSpec(text)) === JSON.stringify(spec), 'the spec changed in a round trip through its JSON');
    holds(JSON.stringify(parseAttackSpec(spec)) === JSON.stringify(spec), 'parsing a parsed spec changed it');
    return 'accepted';
  },
};

// --- CLI flags -----------------------------------------------------------------------------------

const FLAG_NAMES = ['a', 'lr', 'epochs', 'out', 'dry-run', 'x_y', 'n'];

const flagSpec: fc.Arbitrary<FlagSpec> = fc.oneof(
  fc.record({ type: fc.constant('boolean' as const), help: fc.constant(''), default: fc.option(fc.boolean(), { nil: undefined }) }),
  fc.record({ type: fc.constant('number' as const), help: fc.constant(''), default: fc.option(fc.double({ noNaN: true, noDefaultInfinity: true }), { nil: undefined }), required: fc.boolean() }),
  fc.record({ type: fc.constant('int' as const), help: fc.constant(''), default: fc.option(fc.integer(), { nil: undefined }), required: fc.boolean() }),
  fc.record({ type: fc.constant('string' as const), help: fc.constant(''), default: fc.option(fc.string({ maxLength: 6 }), { nil: undefined }), required: fc.boolean() }),
  fc
    .uniqueArray(fc.string({ minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 3 })
    .chain((choices) => fc.record({ type: fc.constant('string' as const), help: fc.constant(''), choices: fc.constant(choices), default: fc.option(fc.constantFrom(...choices), { nil: undefined }) })),
);

const flagValue = fc.oneof(
  fc.constantFrom('', ' ', '0', '1', '-1', '-0', '1.5', '1e3', '1e400', '0x1f', '0b11', ' 7 ', 'NaN', 'Infinity', '-Infinity', 'true', 'false', '--', '--x', '9007199254740993'),
  fc.double().map(String),
  fc.integer().map(String),
  fc.string({ maxLength: 8 }),
);

/** Names no spec declares, Object.prototype's members among them (constructor, toString, __proto__). */
function undeclaredName(): fc.Arbitrary<string> {
  const random = fc.string({ maxLength: 6 }).filter((name) => !FLAG_NAMES.includes(name) && !(name in {}));
  return fc.oneof(random, fc.constantFrom('constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'));
}

interface CliInput {
  specs: FlagSpecs;
  argv: string[];
}

function cliInput(): fc.Arbitrary<CliInput> {
  const declared = fc.constantFrom(...FLAG_NAMES);
  const token = fc.oneof(
    declared.map((n) => `--${n}`),
    fc.tuple(declared, flagValue).map(([n, v]) => `--${n}=${v}`),
    flagValue,
    undeclaredName().map((n) => `--${n}`),
    fc.tuple(undeclaredName(), flagValue).map(([n, v]) => `--${n}=${v}`),
    fc.constantFrom('--', '-', '-x', '--=', '=='),
  );
  return fc.record({ specs: fc.dictionary(declared, flagSpec, { maxKeys: 4 }), argv: fc.array(token, { maxLength: 6 }) });
}

function sameFlags(a: ParsedFlags, b: ParsedFlags): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k] || (Number.isNaN(a[k]) && Number.isNaN(b[k])));
}

function checkFlags(out: ParsedFlags, specs: FlagSpecs): void {
  for (const key of Object.keys(out)) holds(Object.hasOwn(specs, key), `--${key} is in the result but no spec declares it`);
  holds(Object.getPrototypeOf(out) === Object.prototype || Object.getPrototypeOf(out) === null, 'the result has a different prototype');
  for (const [name, spec] of Object.entries(specs)) {
    const v = out[name];
    if (v === undefined) {
      holds(!spec.required, `required --${name} is missing from an accepted command line`);
      continue;
    }
    if (spec.type === 'boolean') holds(typeof v === 'boolean', `--${name} is ${JSON.stringify(v)}, not a boolean`);
    if (spec.type === 'number') holds(typeof v === 'number' && Number.isFinite(v), `--${name} is ${v}, not a finite number`);
    if (spec.type === 'int') holds(typeof v === 'number' && Number.isSafeInteger(v), `--${name} is ${v}, not an integer`);
    if (spec.type === 'string') holds(typeof v === 'string' && (!spec.choices || spec.choices.includes(v)), `--${name} is ${JSON.stringify(v)}, not one of its choices`);
  }
  // What the parse gave, written as --name=value, parses to the same flags.
  const argv = Object.entries(out).filter(([, v]) => v !== undefined).map(([k, v]) => `--${k}=${String(v)}`);
  holds(sameFlags(parseFlags(argv, specs), out), `the flags changed when written back as ${JSON.stringify(argv)}`);
}

export function cliArgsTarget(): FuzzTarget<CliInput> {
  return {
    name: 'cli-args',
    parser: 'parseFlags (src/cli/args.ts)',
    input: () => cliInput(),
    run: async ({ specs, argv }) => {
      let out: ParsedFlags;
      try {
        out = parseFlags(argv, specs);
      } catch (e) {
        return rejection(e, [UsageError], /./);
      }
      checkFlags(out, specs);
      return 'accepted';
    },
  };
}

// --- the page's dropped files --------------------------------------------------------------------

const backend = new CpuBackend({ precision: 'float32' });
const modelFiles: Uint8Array[] = [];

async function buildModelFiles(): Promise<void> {
  if (modelFiles.length) return;
  const specs: Array<[ModelSpecInput, Record<string, string>]> = [
    [{ arch: 'small-cnn', width: 1, inputSize: 8, inChannels: 1, numClasses: 3 }, {}],
    [{ arch: 'small-cnn', width: 2, inputSize: 4, inChannels: 3, numClasses: 10, normalize: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] } }, attackToMetadata(attackPreset('badnets'))],
    [{ arch: 'resnet18', width: 1, inChannels: 1, numClasses: 2 }, {}],
    [{ arch: 'preact-resnet18', width: 1, inChannels: 3, numClasses: 4 }, attackToMetadata(attackPreset('blend'))],
  ];
  for (const [spec, metadata] of specs) {
    const m = createModel(backend, spec, { seed: 5 });
    modelFiles.push(await saveModel(m, metadata));
    m.dispose();
  }
}

const modelBytes = (): fc.Arbitrary<Uint8Array> => {
  const valid = fc.constantFrom(...modelFiles);
  const edited = fc.tuple(valid, fc.array(headerEdit, { minLength: 1, maxLength: 3 })).map(([bytes, edits]) => edits.reduce((b, e) => e(b), bytes));
  return fc.oneof(valid, edited, mutated(valid, [headerEdit, headerEdit, headerEdit]), fc.uint8Array({ maxLength: 64 }));
};

export const pageModelTarget: FuzzTarget<Uint8Array> = {
  name: 'page-model',
  parser: 'openModel (web/src/model.ts)',
  setup: buildModelFiles,
  input: modelBytes,
  run: async (bytes) => {
    let opened;
    try {
      opened = openModel(backend, bytes, 'dropped.safetensors');
    } catch (e) {
      return rejection(e, [PageError, StateValueError, ParseError], /dropped\.safetensors/);
    }
    try {
      const { spec } = opened;
      holds(['small-cnn', 'resnet18', 'preact-resnet18'].includes(spec.arch), `arch ${spec.arch}`);
      holds([spec.width, spec.inChannels, spec.numClasses].every((v) => Number.isSafeInteger(v) && v >= 1), `spec ${JSON.stringify(spec)}`);
      holds(opened.attack !== null || opened.attackProblem !== undefined || opened.metadata.attack === undefined, 'a recorded attack neither read nor explained');
    } finally {
      opened.model.dispose();
    }
    return 'accepted';
  },
};

interface DroppedImages {
  files: Array<{ path: string; bytes: Uint8Array }>;
  spec: ModelSpec;
}

/** Images of one size (3x3) in every channel count and both formats, so that whole picks can succeed. */
const threeByThree: fc.Arbitrary<Uint8Array> = fc.constantFrom(1, 2, 3, 4).chain((channels) =>
  fc.uint8Array({ minLength: 9 * channels, maxLength: 9 * channels }).map((data) => {
    const image = { width: 3, height: 3, channels: channels as ChannelCount, data };
    return channels === 1 || channels === 3 ? encodePnm(image) : encodePng(image);
  }),
);

const droppedImages: fc.Arbitrary<DroppedImages> = fc
  .record({ channels: fc.constantFrom(1 as const, 3 as const), folders: fc.boolean(), numClasses: fc.integer({ min: 1, max: 4 }), fixedSize: fc.boolean() })
  .chain(({ channels, folders, numClasses, fixedSize }) =>
    fc.record({
      spec: fc.constant<ModelSpec>({ arch: 'resnet18', width: 1, inChannels: channels, numClasses, ...(fixedSize ? { inputSize: 3 } : {}) }),
      files: fc.array(
        fc.record({
          cls: fc.constantFrom('0', '1', '2', '7', 'cat', 'dog'),
          name: fc.stringMatching(/^[a-z0-9]{1,5}$/),
          ext: fc.constantFrom('.png', '.ppm', '.pgm', '.txt'),
          bytes: fc.oneof({ weight: 3, arbitrary: threeByThree }, rasterImage([1, 2, 3, 4]).map((image) => encodePng(image)), pngBytes, pnmBytes),
        }),
        { minLength: 1, maxLength: 4 },
      ).map((files) => files.map((f) => ({ path: folders ? `picked/${f.cls}/${f.name}${f.ext}` : `${f.cls}_${f.name}${f.ext}`, bytes: f.bytes }))),
    }),
  );

export const pageImagesTarget: FuzzTarget<DroppedImages> = {
  name: 'page-images',
  parser: 'imagesToDataset (web/src/images.ts)',
  input: () => droppedImages,
  run: async ({ files, spec }): Promise<Outcome> => {
    const picked: PickedFile[] = files.map((f) => ({ path: f.path, bytes: async () => f.bytes }));
    let ds;
    try {
      ds = await imagesToDataset(picked, spec, 'clean images');
    } catch (e) {
      return rejection(e, [PageError], /./);
    }
    const images = files.filter((f) => /\.(png|ppm|pgm)$/.test(f.path)).length;
    holds(ds.n === images, `${ds.n} images in the dataset from ${images} image files`);
    holds(ds.c === spec.inChannels && ds.images.length === ds.n * ds.c * ds.h * ds.w, 'pixels do not match n x c x h x w');
    holds(spec.inputSize === undefined || (ds.h === spec.inputSize && ds.w === spec.inputSize), 'images not of the model\'s size');
    holds(ds.labels.every((l) => Number.isInteger(l) && l >= 0 && l < spec.numClasses), 'a label outside the model\'s classes');
    return 'accepted';
  },
};

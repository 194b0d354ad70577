/**
 * `awm scan`: tells whether a model is backdoored, and which class it attacks, from a few clean images (src/awm/scan.ts).
 * Prints a one-line verdict and the per-class evidence; with --report, writes the JSON and a PNG of the recovered
 * triggers beside it, atomically, after checking every path before the backend starts.
 */
import { basename, dirname, join } from 'node:path';
import type { ParsedFlags } from './args.js';
import { UsageError } from './args.js';
import { emitResult, type Command, type CommandIO } from './command.js';
import { backendFlags, isDatasetName, openBackend, openModel, stringFlag } from './common.js';
import { checkOutputPaths, forceFlag, requireInputFile, type NamedPath } from './outputs.js';
import { checkCleanInput, chooseCleanSource, cleanSourceFlags } from './purify-sources.js';
import { writeFilesAtomic } from '../io/atomic-write.node.js';
import { encodePngCompressed } from '../io/png.node.js';
import { scanModel, SCAN_DEFAULTS } from '../awm/scan.js';
import { scanReport, scanTable } from '../awm/scan-text.js';
import { scanPicture } from '../awm/scan-picture.js';

export const scanCommand: Command = {
  name: 'scan',
  summary: 'tell whether a model is backdoored, and which class it attacks, from a few clean images',
  flags: {
    model: { type: 'string', required: true, help: 'the model to scan (.safetensors)' },
    ...cleanSourceFlags('1'),
    'data-dir': { type: 'string', help: 'dataset folder when --clean names a dataset' },
    steps: { type: 'int', min: 1, default: SCAN_DEFAULTS.steps, help: 'descent steps for the triggers towards each class' },
    seed: { type: 'int', min: 0, default: 0, help: 'seed for every random choice' },
    report: { type: 'string', help: 'write the findings as JSON here, and the recovered triggers as a PNG beside it' },
    ...forceFlag,
    ...backendFlags,
  },
  run: runScan,
};

/** The PNG beside a report: report.json -> report-triggers.png. */
export function scanPicturePath(jsonPath: string): string {
  return join(dirname(jsonPath), `${basename(jsonPath.replace(/\.json$/, ''))}-triggers.png`);
}

function checkScanPaths(flags: ParsedFlags): void {
  const inputs: NamedPath[] = [{ what: '--model', path: String(flags.model) }];
  requireInputFile(inputs[0]!);
  const clean = checkCleanInput(flags);
  if (clean) inputs.push(clean);
  const report = stringFlag(flags, 'report');
  if (report === undefined) return;
  if (!report.endsWith('.json')) throw new UsageError('--report must name a .json file');
  checkOutputPaths([{ what: '--report', path: report }, { what: 'the triggers picture', path: scanPicturePath(report) }], inputs, flags.force === true);
}

async function runScan(flags: ParsedFlags, io: CommandIO): Promise<void> {
  const modelPath = String(flags.model);
  const seed = flags.seed as number;
  checkScanPaths(flags);
  // One image per class is the setting the scan is made for; a dataset gives that unless asked otherwise.
  const cleanFlags = isDatasetName(String(flags.clean)) && flags['per-class'] === undefined && flags.count === undefined ? { ...flags, 'per-class': 1 } : flags;
  const backend = await openBackend(flags, io);
  const { model, spec } = await openModel(backend, modelPath);
  try {
    io.log(`model: ${modelPath} (${spec.arch}, width ${spec.width}, ${spec.inChannels} channel(s), ${spec.numClasses} classes)`);
    const choice = await chooseCleanSource(cleanFlags, spec, seed);
    io.log(`clean: ${choice.description}`);
    const r = await scanModel(model, backend, choice.clean, { ...SCAN_DEFAULTS, steps: flags.steps as number, seed }, (line) => io.log(line));
    const data = scanReport(r, modelPath, backend.info.description);
    const files: Array<[string, Uint8Array | string]> = [];
    const report = stringFlag(flags, 'report');
    if (report !== undefined) {
      files.push([report, `${JSON.stringify(data, null, 2)}\n`]);
      files.push([scanPicturePath(report), encodePngCompressed(scanPicture(r, choice.clean, choice.classNames))]);
      await writeFilesAtomic(files);
    }
    emitResult(io, [r.verdict, ...scanTable(r, choice.classNames), `${r.seconds.toFixed(1)} s`, ...files.map(([path]) => `wrote ${path}`)], { ...data, written: files.map(([path]) => path) });
  } finally {
    model.dispose();
  }
}

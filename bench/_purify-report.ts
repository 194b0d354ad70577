/**
 * The figures a benchmark keeps from one `awm purify` run's report (bench/defense.ts and bench/awm-sweep.ts
 * both run the CLI and read them back; the leading underscore keeps `npm run bench` from running this file).
 */
import { readFileSync } from 'node:fs';
import type { PurifyReport } from '../src/awm/purify.js';

export interface PurifyFigures {
  /** Evaluation images (the test split minus the clean images, or the --eval-count subset). */
  evalImages: number;
  accBefore: number;
  accAfter: number;
  /** Target class excluded. */
  asrBefore: number;
  asrAfter: number;
  /** The defense's own seconds (evaluation excluded). */
  seconds: number;
  backend: string;
  /** The defense's largest resident set, and its live storages at the start and end (report.memory). */
  peakRssMiB?: number;
  liveStorages?: [number, number];
}

/** Reads the report at `path`; it must hold the evaluation before and after (an attack spec was found). */
export function readPurifyReport(path: string): { report: PurifyReport; figures: PurifyFigures } {
  const report = JSON.parse(readFileSync(path, 'utf8')) as PurifyReport;
  if (!report.before || !report.after) throw new Error('the report has no before/after evaluation (is the attack spec beside the model?)');
  return {
    report,
    figures: {
      evalImages: report.before.n,
      accBefore: report.before.cleanAccuracy, accAfter: report.after.cleanAccuracy,
      asrBefore: report.before.asr, asrAfter: report.after.asr,
      seconds: report.seconds, backend: report.backend,
      ...(report.memory ? { peakRssMiB: report.memory.peakRssMiB, liveStorages: [report.memory.liveStoragesStart, report.memory.liveStoragesEnd] as [number, number] } : {}),
    },
  };
}

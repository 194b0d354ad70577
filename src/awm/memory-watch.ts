/**
 * Memory over a defense run: the backend's live storages and bytes (what a leak in an op or a forgotten tensor
 * grows), and the process's resident set where the host tells it (Node), sampled at each progress line. A run
 * whose live storages end where they started and whose resident set stops climbing after the first rounds can run
 * for hours; the report keeps the samples so a long bench can show it.
 */
import type { Backend } from '../tensor/backend.js';

export interface MemorySample {
  /** What the run was doing (a progress line's first words, or 'start' / 'end'). */
  at: string;
  liveStorages: number;
  liveMiB: number;
  /** The process's resident set; absent where the host does not say (a browser). */
  rssMiB?: number;
}

export interface MemorySummary {
  samples: MemorySample[];
  /** The largest resident set seen (absent where the host does not say). */
  peakRssMiB?: number;
  /** Live storages at the start and at the end: equal when the run released everything it made. */
  liveStoragesStart: number;
  liveStoragesEnd: number;
}

const MiB = 1024 * 1024;
/** The samples a report keeps at most: the first and last ones and an even spread between. */
const MAX_SAMPLES = 64;

/** The resident set of this process in MiB, where the host has Node's `process.memoryUsage`. */
export function residentMiB(): number | undefined {
  const proc = (globalThis as { process?: { memoryUsage?: { rss?: () => number } } }).process;
  const rss = proc?.memoryUsage?.rss;
  return typeof rss === 'function' ? rss() / MiB : undefined;
}

export function memorySample(backend: Backend, at: string): MemorySample {
  const rss = residentMiB();
  return { at, liveStorages: backend.liveStorages(), liveMiB: backend.liveBytes() / MiB, ...(rss === undefined ? {} : { rssMiB: rss }) };
}

/** Keeps at most `max` samples: the first, the last and an even spread between (every sample still counts for the peak). */
export function thinSamples<T>(samples: readonly T[], max = MAX_SAMPLES): T[] {
  if (samples.length <= max) return [...samples];
  const picked: T[] = [];
  for (let k = 0; k < max; k++) picked.push(samples[Math.round((k * (samples.length - 1)) / (max - 1))]!);
  return picked;
}

export class MemoryWatch {
  private readonly samples: MemorySample[] = [];
  private peak: number | undefined;

  constructor(private readonly backend: Backend) {
    this.sample('start');
  }

  sample(at: string): void {
    const s = memorySample(this.backend, at);
    if (s.rssMiB !== undefined) this.peak = Math.max(this.peak ?? 0, s.rssMiB);
    this.samples.push(s);
  }

  /** Takes the 'end' sample and summarises the run. */
  finish(): MemorySummary {
    this.sample('end');
    return {
      samples: thinSamples(this.samples),
      ...(this.peak === undefined ? {} : { peakRssMiB: this.peak }),
      liveStoragesStart: this.samples[0]!.liveStorages,
      liveStoragesEnd: this.samples[this.samples.length - 1]!.liveStorages,
    };
  }
}

/** A progress line's leading words (for example "round  3/20"), as a sample's label. */
export function sampleLabel(line: string): string {
  return line.replace(/\s+/g, ' ').trim().split(' ').slice(0, 2).join(' ').slice(0, 32);
}

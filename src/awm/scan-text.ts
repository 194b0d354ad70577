/** The scan's findings in words and as the JSON a program reads: shared by `awm scan` and the page. */
import type { ScanResult } from './scan.js';

/** The JSON a program reads: the verdict, per-class scores and seconds (the triggers are in the picture). */
export function scanReport(r: ScanResult, model: string, backend: string): Record<string, unknown> {
  return {
    model, backend,
    backdoored: r.backdoored, target: r.target, allToAll: r.allToAll, verdict: r.verdict,
    scores: r.scores, medianScore: r.medianScore, lead: r.lead, untargeted: r.untargeted,
    options: r.options, seconds: r.seconds,
  };
}

/** The evidence as a small table: one row per class. */
export function scanTable(r: ScanResult, classNames?: readonly string[]): string[] {
  const pct = (x: number) => `${(100 * x).toFixed(0)} %`.padStart(6);
  return [
    'class                sparse  dense  score',
    ...r.scores.map((s) => `${`${s.cls}${classNames?.[s.cls] ? ` ${classNames[s.cls]}` : ''}`.slice(0, 20).padEnd(20)} ${pct(s.sparseFlip)} ${pct(s.denseFlip)} ${pct(s.score)}${s.cls === r.target ? '  <- target' : ''}`),
    `one untargeted trigger moves ${(100 * r.untargeted.moved).toFixed(0)} % of the clean images' answers (${(100 * r.untargeted.topDestinationShare).toFixed(0)} % of those to one class)`,
  ];
}

/** One-line human descriptions of attacks, for logs and reports. */
import type { AttackSpec, BackdoorSpec, PatternSource, TriggerSpec } from './types.js';

export function describeAttack(spec: AttackSpec): string {
  const parts = spec.backdoors.map(describeBackdoor);
  if (parts.length === 1) return `${spec.name}: ${parts[0]}`;
  return `${spec.name}: ${parts.length} backdoors on disjoint poisoned sets: ${parts.map((p, i) => `(${i + 1}) ${p}`).join('; ')}`;
}

export function describeBackdoor(b: BackdoorSpec): string {
  const label = b.label.type === 'all-to-all' ? 'labels y -> (y + 1) mod C' : b.label.type === 'all-to-one' ? `label -> ${b.label.target}` : `clean-label, target ${b.label.target} (labels kept)`;
  const pct = `${+(b.poison.rate * 100).toFixed(2)} %`;
  const pool = b.poison.eligible === 'all' ? 'all images' : b.poison.eligible === 'non-target' ? 'non-target images' : 'target-class images';
  const where = b.trigger.type === 'warp' ? `${pct} of every batch` : b.poison.rateOf === 'all' ? `${pct} of the training set, from ${pool}` : `${pct} of the ${pool}`;
  const pgd = b.pgd ? `; PGD L-inf ${fmt(b.pgd.eps * 255)}/255, ${b.pgd.steps} steps of ${fmt(b.pgd.stepSize * 255)}/255` : '';
  return `${describeTrigger(b.trigger)}; ${label}; ${where}${pgd}`;
}

export function describeTrigger(t: TriggerSpec): string {
  switch (t.type) {
    case 'patch': {
      const at = 'corner' in t.position ? `${t.position.corner}${t.position.margin ? `, ${t.position.margin} px from the border` : ''}` : `row ${t.position.top}, column ${t.position.left}`;
      const values = t.values.length === 1 ? (t.values[0] === 1 ? 'white' : `value ${fmt(t.values[0]!)}`) : `${t.values.length} values`;
      return `BadNets ${t.height}x${t.width} ${values} patch at ${at}`;
    }
    case 'blend':
      return `blend x' = ${fmt(1 - t.alpha)} x + ${fmt(t.alpha)} p, p = ${describePattern(t.pattern)}`;
    case 'additive':
      return `additive x' = clip(x + p), p = ${describePattern(t.pattern)}`;
    case 'corners':
      return `${t.size}x${t.size} checkerboards in the four corners`;
    case 'warp':
      return `WaNet warp k ${t.k}, s ${fmt(t.s)}, grid rescale ${fmt(t.gridRescale)}, cross ratio ${fmt(t.crossRatio)}, seed ${t.seed}`;
  }
}

function describePattern(p: PatternSource): string {
  switch (p.type) {
    case 'noise':
      return `uniform noise (seed ${p.seed})`;
    case 'trojan-square':
      return `colourful ${p.size}x${p.size} square ${p.margin} px from the bottom-right border (seed ${p.seed})`;
    case 'trojan-watermark':
      return `sparse watermark, ${fmt(p.density * 100)} % of pixels ±${fmt(p.amplitude)} (seed ${p.seed})`;
    case 'inline':
      return `given ${p.shape.join('x')} image`;
    case 'file':
      return `image "${p.key}" of ${p.path}`;
  }
}

function fmt(v: number): string {
  return String(+v.toFixed(4));
}

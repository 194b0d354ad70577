/**
 * WGSL text helpers for register-tiled GEMM kernels (matmul and the implicit-GEMM convolutions).
 *
 * One thread owns a tm x tn block of outputs held in tm * tn/4 vec4 accumulators named acc_r_c
 * (row r, columns 4c..4c+3). Plain `let`/`var` scalars rather than arrays, so the whole tile stays
 * in registers after unrolling instead of going through indexable private memory.
 */

export interface RegisterTile {
  /** Output rows per thread. */
  tm: number;
  /** Output columns per thread; a multiple of 4. */
  tn: number;
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** Declares the zeroed accumulators. */
export function declareAccumulators(t: RegisterTile): string {
  const lines: string[] = [];
  for (const r of range(t.tm)) for (const c of range(t.tn / 4)) lines.push(`var acc_${r}_${c} = vec4<f32>(0.0);`);
  return lines.join('\n');
}

/**
 * One rank-1 update of the tile: `a[r]` are tm scalar expressions (column of A), `b[c]` tn/4 vec4
 * expressions (row of B). Each operand is bound to a `let` first so it is loaded exactly once.
 */
export function rankOneUpdate(t: RegisterTile, a: string[], b: string[], tag: string): string {
  const lines: string[] = [];
  for (const r of range(t.tm)) lines.push(`let a${tag}_${r} = ${a[r]};`);
  for (const c of range(t.tn / 4)) lines.push(`let b${tag}_${c} = ${b[c]};`);
  for (const r of range(t.tm)) {
    for (const c of range(t.tn / 4)) lines.push(`acc_${r}_${c} += a${tag}_${r} * b${tag}_${c};`);
  }
  return lines.join('\n');
}

/** vec4 built from four scalar expressions. */
export function vec4Of(parts: string[]): string {
  return `vec4<f32>(${parts.join(', ')})`;
}

/** Indents every line of a block (readability of the generated WGSL when debugging). */
export function indent(text: string, spaces = 2): string {
  const pad = ' '.repeat(spaces);
  return text.split('\n').map((l) => (l ? pad + l : l)).join('\n');
}

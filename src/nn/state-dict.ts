/**
 * State dicts: the name -> host tensor maps PyTorch saves, and the strict load that checks every
 * name, shape, dtype and value before writing anything, so a failed load leaves the model as it was.
 */
import type { Tensor } from '../tensor/tensor.js';
import { tensor } from '../ops/create.js';
import { assign } from '../ops/layout.js';

export type HostData = Float32Array | Float64Array | Int32Array | Uint8Array;

/** One entry of a state dict on the host. `dtype` is the safetensors dtype when known (e.g. "F32", "I64"). */
export interface HostTensor {
  shape: readonly number[];
  data: HostData;
  dtype?: string;
}

export type StateDict = Map<string, HostTensor>;
export type StateDictLike = StateDict | ReadonlyMap<string, HostTensor> | Record<string, HostTensor>;

/** A place in a module that a state-dict key reads from and writes to. */
export interface StateSlot {
  readonly shape: readonly number[];
  /** int64 slots hold counters (BatchNorm's num_batches_tracked); the rest are floats. */
  readonly kind: 'float' | 'int64';
  /** An optional key is neither missing when absent nor unexpected when present. */
  readonly optional: boolean;
  /** Whether `stateDict()` writes this key (an optional key the source lacked is left out). */
  included(): boolean;
  read(): Promise<HostTensor>;
  write(value: HostTensor): void;
  /** Called when a load's source lacks this optional key. */
  markAbsent(): void;
}

/** A float parameter or buffer: loads overwrite its values in place, so optimisers keep their references. */
export function tensorSlot(t: Tensor): StateSlot {
  return {
    shape: t.shape,
    kind: 'float',
    optional: false,
    included: () => true,
    read: async () => ({ shape: [...t.shape], data: copyOf(await t.data()) }),
    write: (value) => {
      const tmp = tensor(t.backend, value.data, t.shape, { dtype: 'float32' });
      try {
        assign(t, tmp);
      } finally {
        tmp.dispose();
      }
    },
    markAbsent: () => undefined,
  };
}

// The backend may hand out its own buffer on the CPU; a state dict must not alias live storage.
function copyOf(a: Float32Array | Float64Array | Int32Array): Float32Array | Float64Array | Int32Array {
  return a.slice();
}

export interface LoadOptions {
  /** Missing and unexpected keys are errors (default true). Mis-shaped keys always are. */
  strict?: boolean;
}

export interface ShapeMismatch {
  key: string;
  expected: readonly number[];
  got: readonly number[];
}

export interface LoadReport {
  missing: string[];
  unexpected: string[];
}

export class StateDictError extends Error {
  constructor(
    readonly owner: string,
    readonly missing: readonly string[],
    readonly unexpected: readonly string[],
    readonly mismatched: readonly ShapeMismatch[],
  ) {
    super(describeProblems(owner, missing, unexpected, mismatched));
    this.name = 'StateDictError';
  }
}

/** A value the model cannot use (integer data in a float slot, NaN, a negative variance); names the key and the rule. */
export class StateValueError extends Error {
  constructor(readonly owner: string, readonly key: string, readonly rule: string) {
    super(`Error(s) in loading state_dict for ${owner}: "${key}" ${rule}`);
    this.name = 'StateValueError';
  }
}

function describeProblems(owner: string, missing: readonly string[], unexpected: readonly string[], mismatched: readonly ShapeMismatch[]): string {
  const quote = (keys: readonly string[]) => keys.map((k) => `"${k}"`).join(', ');
  const lines = [`Error(s) in loading state_dict for ${owner}:`];
  if (missing.length) lines.push(`  Missing key(s) (${missing.length}): ${quote(missing)}`);
  if (unexpected.length) lines.push(`  Unexpected key(s) (${unexpected.length}): ${quote(unexpected)}`);
  for (const m of mismatched) {
    lines.push(`  Size mismatch for "${m.key}": the checkpoint has shape [${m.got.join(', ')}], the model [${m.expected.join(', ')}]`);
  }
  return lines.join('\n');
}

export function toStateMap(source: StateDictLike): ReadonlyMap<string, HostTensor> {
  return source instanceof Map ? source : new Map(Object.entries(source as Record<string, HostTensor>));
}

/** PyTorch accepts a one-element vector for a scalar slot (old checkpoints), and so do we. */
function shapeFits(slot: readonly number[], got: readonly number[]): boolean {
  if (slot.length === 0) return got.length === 0 || (got.length === 1 && got[0] === 1);
  return slot.length === got.length && slot.every((d, i) => d === got[i]);
}

/** Validates everything first, then writes, so a rejected load changes nothing. */
export function loadIntoSlots(owner: string, slots: ReadonlyMap<string, StateSlot>, source: StateDictLike, opts: LoadOptions = {}): LoadReport {
  const strict = opts.strict ?? true;
  const values = toStateMap(source);
  const missing: string[] = [];
  const mismatched: ShapeMismatch[] = [];
  for (const [key, slot] of slots) {
    const value = values.get(key);
    if (!value) {
      if (!slot.optional) missing.push(key);
    } else if (!shapeFits(slot.shape, value.shape)) {
      mismatched.push({ key, expected: slot.shape, got: value.shape });
    } else if (value.data.length !== sizeOfShape(slot.shape)) {
      mismatched.push({ key, expected: slot.shape, got: [value.data.length] });
    } else if (slot.kind === 'int64') {
      if (!(Number.isSafeInteger(value.data[0]) && value.data[0]! >= 0)) {
        throw new StateValueError(owner, key, `must hold a non-negative integer, got ${value.data[0]}`);
      }
    } else {
      const problem = floatProblem(key, value);
      if (problem) throw new StateValueError(owner, key, problem);
    }
  }
  const unexpected = [...values.keys()].filter((k) => !slots.has(k));
  if (mismatched.length || (strict && (missing.length || unexpected.length))) {
    throw new StateDictError(owner, missing, unexpected, mismatched);
  }
  for (const [key, slot] of slots) {
    const value = values.get(key);
    if (value) slot.write(value);
    else if (slot.optional) slot.markAbsent();
  }
  return { missing, unexpected };
}

export async function readSlots(slots: ReadonlyMap<string, StateSlot>): Promise<StateDict> {
  const out: StateDict = new Map();
  for (const [key, slot] of slots) if (slot.included()) out.set(key, await slot.read());
  return out;
}

/** Dtypes a float slot accepts; integer data there is a wrongly typed file whose bytes would load as nonsense. */
const FLOAT_DTYPES: ReadonlySet<string> = new Set(['F32', 'F16', 'BF16', 'F64']);

/** The last part of a key: PyTorch names BatchNorm's statistics `running_mean` and `running_var` in every model. */
function leafName(key: string): string {
  return key.slice(key.lastIndexOf('.') + 1);
}

/** Why a float slot cannot take `value`, or undefined when it can. */
function floatProblem(key: string, value: HostTensor): string | undefined {
  if (value.dtype !== undefined && !FLOAT_DTYPES.has(value.dtype)) {
    return `is stored as ${value.dtype}, but a float tensor (weight, bias or BatchNorm statistic) must be F32, F16, BF16 or F64`;
  }
  const leaf = leafName(key);
  const rule = leaf === 'running_var' ? 'a BatchNorm running variance must be finite and non-negative'
    : leaf === 'running_mean' ? 'a BatchNorm running mean must be finite'
    : 'weights must be finite (no NaN or Infinity)';
  const data = value.data;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v) || (leaf === 'running_var' && v < 0)) return `element ${i} is ${v}: ${rule}`;
  }
  return undefined;
}

function sizeOfShape(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

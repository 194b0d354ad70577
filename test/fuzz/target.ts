/**
 * What a fuzz target is (a parser, the inputs to throw at it, and the property its answer must
 * satisfy), and the runner the tests and bench/fuzz.ts share. A target's `run` returns 'accepted'
 * when the parser gave a value that passed the checks, 'rejected' when it refused with the project's
 * own error, and throws for anything else: a PropertyViolation, or the parser's unexpected error.
 */
import fc from 'fast-check';

export type Outcome = 'accepted' | 'rejected';

/** A fixed seed, so `npm test` sees the same inputs on every run. */
export const FUZZ_SEED = 4242;

export interface FuzzTarget<T = unknown> {
  /** Short name for tables, e.g. "safetensors". */
  name: string;
  /** The function under test and its file. */
  parser: string;
  /** Builds what the inputs need (saved model files); called once before `input()`. */
  setup?: () => Promise<void>;
  input: () => fc.Arbitrary<T>;
  run: (input: T) => Promise<Outcome>;
}

/** Any target, for lists of targets with different input types. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type SomeFuzzTarget = FuzzTarget<any>;

/** The parser answered, but wrongly (a value that breaks its invariants, or a round trip that changes it). */
export class PropertyViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PropertyViolation';
  }
}

export function holds(condition: boolean, what: string): asserts condition {
  if (!condition) throw new PropertyViolation(what);
}

type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * 'rejected' when `error` is one of `expected` and its message matches `message` (it names the
 * source and says something); otherwise the error itself is rethrown as the failure.
 */
export function rejection(error: unknown, expected: readonly ErrorClass[], message: RegExp): Outcome {
  if (!expected.some((cls) => error instanceof cls)) throw error;
  const text = (error as Error).message;
  if (!message.test(text)) throw new PropertyViolation(`refused with a message that does not name the source: ${JSON.stringify(text.slice(0, 200))}`);
  return 'rejected';
}

export interface FuzzCounts {
  tried: number;
  accepted: number;
  rejected: number;
}

/** Runs `target` on `numRuns` inputs; throws fast-check's report (with the shrunk input) on the first failure. */
export async function fuzz<T>(target: FuzzTarget<T>, numRuns: number, seed = FUZZ_SEED): Promise<FuzzCounts> {
  await target.setup?.();
  const counts: FuzzCounts = { tried: 0, accepted: 0, rejected: 0 };
  await fc.assert(
    fc.asyncProperty(target.input(), async (input) => {
      const outcome = await target.run(input);
      counts.tried++;
      counts[outcome]++;
    }),
    { seed, numRuns },
  );
  return counts;
}

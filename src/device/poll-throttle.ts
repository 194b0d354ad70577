/**
 * Dawn's Node bindings keep a pending GPU promise (mapAsync, onSubmittedWorkDone) alive by
 * re-queueing their event processing with setImmediate, which spins Node's main thread at 100 %
 * and takes a core from a CPU-emulated GPU. Measured on SwiftShader (2 cores): a batched dispatch
 * cost 74 us with the spin and 30 us without it. While one of our waits is pending we route
 * setImmediate through a 1 ms timer; outside our waits the global is untouched.
 */

let installed = false;
let pending = 0;
let original: typeof setImmediate | null = null;

export function installPollThrottle(): void {
  installed = typeof setImmediate === 'function';
}

function throttled(callback: (...args: unknown[]) => void, ...args: unknown[]): NodeJS.Immediate {
  return setTimeout(callback, 1, ...args) as unknown as NodeJS.Immediate;
}

/** Awaits a GPU promise with the setImmediate spin replaced by a 1 ms timer. */
export async function gpuWait<T>(start: () => Promise<T>): Promise<T> {
  if (!installed) return start();
  // Swap before starting the operation: Dawn schedules its first poll inside the call.
  if (pending++ === 0) {
    original = globalThis.setImmediate;
    (globalThis as { setImmediate: unknown }).setImmediate = throttled;
  }
  try {
    return await start();
  } finally {
    if (--pending === 0 && original) {
      globalThis.setImmediate = original;
      original = null;
    }
  }
}

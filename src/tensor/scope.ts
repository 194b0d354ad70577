/**
 * Explicit tensor lifetimes. GPU memory must not wait for JavaScript's garbage collector, so every
 * tensor is either disposed by its owner or tracked by the innermost open scope:
 *
 *   const loss = tidy(() => { ...forward, backward, optimiser step...; return loss; });
 *
 * disposes every tensor created inside except the returned ones (which move to the enclosing
 * scope) and those passed to `keep`. Tensors created outside any scope (parameters, datasets)
 * live until their `dispose()`.
 */

export interface Disposable {
  dispose(): void;
  readonly disposed: boolean;
}

const stack: Set<Disposable>[] = [];

export function trackInScope(t: Disposable): void {
  stack[stack.length - 1]?.add(t);
}

/** Removes `t` from every open scope: it now lives until its own dispose(). */
export function keep<T extends Disposable>(t: T): T {
  for (const s of stack) s.delete(t);
  return t;
}

export function beginScope(): Set<Disposable> {
  const s = new Set<Disposable>();
  stack.push(s);
  return s;
}

/** Closes `scope` (must be innermost), disposing its tensors except `survivors`; those it owned move to the parent scope. */
export function endScope(scope: Set<Disposable>, survivors: Iterable<Disposable> = []): void {
  if (stack[stack.length - 1] !== scope) throw new Error('endScope: scopes must close in the reverse order they opened');
  stack.pop();
  const saved = new Set(survivors);
  for (const t of scope) {
    if (saved.has(t)) continue;
    if (!t.disposed) t.dispose();
  }
  // Only tensors this scope owned move up: a survivor made outside it (or kept) keeps its owner.
  const parent = stack[stack.length - 1];
  if (parent) for (const t of saved) if (scope.has(t) && !t.disposed) parent.add(t);
}

/** Collects Disposables inside a value (a tensor, an array, or a plain object of them). */
export function collectDisposables(value: unknown, out: Disposable[] = []): Disposable[] {
  if (value && typeof value === 'object') {
    if ('dispose' in value && 'disposed' in value) out.push(value as Disposable);
    else if (Array.isArray(value)) for (const v of value) collectDisposables(v, out);
    else if (Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) collectDisposables(v, out);
  }
  return out;
}

/** Runs synchronous `fn` in a scope; tensors it returns survive. Not for async functions (use beginScope/endScope around awaits). */
export function tidy<T>(fn: () => T): T {
  const scope = beginScope();
  let result: T;
  try {
    result = fn();
  } catch (e) {
    endScope(scope);
    throw e;
  }
  if (result instanceof Promise) {
    endScope(scope);
    throw new Error('tidy() takes a synchronous function; use beginScope/endScope across awaits');
  }
  endScope(scope, collectDisposables(result));
  return result;
}

export function scopeDepth(): number {
  return stack.length;
}

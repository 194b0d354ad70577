/** The few DOM helpers the page needs; ids are checked once so a typo fails loudly at start-up. */

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page: no element #${id}`);
  return el as T;
}

export function inputById(id: string): HTMLInputElement {
  return byId<HTMLInputElement>(id);
}

/** Creates an element with text content and attributes. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, text = '', attrs: Record<string, string> = {}): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (text) node.textContent = text;
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

/** A canvas sized in CSS pixels and backed by device pixels, so charts stay sharp on HiDPI screens. */
export function prepareCanvas(canvas: HTMLCanvasElement, cssWidth: number, cssHeight: number): CanvasRenderingContext2D {
  const ratio = Math.max(1, Math.round(globalThis.devicePixelRatio || 1));
  canvas.width = cssWidth * ratio;
  canvas.height = cssHeight * ratio;
  canvas.style.width = `${cssWidth}px`;
  canvas.style.height = `${cssHeight}px`;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('page: this browser gives no 2D canvas');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return ctx;
}

/** Counts draws on a view's element; the browser test reads it to check that every view drew. */
export function markDrawn(node: HTMLElement): void {
  node.dataset.drawn = String(Number(node.dataset.drawn ?? '0') + 1);
}

export const percent = (x: number): string => `${(100 * x).toFixed(1)} %`;

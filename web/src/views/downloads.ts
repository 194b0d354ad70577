/** Download links for the purified model and the report; blob URLs, so nothing is uploaded anywhere. */
import { el, markDrawn } from '../dom.js';

export interface Download {
  name: string;
  label: string;
  bytes: Uint8Array | string;
  type: string;
}

export class DownloadsView {
  private urls: string[] = [];

  constructor(private readonly list: HTMLElement) {}

  reset(): void {
    for (const u of this.urls) URL.revokeObjectURL(u);
    this.urls = [];
    this.list.replaceChildren();
    delete this.list.dataset.drawn;
  }

  show(files: readonly Download[]): void {
    this.reset();
    for (const f of files) {
      const url = URL.createObjectURL(new Blob([f.bytes as BlobPart], { type: f.type }));
      this.urls.push(url);
      const size = typeof f.bytes === 'string' ? f.bytes.length : f.bytes.byteLength;
      const item = el('li');
      item.append(el('a', f.label, { href: url, download: f.name }), document.createTextNode(` (${f.name}, ${(size / 1024).toFixed(0)} KiB)`));
      this.list.append(item);
    }
    markDrawn(this.list);
  }
}

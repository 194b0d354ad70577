/**
 * Buffer pool. GPU buffers are recycled by size class instead of being created and destroyed per
 * tensor: a released storage's buffer goes on its class's free list at once and may back the very
 * next allocation. That is safe because every use of a buffer is recorded into one ordered command
 * stream (dispatches and copies execute in recording order), and host writes never go through
 * queue.writeBuffer on a pooled buffer (see runtime.ts).
 */

/** Size classes: multiples of 256 B up to 64 KiB, then 8 steps per power of two (<= 12.5 % waste). */
export function sizeClass(bytes: number): number {
  const b = Math.max(16, bytes);
  if (b <= 65536) return Math.ceil(b / 256) * 256;
  const p = 2 ** Math.floor(Math.log2(b));
  const step = p / 8;
  return Math.ceil(b / step) * step;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  private freeBytes = 0;
  private live = 0;
  private liveCount = 0;

  constructor(private readonly device: GPUDevice, private readonly usage: number) {}

  acquire(bytes: number): { buffer: GPUBuffer; byteSize: number } {
    const size = sizeClass(bytes);
    const list = this.free.get(size);
    let buffer = list?.pop();
    if (buffer) this.freeBytes -= size;
    else buffer = this.device.createBuffer({ size, usage: this.usage });
    this.live += size;
    this.liveCount++;
    return { buffer, byteSize: size };
  }

  giveBack(buffer: GPUBuffer, byteSize: number): void {
    this.live -= byteSize;
    this.liveCount--;
    let list = this.free.get(byteSize);
    if (!list) this.free.set(byteSize, (list = []));
    list.push(buffer);
    this.freeBytes += byteSize;
  }

  /** Destroys every free buffer (live ones are untouched). */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.freeBytes = 0;
  }

  stats(): { liveBytes: number; liveBuffers: number; freeBytes: number } {
    return { liveBytes: this.live, liveBuffers: this.liveCount, freeBytes: this.freeBytes };
  }
}

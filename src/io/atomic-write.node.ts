/** Crash-safe file replacement for Node: readers see either the old file or the complete new one. */

import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Writes `data` to a temporary file in the same directory (so rename stays on one filesystem and is atomic),
 * fsyncs it, then renames it over `path`. On any failure the temporary file is removed and the error rethrown.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await writeFilesAtomic([[path, data]]);
}

/** Makes the rename itself durable; some platforms (Windows) cannot open directories, which is harmless to skip. */
async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Best effort only.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/**
 * Writes a set of files so that a failure leaves none of them half-done: every file is first written and synced to a
 * temporary name beside its target; only when all of them are complete are they renamed into place. If any write
 * fails, every temporary file is removed and no target is touched.
 */
export async function writeFilesAtomic(files: ReadonlyArray<readonly [string, Uint8Array | string]>): Promise<void> {
  const staged: Array<{ temp: string; path: string }> = [];
  try {
    for (const [path, data] of files) {
      const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
      staged.push({ temp, path });
      // 'wx' refuses to clobber a file that happens to have the same temporary name.
      const handle = await open(temp, 'wx');
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  } catch (error) {
    await Promise.all(staged.map((s) => unlink(s.temp).catch(() => undefined)));
    throw error;
  }
  let renamed = 0;
  try {
    for (const { temp, path } of staged) {
      await rename(temp, path);
      renamed++;
    }
  } catch (error) {
    await Promise.all(staged.slice(renamed).map((s) => unlink(s.temp).catch(() => undefined)));
    throw error;
  }
  for (const dir of new Set(staged.map((s) => dirname(s.path)))) await syncDirectory(dir);
}

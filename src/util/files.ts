import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Writes a file under a temporary name in the same folder, syncs it, and renames it into place:
 * a reader (or a crash) never sees half of it. Large buffers are written in 64 MiB slices.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'w');
  try {
    let at = 0;
    while (at < bytes.length) {
      const { bytesWritten } = await fh.write(bytes, at, Math.min(bytes.length - at, 1 << 26));
      at += bytesWritten;
    }
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
  } catch (e) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw e;
  }
}

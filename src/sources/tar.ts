/**
 * Streaming reader of .tar and .tar.gz archives (ustar and GNU long names), so an embedded data
 * set can stay one compressed file that is never unpacked to disk. Yields one member at a time.
 */
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { inputError } from '../util/errors.ts';

export interface TarEntry {
  /** the member's path inside the archive */
  name: string;
  data: Buffer;
}

const BLOCK = 512;

function field(h: Buffer, start: number, len: number): string {
  const end = h.indexOf(0, start);
  return h.toString('utf8', start, end >= 0 && end < start + len ? end : start + len);
}

/** Regular files of a tar(.gz) archive, in archive order. Truncation or corruption is an E_INPUT error. */
export async function* readTar(path: string): AsyncGenerator<TarEntry> {
  const raw = createReadStream(path);
  const stream = path.endsWith('.gz') || path.endsWith('.tgz') ? raw.pipe(createGunzip()) : raw;
  raw.on('error', (e) => stream.destroy(e));
  let buf: Buffer = Buffer.alloc(0);
  let longName: string | null = null;
  let ended = false;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      for (;;) {
        if (ended || buf.length < BLOCK) break;
        const h = buf.subarray(0, BLOCK);
        if (h.every((b) => b === 0)) {
          ended = true;
          break;
        }
        const sizeText = field(h, 124, 12).trim();
        const size = parseInt(sizeText, 8);
        if (!/^[0-7]+$/.test(sizeText) || !Number.isFinite(size)) throw inputError(path, undefined, `corrupt tar header (size field ${JSON.stringify(sizeText)})`);
        const total = BLOCK + Math.ceil(size / BLOCK) * BLOCK;
        if (buf.length < total) break;
        const type = String.fromCharCode(h[156]!);
        const prefix = field(h, 345, 155);
        const name = longName ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
        const data = Buffer.from(buf.subarray(BLOCK, BLOCK + size));
        buf = buf.subarray(total);
        if (type === 'L') {
          longName = data.toString('utf8').replace(/\0+$/, '');
          continue;
        }
        longName = null;
        if (type === '0' || type === '\0') yield { name, data };
      }
    }
  } catch (e) {
    if ((e as { code?: string }).code === 'E_INPUT') throw e;
    const msg = (e as Error).message;
    throw inputError(path, undefined, `cannot read archive: ${msg}${/unexpected end/i.test(msg) ? ' (the file is truncated)' : ''}`);
  }
  if (!ended && buf.length > 0) throw inputError(path, undefined, 'the archive is truncated (last member incomplete)');
}

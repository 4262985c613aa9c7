import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  saveSafetensors,
  tensorToFloat32,
} from '../../src/model/safetensors.ts';

// The format, written out by hand from the specification: u64 LE header length, the JSON header
// padded with spaces to a multiple of 8, then the little-endian data with no holes.
const HEADER =
  '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[1,1],"data_offsets":[8,16]}}';
const KNOWN = new Uint8Array([
  // 141 JSON bytes + 3 spaces = 144 = 0x90
  0x90, 0, 0, 0, 0, 0, 0, 0,
  ...Buffer.from(HEADER + '   ', 'utf8'),
  // a = [1.0, -2.0] as float32 LE
  0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0,
  // b = [[7]] as int64 LE
  0x07, 0, 0, 0, 0, 0, 0, 0,
]);

describe('safetensors', () => {
  it('writes the bytes the specification gives for a known example', () => {
    const bytes = encodeSafetensors(
      [
        { name: 'a', dtype: 'F32', shape: [2], data: new Float32Array([1, -2]) },
        { name: 'b', dtype: 'I64', shape: [1, 1], data: new BigInt64Array([7n]) },
      ],
      { format: 'pt' },
    );
    expect(Buffer.from(bytes).toString('hex')).toBe(Buffer.from(KNOWN).toString('hex'));
  });

  it('reads the known example', () => {
    const f = decodeSafetensors(KNOWN);
    expect(f.metadata).toEqual({ format: 'pt' });
    expect(f.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual([
      ['a', 'F32', [2]],
      ['b', 'I64', [1, 1]],
    ]);
    expect(Array.from(tensorToFloat32(f.tensors[0]!))).toEqual([1, -2]);
    const b = f.tensors[1]!.bytes;
    expect(new DataView(b.buffer, b.byteOffset, 8).getBigInt64(0, true)).toBe(7n);
  });

  it('reads a header written another way: unpadded, keys out of data order, metadata last', () => {
    const header = '{"y":{"data_offsets":[4,6],"shape":[1],"dtype":"BF16"},"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"__metadata__":{}}';
    const hb = Buffer.from(header, 'utf8');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(hb.length));
    // x = [1.0, -0.5] in float16 (0x3c00, 0xb800); y = [3.0] in bfloat16 (0x4040)
    const data = Buffer.from([0x00, 0x3c, 0x00, 0xb8, 0x40, 0x40]);
    const f = decodeSafetensors(new Uint8Array(Buffer.concat([len, hb, data])));
    const byName = Object.fromEntries(f.tensors.map((t) => [t.name, Array.from(tensorToFloat32(t))]));
    expect(byName).toEqual({ x: [1, -0.5], y: [3] });
  });

  it('round-trips random float32 tensors bit for bit', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }), fc.integer()), { maxLength: 5 }),
        (defs) => {
          const tensors = defs.map(([shape, seed], i) => {
            const n = shape.reduce((a, b) => a * b, 1);
            const data = new Float32Array(n).map((_, j) => Math.sin(seed + j) * 1e3);
            return { name: `t${i}`, dtype: 'F32' as const, shape, data };
          });
          const back = decodeSafetensors(encodeSafetensors(tensors, { k: 'v' }));
          expect(back.metadata).toEqual({ k: 'v' });
          expect(back.tensors.map((t) => t.name)).toEqual(tensors.map((t) => t.name));
          back.tensors.forEach((t, i) => {
            expect(t.shape).toEqual(tensors[i]!.shape);
            expect(Buffer.from(t.bytes).equals(Buffer.from(tensors[i]!.data.buffer))).toBe(true);
          });
        },
      ),
    );
  });

  it('saves atomically and loads from a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'synehr-st-'));
    const path = join(dir, 'm.safetensors');
    await saveSafetensors(path, [{ name: 'a', dtype: 'F32', shape: [2], data: new Float32Array([1, -2]) }, { name: 'b', dtype: 'I64', shape: [1, 1], data: new BigInt64Array([7n]) }], { format: 'pt' });
    expect(Buffer.from(await readFile(path)).equals(Buffer.from(KNOWN))).toBe(true);
    expect((await loadSafetensors(path)).tensors).toHaveLength(2);
  });

  describe('EXPECTED FAILURE', () => {
    const expectError = (bytes: Uint8Array, pattern: RegExp) =>
      expect(() => decodeSafetensors(bytes, 'model.safetensors')).toThrowError(pattern);

    it('a file shorter than the length field', () => expectError(KNOWN.subarray(0, 5), /model\.safetensors: truncated: 5 bytes/));
    it('a header cut short', () => expectError(KNOWN.subarray(0, 100), /truncated: header says 144 header bytes/));
    it('data cut short', () => expectError(KNOWN.subarray(0, KNOWN.length - 3), /truncated: tensor 'b' ends at byte 16 of the data, which has only 13/));
    it('an absurd header length', () => {
      const b = KNOWN.slice();
      b[6] = 0xff;
      expectError(b, /header length \d+ exceeds 100000000 bytes/);
    });
    it('a header that is not JSON', () => {
      const b = KNOWN.slice();
      b[8 + 1] = 0x7d; // '{}__metadata__...': a stray '}'
      expectError(b, /header is not valid UTF-8 JSON/);
    });
    it('trailing bytes after the last tensor', () => expectError(new Uint8Array([...KNOWN, 0]), /the data holds 17 bytes but the tensors cover 16/));
    it('a shape that does not match the offsets', () => {
      const h = HEADER.replace('"shape":[2]', '"shape":[3]');
      const b = Buffer.from(KNOWN);
      b.write(h + '   ', 8, 'utf8');
      expectError(new Uint8Array(b), /tensor 'a': data_offsets \[0, 8\] hold 8 bytes, shape \[3\] of F32 needs 12/);
    });
    it('an unknown dtype', () => {
      const b = Buffer.from(KNOWN);
      b.write(HEADER.replace('"F32"', '"Q32"') + '   ', 8, 'utf8');
      expectError(new Uint8Array(b), /tensor 'a': unsupported dtype "Q32"/);
    });
    it('data length that does not match the shape when writing', () =>
      expect(() => encodeSafetensors([{ name: 'a', dtype: 'F32', shape: [3], data: new Float32Array(2) }])).toThrowError(
        /tensor 'a': shape \[3\] of F32 needs 12 bytes, data has 8/,
      ));
    it('a missing file names the path', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'synehr-st-'));
      await writeFile(join(dir, 'x'), '');
      await expect(loadSafetensors(join(dir, 'nope.safetensors'))).rejects.toThrowError(/nope\.safetensors: cannot read safetensors file/);
    });
  });
});

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTokenShard, readTokenShard, shardPatient, writeTokenShard } from '../../src/tokenizer/shards.ts';
import { summarizeLengths, formatReport } from '../../src/tokenizer/report.ts';
import { SynehrError } from '../../src/util/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'synehr-shard-'));

describe('token shards', () => {
  it('write -> read round trip, uint16 or uint32 by vocabulary size', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200_000 }),
        fc.array(fc.array(fc.nat(), { maxLength: 30 }), { maxLength: 20 }),
        (V, raw) => {
          const seqs = raw.map((s) => s.map((x) => x % V));
          const ids = seqs.map((_, i) => `p${i}-é`);
          const shard = buildTokenShard(seqs, ids, V, 'abc123');
          const path = join(dir, 'rt.bin');
          writeTokenShard(path, shard);
          const back = readTokenShard(path);
          expect(back.ids).toBeInstanceOf(V <= 65536 ? Uint16Array : Uint32Array);
          expect(back.vocabSize).toBe(V);
          expect(back.vocabHash).toBe('abc123');
          expect(back.patientIds).toEqual(ids);
          expect(back.offsets.length).toBe(seqs.length + 1);
          seqs.forEach((s, p) => expect(Array.from(shardPatient(back, p))).toEqual(s));
        },
      ),
      { numRuns: 50 },
    );
  });

  const good = (): Buffer => {
    const path = join(dir, 'good.bin');
    writeTokenShard(path, buildTokenShard([[1, 2, 3], [4, 5]], ['a', 'b'], 10));
    return readFileSync(path);
  };
  const readBytes = (b: Buffer): (() => unknown) => {
    const path = join(dir, 'bad.bin');
    writeFileSync(path, b);
    return () => readTokenShard(path);
  };

  it('EXPECTED FAILURE - wrong magic, version, truncation, corrupt index or ids', () => {
    const b = good();
    const magic = Buffer.from(b);
    magic.write('PK\x03\x04', 0, 'latin1');
    expect(readBytes(magic)).toThrow(/bad\.bin: wrong magic "PK\\u0003\\u0004OKS\\u0000" \(expected "SYNTOKS\\u0000"\); not a synehr token shard/);
    const version = Buffer.from(b);
    version.writeUInt32LE(7, 8);
    expect(readBytes(version)).toThrow(/token shard version 7 is not supported \(this synehr reads version 1\)/);
    expect(readBytes(b.subarray(0, b.length - 3))).toThrow(/truncated or corrupt/);
    expect(readBytes(b.subarray(0, 20))).toThrow(/shorter than the 128-byte header/);
    const offsets = Buffer.from(b);
    offsets.writeUInt32LE(9, 128 + 4);
    expect(readBytes(offsets)).toThrow(/offsets\[2\] = 5 < offsets\[1\] = 9 \(corrupt index\)/);
    const ids = Buffer.from(b);
    ids.writeUInt16LE(10, 140); // first id (after 128-byte header + 3 offsets = 140): 10 >= V = 10
    expect(readBytes(ids)).toThrow(/token 0 has id 10 >= vocabulary size 10 \(corrupt ids\)/);
    try {
      readBytes(magic)();
    } catch (e) {
      expect(e).toBeInstanceOf(SynehrError);
      expect((e as SynehrError).code).toBe('E_SHARD');
    }
    expect(() => readTokenShard(join(dir, 'nope.bin'))).toThrow(/nope\.bin: cannot read token shard/);
  });

  it('BAD CALL - uint16 ids for a vocabulary that does not fit', () => {
    expect(() =>
      writeTokenShard(join(dir, 'x.bin'), { ids: new Uint16Array([1]), offsets: new Uint32Array([0, 1]), vocabSize: 70000, patientIds: ['a'], vocabHash: '' }),
    ).toThrow(RangeError);
  });
});

describe('length report', () => {
  it('mean, p50, p95, max and the share that fits each n_ctx (worked by hand)', () => {
    // lengths 100, 300, 600, 3000
    const s = summarizeLengths(new Uint32Array([0, 100, 400, 1000, 4000]));
    expect(s).toMatchObject({ patients: 4, tokens: 4000, mean: 1000, p50: 300, p95: 3000, max: 3000 });
    expect(s.patients_fit).toEqual({ 256: 0.25, 512: 0.5, 1024: 0.75, 2048: 0.75 });
    // at 256: 100 + 256 + 256 + 256 of 4000
    expect(s.tokens_fit[256]).toBeCloseTo(868 / 4000, 12);
    expect(s.tokens_fit[2048]).toBeCloseTo((100 + 300 + 600 + 2048) / 4000, 12);
    const text = formatReport({ data: 'x', vocab_size: 9, vocab_by_class: { special: 8, gap: 1 }, splits: { train: { ...s, stats: { dropped_codes: 0, dropped_values: 0, collapsed_repeats: 2 } } }, seconds: 0.5 });
    expect(text).toMatch(/tokenizer for 'x': 9 tokens \(special 8, gap 1\)/);
    expect(text).toMatch(/repeats collapsed 2/);
  });

  it('an empty split', () => {
    expect(summarizeLengths(new Uint32Array([0]))).toMatchObject({ patients: 0, tokens: 0, mean: 0, max: 0 });
  });
});

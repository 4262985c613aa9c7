import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BatchPacker, lookaheadFor, TrainBatchStream, truncationStats, validationBatches, type PackedBatch, type TokenShard } from '../../src/train/batches.ts';
import { Rng } from '../../src/util/rng.ts';
import { syntheticShard } from './bigramRunner.ts';

const PAD = 0;

/**
 * Read a batch back into patients using only what the graph sees (doc ids, positions, targets),
 * checking the packing invariants on the way: per window, each doc id is one contiguous run whose
 * positions count 0, 1, 2, ...; each target is the next input of the same run, the run's last token
 * and all padding have target -1; padding is <pad> with a doc id no patient uses.
 */
function unpack(b: PackedBatch): number[][] {
  const patients: number[][] = [];
  for (let w = 0; w < b.B; w++) {
    const base = w * b.T;
    const seenDocs = new Set<bigint>();
    let i = 0;
    while (i < b.T && b.inputIds[base + i] === 1n) {
      // a patient starts at its <s> (1), which padding (<pad> = 0) never is
      const doc = b.docIds[base + i]!;
      expect(seenDocs.has(doc)).toBe(false);
      seenDocs.add(doc);
      const toks: number[] = [];
      let j = i;
      while (j < b.T && b.docIds[base + j] === doc && b.positionIds[base + j] === BigInt(j - i)) {
        toks.push(Number(b.inputIds[base + j]));
        j++;
      }
      for (let k = i; k < j; k++) {
        expect(b.targets[base + k]).toBe(k + 1 < j ? b.inputIds[base + k + 1] : -1n);
      }
      patients.push(toks);
      i = j;
    }
    // the rest is padding
    for (let k = i; k < b.T; k++) {
      expect(b.inputIds[base + k]).toBe(BigInt(PAD));
      expect(b.targets[base + k]).toBe(-1n);
      expect(seenDocs.has(b.docIds[base + k]!)).toBe(false);
    }
  }
  return patients;
}

function patient(shard: TokenShard, p: number, T: number): number[] {
  return Array.from(shard.ids.subarray(shard.offsets[p]!, Math.min(shard.offsets[p + 1]!, shard.offsets[p]! + T)));
}

describe('packed batches', () => {
  it('a known packing: two patients in one window, positions restart, last tokens and padding ignored', () => {
    const p = new BatchPacker(2, 8, PAD);
    expect(p.tryAdd([1, 5, 6, 2])).toBe(true);
    expect(p.tryAdd([1, 7, 2])).toBe(true);
    expect(p.tryAdd([1, 8, 9, 10, 2])).toBe(true); // does not fit window 0 (7 + 5 > 8): goes to window 1
    expect(p.tryAdd([1, 3, 3, 3, 3])).toBe(false); // fits nowhere
    const b = p.finish();
    const row = (a: BigInt64Array, w: number) => Array.from(a.subarray(w * 8, w * 8 + 8), Number);
    expect(row(b.inputIds, 0)).toEqual([1, 5, 6, 2, 1, 7, 2, 0]);
    expect(row(b.positionIds, 0)).toEqual([0, 1, 2, 3, 0, 1, 2, 0]);
    expect(row(b.docIds, 0)).toEqual([0, 0, 0, 0, 1, 1, 1, 2]);
    expect(row(b.targets, 0)).toEqual([5, 6, 2, -1, 7, 2, -1, -1]);
    expect(row(b.inputIds, 1)).toEqual([1, 8, 9, 10, 2, 0, 0, 0]);
    expect(row(b.targets, 1)).toEqual([8, 9, 10, 2, -1, -1, -1, -1]);
    expect(row(b.docIds, 1)).toEqual([0, 0, 0, 0, 0, 1, 1, 1]);
    expect([b.nTokens, b.nTargets, b.nPatients]).toEqual([12, 9, 3]);
  });

  it('never lets a patient run into another, and places every patient taken from the epoch order exactly once', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e6 }),
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 4, max: 24 }),
        fc.integer({ min: 1, max: 12 }),
        (seed, P, B, T, nBatches) => {
          const shard = syntheticShard(seed, P, 12, 2, 30);
          const stream = TrainBatchStream.start(shard, B, T, PAD, new Rng(seed));
          const seen: string[] = [];
          for (let i = 0; i < nBatches; i++) seen.push(...unpack(stream.next()).map((x) => x.join(',')));
          // the stream's only use of its RNG is one shuffle per epoch: replay them
          const st = stream.state();
          const replay = new Rng(seed);
          const taken: number[] = [];
          for (let e = 0; e <= st.epoch; e++) taken.push(...replay.shuffle(Array.from({ length: P }, (_, i) => i)));
          const placed = taken.slice(0, st.epoch * P + st.cursor);
          for (const p of st.pending) placed.splice(placed.lastIndexOf(p), 1);
          expect(seen.sort()).toEqual(placed.map((p) => patient(shard, p, T).join(',')).sort());
          expect(st.pending.length).toBeLessThanOrEqual(lookaheadFor(B));
        },
      ),
      { numRuns: 80 },
    );
  });

  it('the look-ahead packs PhysioNet-like lengths far tighter than closing at the first misfit', () => {
    const shard = syntheticShard(8, 400, 12, 300, 800);
    const stream = TrainBatchStream.start(shard, 4, 1024, PAD, new Rng(1));
    let tokens = 0;
    for (let i = 0; i < 50; i++) tokens += stream.next().nTokens;
    const fill = tokens / (50 * 4 * 1024);
    // the plain alternative: patients in order, a batch closes when the next one fits nowhere
    const packer = new BatchPacker(4, 1024, PAD);
    let plainTokens = 0;
    let plainBatches = 0;
    for (let p = 0; p < 400; ) {
      if (packer.tryAdd(patient(shard, p, 1024))) p++;
      else {
        plainTokens += packer.finish().nTokens;
        plainBatches++;
      }
    }
    const plainFill = plainTokens / (plainBatches * 4 * 1024);
    expect(fill).toBeGreaterThan(0.85);
    expect(fill).toBeGreaterThan(plainFill + 0.05);
  });

  it('resumes the data order exactly from a saved state', () => {
    const shard = syntheticShard(3, 25, 12, 2, 20);
    const a = TrainBatchStream.start(shard, 2, 16, PAD, new Rng(9));
    for (let i = 0; i < 7; i++) a.next();
    const state = JSON.parse(JSON.stringify(a.state()));
    const b = TrainBatchStream.resume(shard, 2, 16, PAD, state);
    for (let i = 0; i < 30; i++) {
      const x = a.next();
      const y = b.next();
      expect(Buffer.from(y.inputIds.buffer).equals(Buffer.from(x.inputIds.buffer))).toBe(true);
      expect(Buffer.from(y.docIds.buffer).equals(Buffer.from(x.docIds.buffer))).toBe(true);
    }
    expect(b.state()).toEqual(a.state());
  });

  it('validation batches: file order, all patients, at most maxBatches', () => {
    const shard = syntheticShard(5, 17, 12, 2, 12);
    const all = validationBatches(shard, 2, 16, PAD, 1000);
    // first-fit places patients across windows, so compare as sets
    expect(all.flatMap(unpack).map((x) => x.join(',')).sort()).toEqual(Array.from({ length: 17 }, (_, p) => patient(shard, p, 16).join(',')).sort());
    expect(validationBatches(shard, 2, 16, PAD, 2)).toHaveLength(2);
  });

  it('truncation is counted', () => {
    const shard = syntheticShard(1, 50, 12, 2, 40);
    const s = truncationStats(shard, 20);
    const lengths = Array.from({ length: 50 }, (_, p) => shard.offsets[p + 1]! - shard.offsets[p]!);
    expect(s).toEqual({ truncated: lengths.filter((n) => n > 20).length, patients: 50, maxLength: Math.max(...lengths) });
  });
});

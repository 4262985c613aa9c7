import { describe, expect, it } from 'vitest';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from '../../src/train/checkpoint.ts';

function tiny(): Checkpoint {
  const N = 16;
  return {
    header: {
      step: 3,
      adamT: 3,
      seed: 1,
      vocabSize: 4,
      model: { n_layer: 1, n_embd: 2, n_head: 1, n_ctx: 2 },
      batchSize: 1,
      gradAccum: 1,
      params: [{ name: 'w', shape: [4, 2], offset: 0 }],
      total: N,
      dataOrder: { epoch: 0, cursor: 2, epochRngState: [1, 2, 3, 4], pending: [5] },
      early: { bestValLoss: 1.5, bestStep: 2, badEvals: 0 },
      tokensSeen: 10,
      finished: null,
      crc32: 0,
    },
    params: Float32Array.from({ length: N }, (_, i) => i / 3),
    m: Float32Array.from({ length: N }, (_, i) => -i),
    v: Float32Array.from({ length: N }, (_, i) => i * i),
  };
}

describe('checkpoint format', () => {
  it('round-trips weights, moments and state bit for bit; data starts 64-byte aligned', () => {
    const ck = tiny();
    const bytes = encodeCheckpoint(ck);
    expect(Buffer.from(bytes.subarray(0, 8)).toString('latin1')).toBe('SYNEHRCK');
    const H = new DataView(bytes.buffer).getUint32(12, true);
    expect((16 + H) % 64).toBe(0);
    const back = decodeCheckpoint(bytes, 'x.ckpt');
    for (const k of ['params', 'm', 'v'] as const) expect(Array.from(back[k])).toEqual(Array.from(ck[k]));
    expect({ ...back.header, crc32: 0 }).toEqual(ck.header);
  });

  it('EXPECTED FAILURE - another format version names both versions', () => {
    const bytes = encodeCheckpoint(tiny());
    new DataView(bytes.buffer).setUint32(8, 7, true);
    expect(() => decodeCheckpoint(bytes, 'x.ckpt')).toThrowError(/x\.ckpt: checkpoint format version 7; this synehr reads version 1/);
  });

  it('EXPECTED FAILURE - a damaged header', () => {
    const bytes = encodeCheckpoint(tiny());
    bytes[16] = 0x5b; // '[' where '{' was
    expect(() => decodeCheckpoint(bytes, 'x.ckpt')).toThrowError(/x\.ckpt: corrupt header/);
  });

  it('EXPECTED FAILURE - shorter than the prefix', () => {
    expect(() => decodeCheckpoint(new Uint8Array(5), 'x.ckpt')).toThrowError(/x\.ckpt: truncated: 5 bytes/);
  });
});

import { describe, expect, it } from 'vitest';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from '../../src/train/checkpoint.ts';

function tiny(emaDecay: number | null = null): Checkpoint {
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
      emaDecay,
      params: [{ name: 'w', shape: [4, 2], offset: 0 }],
      total: N,
      dataOrder: { epoch: 0, cursor: 2, epochRngState: [1, 2, 3, 4], pending: [5] },
      early: { bestValLoss: 1.5, bestStep: 2, badEvals: 0 },
      tokensSeen: 10,
      finished: null,
      trainSeconds: 12.5,
      maxMinutes: 22,
      plannedSteps: 40,
      crc32: 0,
    },
    params: Float32Array.from({ length: N }, (_, i) => i / 3),
    m: Float32Array.from({ length: N }, (_, i) => -i),
    v: Float32Array.from({ length: N }, (_, i) => i * i),
    ema: emaDecay === null ? null : Float32Array.from({ length: N }, (_, i) => 1 - i / 7),
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
    expect(back.ema).toBeNull();
    expect({ ...back.header, crc32: 0 }).toEqual(ck.header);
  });

  it('version 2 holds the weight average after the moments when train.ema_decay is set', () => {
    const ck = tiny(0.99);
    const bytes = encodeCheckpoint(ck);
    const H = new DataView(bytes.buffer).getUint32(12, true);
    expect(bytes.length - 16 - H).toBe(4 * 16 * 4); // params, m, v and the average, 16 floats each
    const back = decodeCheckpoint(bytes, 'x.ckpt');
    expect(Array.from(back.ema!)).toEqual(Array.from(ck.ema!));
    expect(back.header.emaDecay).toBe(0.99);
    expect(() => encodeCheckpoint({ ...ck, ema: null })).toThrowError(/the weight average is missing, header.emaDecay is 0.99/);
  });

  it('reads version 1 (before the weight average and the time budget) as a checkpoint without either', () => {
    const ck = tiny();
    const { emaDecay: _e, trainSeconds: _t, maxMinutes: _m, plannedSteps: _p, ...v1Header } = ck.header;
    // a version-1 file: the same layout, a header without emaDecay
    const v2 = encodeCheckpoint(ck);
    const H = new DataView(v2.buffer).getUint32(12, true);
    const data = v2.subarray(16 + H);
    const crc = decodeCheckpoint(v2, 'x').header.crc32;
    const header = Buffer.from(JSON.stringify({ ...v1Header, crc32: crc }));
    const pad = (64 - ((16 + header.length) % 64)) % 64;
    const v1 = Buffer.concat([Buffer.from('SYNEHRCK', 'latin1'), Buffer.alloc(8), header, Buffer.alloc(pad, 0x20), data]);
    v1.writeUInt32LE(1, 8);
    v1.writeUInt32LE(header.length + pad, 12);
    const back = decodeCheckpoint(new Uint8Array(v1), 'v1.ckpt');
    expect(back.header.emaDecay).toBeNull();
    expect(back.ema).toBeNull();
    expect([back.header.trainSeconds, back.header.maxMinutes, back.header.plannedSteps]).toEqual([0, null, null]);
    for (const k of ['params', 'm', 'v'] as const) expect(Array.from(back[k])).toEqual(Array.from(ck[k]));
  });

  it('EXPECTED FAILURE - another format version names both versions', () => {
    const bytes = encodeCheckpoint(tiny());
    new DataView(bytes.buffer).setUint32(8, 7, true);
    expect(() => decodeCheckpoint(bytes, 'x.ckpt')).toThrowError(/x\.ckpt: checkpoint format version 7; this synehr reads versions 1 and 2/);
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

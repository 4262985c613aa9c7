import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { crc32c, maskedCrc32c } from '../../src/tracking/crc32c.ts';
import { frameRecord } from '../../src/tracking/tfevents.ts';
import { createTracker } from '../../src/tracking/tracker.ts';
import { crc32cBitwise, masked, readEventFile, readTfRecords } from './eventReader.ts';

const GOLDEN_DIR = join(import.meta.dirname, 'golden');
const GOLDEN_NAME = 'events.out.tfevents.1700000000.golden';
const tfOnly = { metrics_jsonl: false, tensorboard: true, wandb: false, wandb_project: 'synehr', wandb_entity: null };

const tmpDirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'synehr-tfevents-'));
  tmpDirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of tmpDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fixed little run: 1700000000 s plus one second per call of the clock. */
async function writeGoldenRun(dir: string): Promise<string> {
  let t = 1_700_000_000_000;
  const tracker = await createTracker(dir, tfOnly, { runName: 'golden', config: {} }, {
    now: () => (t += 1000) - 1000,
    hostname: 'golden',
  });
  tracker.text('config', '```\nmodel: gpt\nn_ctx: 512\n```', 0);
  tracker.log(0, { 'train/loss': 5.25, lr: 0 });
  tracker.log(10, { 'train/loss': 3.5, lr: 3e-4, tokens_per_s: 12345.5 });
  tracker.log(20, { 'train/loss': 2.75, 'val/loss': 2.9, lr: 6e-4 });
  tracker.text('note', 'héllo, *world*');
  await tracker.close();
  return tracker.files.tfevents!;
}

describe('CRC-32C', () => {
  const ascii = (s: string) => new TextEncoder().encode(s);
  // RFC 3720 (iSCSI) appendix B.4 test vectors, plus the classic check value
  const vectors: [string, Uint8Array, number][] = [
    ['"123456789"', ascii('123456789'), 0xe3069283],
    ['32 zero bytes', new Uint8Array(32), 0x8a9136aa],
    ['32 bytes of 0xff', new Uint8Array(32).fill(0xff), 0x62a8ab43],
    ['bytes 0..31', Uint8Array.from({ length: 32 }, (_, i) => i), 0x46dd794e],
    ['bytes 31..0', Uint8Array.from({ length: 32 }, (_, i) => 31 - i), 0x113fdb5c],
    ['empty', new Uint8Array(0), 0],
  ];
  for (const [name, bytes, want] of vectors) {
    it(`${name} → 0x${want.toString(16).toUpperCase()} (table and bitwise forms)`, () => {
      expect(crc32c(bytes)).toBe(want);
      expect(crc32cBitwise(bytes)).toBe(want);
    });
  }

  it('masked form is rotr15 + 0xa282ead8 and agrees with the independent reader', () => {
    const bytes = ascii('123456789');
    expect(maskedCrc32c(bytes)).toBe(masked(0xe3069283));
    // by hand: rotr15(0xE3069283) = 0x2507C60D; + 0xA282EAD8 = 0xC78AB0E5
    expect(maskedCrc32c(bytes)).toBe(0xc78ab0e5);
  });
});

describe('TFRecord framing', () => {
  it('frames a record as length | crc(length) | data | crc(data)', () => {
    const data = new TextEncoder().encode('abc');
    const rec = frameRecord(data);
    expect(rec.length).toBe(8 + 4 + 3 + 4);
    expect(readTfRecords(rec)).toEqual([data]);
  });

  it('EXPECTED FAILURE - a flipped data byte fails the data CRC', () => {
    const rec = frameRecord(new TextEncoder().encode('abcdef'));
    rec[13] ^= 1;
    expect(() => readTfRecords(rec)).toThrow('bad data CRC at byte 0');
  });

  it('EXPECTED FAILURE - a flipped length byte fails the length CRC', () => {
    const rec = frameRecord(new TextEncoder().encode('abcdef'));
    rec[0] ^= 2;
    expect(() => readTfRecords(rec)).toThrow('bad length CRC at byte 0');
  });
});

describe('event files written by the tracker', () => {
  it('are named events.out.tfevents.<unix seconds>.<host> and parse back to what was logged', async () => {
    const dir = tmp();
    const path = await writeGoldenRun(dir);
    expect(readdirSync(dir)).toEqual([GOLDEN_NAME]);
    const events = readEventFile(readFileSync(path));
    expect(events).toHaveLength(6);

    expect(events[0].fileVersion).toBe('brain.Event:2');
    expect(events[0].wallTime).toBe(1_700_000_000);

    expect(events[1]).toMatchObject({ step: 0, texts: { config: '```\nmodel: gpt\nn_ctx: 512\n```' }, plugins: { config: 'text' } });
    expect(events[2]).toMatchObject({ step: 0, wallTime: 1_700_000_002, scalars: { 'train/loss': 5.25, lr: 0 } });
    // simple_value is a float32: compare with the float32 rounding of what was logged
    expect(events[3].step).toBe(10);
    expect(events[3].scalars).toEqual({ 'train/loss': 3.5, lr: Math.fround(3e-4), tokens_per_s: 12345.5 });
    expect(events[4].scalars).toEqual({ 'train/loss': 2.75, 'val/loss': Math.fround(2.9), lr: Math.fround(6e-4) });
    // text without a step lands on the last logged step
    expect(events[5]).toMatchObject({ step: 20, texts: { note: 'héllo, *world*' } });
  });

  it('match the committed golden file byte for byte', async () => {
    const path = await writeGoldenRun(tmp());
    const got = readFileSync(path);
    const goldenPath = join(GOLDEN_DIR, GOLDEN_NAME);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(goldenPath, got);
    const golden = readFileSync(goldenPath);
    // the golden file must itself be a valid event file, not just equal bytes
    expect(readEventFile(golden)[0].fileVersion).toBe('brain.Event:2');
    expect(Buffer.compare(got, golden)).toBe(0);
  });

  it('stores large steps as int64 varints and non-finite scalars as float NaN/Infinity', async () => {
    const dir = tmp();
    const tracker = await createTracker(dir, tfOnly, { runName: 'x', config: {} }, { now: () => 1_700_000_000_500, hostname: 'h' });
    tracker.log(2 ** 40 + 3, { 'train/loss': NaN, big: Infinity });
    await tracker.close();
    const [, ev] = readEventFile(readFileSync(tracker.files.tfevents!));
    expect(ev.step).toBe(2 ** 40 + 3);
    expect(ev.wallTime).toBe(1_700_000_000.5);
    expect(ev.scalars['train/loss']).toBeNaN();
    expect(ev.scalars.big).toBe(Infinity);
  });

  it('BAD CALL - a negative or fractional step is refused with the value', async () => {
    const tracker = await createTracker(tmp(), tfOnly, { runName: 'x', config: {} });
    expect(() => tracker.log(-1, { a: 1 })).toThrow(new RangeError('step must be an integer >= 0, got -1'));
    expect(() => tracker.log(1.5, { a: 1 })).toThrow(RangeError);
    await tracker.close();
    expect(() => tracker.log(1, { a: 1 })).toThrow('tracker for run x: log after close()');
  });
});

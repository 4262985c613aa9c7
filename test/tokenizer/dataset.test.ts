import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tokenizeDataset } from '../../src/tokenizer/dataset.ts';
import { loadTokenizer, tokenizerToJSON } from '../../src/tokenizer/file.ts';
import { readTokenShard, shardPatient } from '../../src/tokenizer/shards.ts';
import { Rng } from '../../src/util/rng.ts';
import { fixturePatients, physionetDataConfig } from './physionet.ts';
import { tokCfg } from './helpers.ts';

describe('tokenizeDataset', () => {
  it('fits on train only, writes tokenizer.json, three shards and report.json that read back consistently', () => {
    const all = fixturePatients();
    const train = all.slice(0, 30);
    const val = all.slice(30, 35);
    // a val patient with a categorical value training never showed: dropped and counted, not an error
    val[0] = { ...val[0]!, admissions: [{ ...val[0]!.admissions[0]!, events: [...val[0]!.admissions[0]!.events, { hours: 999, variable: 'MechVent', value: '2' }] }] };
    const test = all.slice(35);
    const out = mkdtempSync(join(tmpdir(), 'synehr-tokds-'));
    const tokenizerPath = join(out, 'tokenizer', 'fx', 'tokenizer.json');
    const tokensDir = join(out, 'processed', 'fx', 'tokens');
    const cfg = tokCfg({ bin_type: 'quantile' });
    const res = tokenizeDataset({ data: physionetDataConfig, tokenizer: cfg, splits: { train, val, test }, tokenizerPath, tokensDir });

    const tok = loadTokenizer(tokenizerPath);
    expect(tok.vocab).toEqual(res.tokenizer.vocab);
    // MechVent=0 never occurs in the fixture's training split, but it is declared in the config
    expect(tok.vocab).toContain('MechVent=0');
    for (const [name, records] of Object.entries({ train, val, test })) {
      const shard = readTokenShard(join(tokensDir, `${name}.bin`));
      expect(shard.vocabSize).toBe(tok.vocabSize);
      expect(shard.vocabHash).toBe(tok.vocabHash());
      expect(shard.ids).toBeInstanceOf(Uint16Array);
      expect(shard.patientIds).toEqual(records.map((p) => p.id));
      records.forEach((p, i) => {
        const ids = shardPatient(shard, i);
        expect(tok.automaton.accepts(ids)).toBe(true);
        expect(Array.from(ids)).toEqual(Array.from(tok.encodePatient(p, { unknown: 'drop' })));
        expect(tok.decode(ids, { rng: new Rng(i), id: p.id }).covariates.Gender).toEqual(p.covariates.Gender);
      });
    }
    const report = JSON.parse(readFileSync(join(tokensDir, 'report.json'), 'utf8'));
    expect(report.vocab_size).toBe(tok.vocabSize);
    expect(report.vocab_by_class).toEqual(tok.vocabByClass());
    expect(report.splits.train.patients).toBe(30);
    expect(report.splits.val.patients).toBe(5);
    expect(report.splits.test.patients).toBe(5);
    expect(report.splits.train.tokens).toBe(readTokenShard(join(tokensDir, 'train.bin')).ids.length);
    expect(report.splits.train.patients_fit['2048']).toBeGreaterThan(0);
    expect(report.splits.val.stats).toEqual({ dropped_codes: 0, dropped_values: 1, collapsed_repeats: 0 });

    // fitted on train only: refitting on train alone gives the same vocabulary and bins
    const again = tokenizeDataset({ data: physionetDataConfig, tokenizer: cfg, splits: { train, val: [], test: [] }, tokenizerPath: null, tokensDir: null });
    expect(tokenizerToJSON(again.tokenizer)).toEqual(tokenizerToJSON(res.tokenizer));
  });
});

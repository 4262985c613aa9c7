import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findTrainInputs } from '../../src/cli/commands/train.ts';
import type { SynehrConfig } from '../../src/config/types.ts';

const config = { data: { name: 'toy', processed_dir: 'data/processed/toy' } } as unknown as SynehrConfig;

/** The error a call throws (or null). */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return null;
}

describe('synehr train: inputs', () => {
  it('EXPECTED FAILURE - no tokenizer: names the path and the command to run first', async () => {
    const workDir = await mkdtemp(join(tmpdir(), 'synehr-train-cmd-'));
    expect(thrown(() => findTrainInputs({ config, workDir }))).toMatchObject({
      name: 'SynehrError',
      code: 'E_MISSING',
      message: `no tokenizer for data=toy at ${join(workDir, 'tokenizer', 'toy', 'tokenizer.json')}: run \`synehr tokenize data=toy\` first`,
    });
  });

  it('EXPECTED FAILURE - a tokenizer but no training shard', async () => {
    const workDir = await mkdtemp(join(tmpdir(), 'synehr-train-cmd-'));
    await mkdir(join(workDir, 'tokenizer', 'toy'), { recursive: true });
    await writeFile(join(workDir, 'tokenizer', 'toy', 'tokenizer.json'), '{}');
    expect(thrown(() => findTrainInputs({ config, workDir }))).toMatchObject({
      code: 'E_MISSING',
      message: expect.stringMatching(/no training token shard for data=toy at .*tokens\/train\.bin: run `synehr tokenize data=toy` first/),
    });
  });

  it('finds tokenizer and shards; validation is optional', async () => {
    const workDir = await mkdtemp(join(tmpdir(), 'synehr-train-cmd-'));
    await mkdir(join(workDir, 'tokenizer', 'toy'), { recursive: true });
    await mkdir(join(workDir, 'data', 'processed', 'toy', 'tokens'), { recursive: true });
    await writeFile(join(workDir, 'tokenizer', 'toy', 'tokenizer.json'), '{}');
    await writeFile(join(workDir, 'data', 'processed', 'toy', 'tokens', 'train.bin'), '');
    expect(findTrainInputs({ config, workDir }).valShardPath).toBeNull();
    await writeFile(join(workDir, 'data', 'processed', 'toy', 'tokens', 'val.bin'), '');
    expect(findTrainInputs({ config, workDir })).toEqual({
      tokenizerPath: join(workDir, 'tokenizer', 'toy', 'tokenizer.json'),
      trainShardPath: join(workDir, 'data', 'processed', 'toy', 'tokens', 'train.bin'),
      valShardPath: join(workDir, 'data', 'processed', 'toy', 'tokens', 'val.bin'),
    });
  });
});

describe('synehr train: the tokenizer must match the config', () => {
  it('EXPECTED FAILURE - a tokenizer fitted with other bins, or on another data config, is refused by key', async () => {
    const fc = (await import('fast-check')).default;
    const { cohortArb, tokCfg, toyData } = await import('../tokenizer/helpers.ts');
    const { fitTokenizer } = await import('../../src/tokenizer/fit.ts');
    const { checkTokenizerMatches } = await import('../../src/cli/commands/train.ts');
    const cohort = fc.sample(cohortArb, { numRuns: 1, seed: 3 })[0]!;
    const tok = fitTokenizer(cohort, toyData, tokCfg({ bin_type: 'quantile' }));
    expect(() => checkTokenizerMatches(tok, tokCfg({ bin_type: 'quantile' }), toyData, 'tok.json')).not.toThrow();
    expect(thrown(() => checkTokenizerMatches(tok, tokCfg({ bin_type: 'uniform' }), toyData, 'tok.json'))).toMatchObject({
      name: 'SynehrError',
      code: 'E_MISMATCH',
      message: 'tok.json was fitted with another tokenizer config (tokenizer.bin_type is "quantile" there, "uniform" here): re-run `synehr tokenize data=toy` with the same tokenizer overrides',
    });
    const otherData = { ...toyData, labels: toyData.labels.slice(0, 1) };
    expect(thrown(() => checkTokenizerMatches(tok, tokCfg({ bin_type: 'quantile' }), otherData, 'tok.json'))).toMatchObject({ code: 'E_MISMATCH', message: expect.stringMatching(/fitted on another data config than data=toy/) });
  });
});

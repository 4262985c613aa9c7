import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findTrainInputs } from '../../src/cli/commands/train.ts';
import type { SynehrConfig } from '../../src/config/types.ts';

const config = { data: { name: 'toy', processed_dir: 'data/processed/toy' } } as unknown as SynehrConfig;

describe('synehr train: inputs', () => {
  it('EXPECTED FAILURE - no tokenizer: names the path and the command to run first', async () => {
    const workDir = await mkdtemp(join(tmpdir(), 'synehr-train-cmd-'));
    expect(() => findTrainInputs({ config, workDir })).toThrowError(
      `no tokenizer for data=toy at ${join(workDir, 'tokenizer', 'toy', 'tokenizer.json')}: run \`synehr tokenize data=toy\` first`,
    );
  });

  it('EXPECTED FAILURE - a tokenizer but no training shard', async () => {
    const workDir = await mkdtemp(join(tmpdir(), 'synehr-train-cmd-'));
    await mkdir(join(workDir, 'tokenizer', 'toy'), { recursive: true });
    await writeFile(join(workDir, 'tokenizer', 'toy', 'tokenizer.json'), '{}');
    expect(() => findTrainInputs({ config, workDir })).toThrowError(/no training token shard for data=toy at .*tokens\/train\.bin: run `synehr tokenize data=toy` first/);
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

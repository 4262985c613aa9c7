/**
 * `synehr tokenize` without the CLI: fit a tokenizer on the training split, encode every split to
 * a token shard, write tokenizer.json, the shards and the report.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PatientRecord } from '../records/types.ts';
import type { DataConfig } from '../records/dataConfig.ts';
import type { TokenizerConfig } from './config.ts';
import { emptyEncodeStats, type Tokenizer, type EncodeStats } from './tokenizer.ts';
import { fitTokenizer } from './fit.ts';
import { saveTokenizer } from './file.ts';
import { buildTokenShard, writeTokenShard, type TokenShard } from './shards.ts';
import { summarizeLengths, type TokenizeReport } from './report.ts';

export const SPLIT_NAMES = ['train', 'val', 'test'] as const;
export type SplitName = (typeof SPLIT_NAMES)[number];

export interface TokenizeDatasetArgs {
  data: DataConfig;
  tokenizer: TokenizerConfig;
  /** the records of each split; the tokenizer is fitted on `train` only */
  splits: Record<SplitName, PatientRecord[]>;
  /** where tokenizer.json goes, e.g. tokenizer/<data>/tokenizer.json; null = do not write */
  tokenizerPath: string | null;
  /** where {train,val,test}.bin and report.json go, e.g. data/processed/<data>/tokens; null = do not write */
  tokensDir: string | null;
}

export interface TokenizeDatasetResult {
  tokenizer: Tokenizer;
  shards: Record<SplitName, TokenShard>;
  report: TokenizeReport;
}

/** Encodes records into a shard. Val/test values the training split never showed are dropped and counted. */
export function encodeRecords(tok: Tokenizer, records: PatientRecord[], unknown: 'error' | 'drop', stats: EncodeStats): TokenShard {
  const seqs = records.map((p) => tok.encodePatient(p, { unknown, stats }));
  return buildTokenShard(
    seqs,
    records.map((p) => p.id),
    tok.vocabSize,
    tok.vocabHash(),
  );
}

export function tokenizeDataset(args: TokenizeDatasetArgs): TokenizeDatasetResult {
  const t0 = performance.now();
  const tokenizer = fitTokenizer(args.splits.train, args.data, args.tokenizer);
  const shards = {} as Record<SplitName, TokenShard>;
  const splits: TokenizeReport['splits'] = {};
  for (const name of SPLIT_NAMES) {
    const stats = emptyEncodeStats();
    shards[name] = encodeRecords(tokenizer, args.splits[name], name === 'train' ? 'error' : 'drop', stats);
    splits[name] = { ...summarizeLengths(shards[name].offsets), stats };
  }
  const report: TokenizeReport = {
    data: args.data.name,
    vocab_size: tokenizer.vocabSize,
    vocab_by_class: tokenizer.vocabByClass(),
    splits,
    seconds: (performance.now() - t0) / 1000,
  };
  if (args.tokenizerPath) saveTokenizer(tokenizer, args.tokenizerPath);
  if (args.tokensDir) {
    mkdirSync(args.tokensDir, { recursive: true });
    for (const name of SPLIT_NAMES) writeTokenShard(join(args.tokensDir, `${name}.bin`), shards[name]);
    writeFileSync(join(args.tokensDir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  }
  return { tokenizer, shards, report };
}

/** The tokenizer stage: fit, encode, decode, the grammar automaton, token shards, the report. */
export * from './tokenizer.ts';
export * from './automaton.ts';
export * from './bins.ts';
export * from './shards.ts';
export * from './report.ts';
export * from './dataset.ts';
export { tokenizerConfigSchema, type TokenizerConfig } from './config.ts';

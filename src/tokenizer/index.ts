/** The tokenizer stage: fit, encode, decode, the grammar automaton, token shards, the report, the round trip. */
export * from './tokenizer.ts';
export * from './file.ts';
export { fitTokenizer, MIN_STEP_GAP_HOURS } from './fit.ts';
export * from './automaton.ts';
export * from './bins.ts';
export * from './shards.ts';
export * from './report.ts';
export * from './dataset.ts';
export * from './roundtrip.ts';
export { tokenizerConfigSchema, type TokenizerConfig } from './config.ts';

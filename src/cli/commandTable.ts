import type { GroupName } from '../config/schema.ts';

/**
 * What each subcommand is, for dispatch and help. A stage's code lives in
 * src/cli/commands/<name>.ts and exports `run(ctx: CommandContext): Promise<void | number>`.
 *
 * `run` says what ctx.runDir() gives and how `model=` is read:
 *   train    trains a model: saved_models/<run_name>/ (created; a name in use is refused)
 *   consume  reads a trained run: `model=<run>` names saved_models/<run>/, whose config.yaml is the
 *            base the other overrides apply to; ctx.runDir() is that folder
 *   outputs  no model: outputs/<date>/<time>/
 */
export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  /** the config groups it reads; help lists their keys */
  groups: readonly GroupName[];
  run: 'train' | 'consume' | 'outputs';
  /** flags it takes besides overrides, passed through as ctx.args / ctx.flags; and the short words of `keys` */
  flags?: readonly { name: string; text: string }[];
  /**
   * The command's short `key=value` words and the config keys they set (e.g. load's
   * `synthetic=<dir>` sets load.synthetic): the value is taken as a string, never typed.
   */
  keys?: Readonly<Record<string, string>>;
}

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'prepare',
    summary: 'Load a raw data set into the four record tables under data/processed/<data>/, with the split and a summary.',
    usage: 'synehr prepare [data=<option>] [overrides...]',
    groups: ['data'],
    run: 'outputs',
  },
  {
    name: 'tokenize',
    summary: 'Fit the tokenizer on the training split and encode every split into token shards (tokenizer/<data>/).',
    usage: 'synehr tokenize [data=<option>] [tokenizer.<key>=<value>...]',
    groups: ['data', 'tokenizer'],
    run: 'outputs',
  },
  {
    name: 'roundtrip',
    summary: "Encode and decode a real split with the tokenizer of the config and evaluate what decoding lost (data/processed/<data>/roundtrip/).",
    usage: 'synehr roundtrip [data=<option>] [split=val|test] [tokenizer.<key>=<value>...] [eval.<key>=<value>...]',
    groups: ['data', 'tokenizer', 'eval'],
    run: 'outputs',
    keys: { split: 'eval.roundtrip_split' },
    flags: [{ name: 'split=val|test', text: 'the real split to round-trip (eval.roundtrip_split; default val: choose tokenizer settings on it, report on test)' }],
  },
  {
    name: 'train',
    summary: 'Train the GPT on the token shards into saved_models/<run_name>/ (config, checkpoints, metrics, best weights).',
    usage: 'synehr train [run_name=<name>] [model=<option>] [overrides...] [-m]',
    groups: ['data', 'tokenizer', 'model', 'train', 'tracking'],
    run: 'train',
  },
  {
    name: 'export',
    summary: 'Export a trained model to ONNX beside it: onnx/model.onnx (Hugging Face layout, KV cache) and sampler.onnx (grammar-constrained Loop); records are exported by export-data.',
    usage: 'synehr export model=<run> [overrides...]',
    groups: ['model', 'generate'],
    run: 'consume',
  },
  {
    name: 'generate',
    summary: 'Sample synthetic patients from a trained run into data/synthetic/<run>/ (tables + manifest.json).',
    usage: 'synehr generate model=<run> [n_samples=<n>] [batch_size=<n>] [fix_covars=true] [overrides...]',
    groups: ['data', 'generate'],
    run: 'consume',
  },
  {
    name: 'evaluate',
    summary: "Compare a run's synthetic records with the real ones (fidelity, utility, privacy, detection) into saved_models/<run>/eval/.",
    usage: 'synehr evaluate model=<run> [synthetic=<dir>] [eval.<key>=<value>...]',
    groups: ['data', 'eval', 'tracking'],
    run: 'consume',
    keys: { synthetic: 'eval.synthetic' },
    flags: [{ name: 'synthetic=<dir>', text: 'eval.synthetic: the synthetic tables to evaluate (default: generate.out_dir, else data/synthetic/<run>)' }],
  },
  {
    name: 'dashboard',
    summary: 'Serve the local dashboard over saved_models/ and data/synthetic/ until Ctrl-C.',
    usage: 'synehr dashboard [--port <n>] [--host <address>]',
    groups: ['tracking'],
    run: 'outputs',
    flags: [
      { name: '--port <n>', text: 'the port to listen on (0 = any free port)' },
      { name: '--host <address>', text: 'the address to bind (default 127.0.0.1: this machine only)' },
    ],
  },
  {
    name: 'load',
    summary: 'Put the record tables (synthetic or processed) into a database (PostgreSQL, or an embedded PGlite) or onto S3; the files themselves are unchanged.',
    usage: 'synehr load synthetic=<dir> | model=<run>  [target=postgres|s3] [url=postgres://...|s3://bucket/prefix] [mode=replace|append] [schema=<name>] [endpoint=<http://...>]',
    groups: ['data', 'generate', 'load'],
    run: 'consume',
    keys: { synthetic: 'load.synthetic', target: 'load.target', url: 'load.url', mode: 'load.mode', schema: 'load.schema', endpoint: 'load.endpoint', region: 'load.region' },
    flags: [
      { name: 'synthetic=<dir>', text: 'load.synthetic: the folder of the four tables + manifest.json (default: the synthetic folder of model=<run>)' },
      { name: 'target=postgres|s3', text: 'load.target: postgres (default; PGlite in <dir>/pglite when no url) or s3 (an S3-compatible object store)' },
      { name: 'url=<url>', text: 'load.url: postgres://user@host/db, or s3://bucket/prefix for target=s3' },
      { name: 'mode=replace|append', text: 'load.mode: replace (default) drops and reloads the tables in one transaction; append adds rows' },
      { name: 'schema=<name>', text: 'load.schema: the PostgreSQL schema of the tables (default synehr)' },
      { name: 'endpoint=<url>', text: 'load.endpoint: target=s3: the S3 API endpoint of a non-AWS store, e.g. http://127.0.0.1:9000' },
      { name: 'region=<name>', text: 'load.region: target=s3: the region (default AWS_REGION, else us-east-1)' },
    ],
  },
  {
    name: 'config',
    summary: "Print the composed config as YAML (Hydra's --cfg job), or list every group's options.",
    usage: 'synehr config show [overrides...]   |   synehr config options',
    groups: ['data', 'tokenizer', 'model', 'train', 'generate', 'eval', 'tracking', 'load'],
    run: 'outputs',
  },
  {
    name: 'pipeline',
    summary: 'Run prepare, tokenize, train, export, generate and evaluate in turn: the main job, end to end.',
    usage: 'synehr pipeline [overrides...] [-m]',
    groups: ['data', 'tokenizer', 'model', 'train', 'generate', 'eval', 'tracking'],
    run: 'train',
  },
  {
    name: 'export-data',
    summary: 'Convert the record tables (synthetic or real) into new files shaped as MIMIC-III or OMOP CDM tables or FHIR Bundles (not the model: that is `export`).',
    usage: 'synehr export-data synthetic=<dir> | model=<run>  format=mimic3|omop|fhir [out=<dir>] [vocab=<athena dir>]',
    groups: ['data', 'generate', 'load'],
    run: 'consume',
    keys: { synthetic: 'load.synthetic', format: 'load.format', out: 'load.out', vocab: 'load.vocab' },
    flags: [
      { name: 'synthetic=<dir>', text: 'load.synthetic: the folder of the four tables + manifest.json (default: the synthetic folder of model=<run>)' },
      { name: 'format=mimic3|omop|fhir', text: 'load.format: MIMIC-III CSV tables, OMOP CDM 5.4 CSV tables, or FHIR R4 transaction Bundles (NDJSON)' },
      { name: 'out=<dir>', text: 'load.out: where the files go (default <synthetic>/export/<format>)' },
      { name: 'vocab=<dir>', text: 'load.vocab: format=omop: an Athena vocabulary download (CONCEPT.csv, CONCEPT_RELATIONSHIP.csv) to map codes to standard concepts' },
    ],
  },
];

export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}

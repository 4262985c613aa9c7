/**
 * Batch generation of N synthetic patients: sampler.onnx runs one batch of B rows at a time, the
 * tokenizer decodes the rows, and the records stream to disk.
 *
 * Output layout, data/synthetic/<run>/ (or generate.out_dir):
 *   parts/part-00000/…        complete chunks of the four tables while generation runs, each with
 *                             the part.json of the settings it was made with (parts.ts)
 *   parts/merge/              the merged tables while they are written
 *   patients|admissions|codes|events.{parquet,csv,arrow}   moved in from parts/merge/
 *   manifest.json             written last (records/manifest.ts): a folder with a manifest is complete
 *
 * Batch b always uses the seed mix(seed, b) and ids syn-<b·B + row>, so a generation interrupted
 * and resumed (resume=true, with the same settings) writes exactly what an uninterrupted one
 * writes. Memory holds one batch of records at a time.
 */
import cliProgress from 'cli-progress';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tableToIPC } from 'apache-arrow';
import { runFiles } from '../config/runPaths.ts';
import { createSession, createSessionFromFile, int64Tensor, float32Tensor, type Session } from '../graph/runtime.ts';
import type { ModelConfig } from '../model/config.ts';
import { mainLabel, type DataConfig } from '../records/dataConfig.ts';
import { MANIFEST_FILE, MANIFEST_VERSION, readManifest, writeManifest } from '../records/manifest.ts';
import { readParquetTable, streamRecords, writeRecordTables, TABLE_NAMES, type TableCounts } from '../records/tables.ts';
import { writeFileAtomic } from '../util/files.ts';
import type { PatientRecord } from '../records/types.ts';
import { readTokenShard } from '../tokenizer/shards.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { interruptedError, SynehrError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import type { GenerateConfig } from './config.ts';
import { exportIsCurrent, exportRun, loadTrainedRun } from './export.ts';
import { completeParts, partName, PARTS_DIR, writePartStamp, type PartSettings } from './parts.ts';
import { buildRunSamplerGraph, guidanceFlip } from './sampler.ts';

/** Synthetic patient ids are `syn-<n>`; generation refuses to run if a real id has this form. */
export const SYNTHETIC_ID_PREFIX = 'syn-';

export interface GenerateOptions {
  /** the trained run: saved_models/<run>/ */
  runDir: string;
  runName: string;
  /** where the tables go */
  outDir: string;
  model: ModelConfig;
  data: DataConfig;
  gen: GenerateConfig;
  /** the resolved config, stored in the manifest */
  config: unknown;
  /** continue an interrupted generation in outDir */
  resume: boolean;
  /** replace a finished one */
  overwrite: boolean;
  /** the real patients' ids (from data/processed/<data>/), checked against the synthetic ones */
  realIds?: ReadonlySet<string>;
  /** fix_covars=true: the training token shard whose covariate and label prefixes condition the rows */
  trainShardPath?: string;
  /** a cohort given in the config: prefixes (each starting with <s>) used in turn */
  cohortPrefixes?: number[][];
  threads?: number;
  log?: (msg: string) => void;
  /** a progress bar on stderr; default: when stderr is a terminal */
  progress?: boolean;
  /** patients per part (a complete chunk on disk, the unit of resume); default 1024 */
  patientsPerPart?: number;
  /**
   * stops generation between batches (e.g. on Ctrl-C): the parts already complete stay, the one
   * in progress is dropped, and the call rejects with E_INTERRUPTED; resume=true continues
   */
  signal?: AbortSignal;
  /** called after each batch with the patients made so far (resumed parts included) */
  onProgress?: (made: number) => void;
  /** called while the merged tables are being written, after the first part is in (tests stop the process there) */
  onMerge?: () => void;
}

export interface GenerateResult {
  outDir: string;
  counts: TableCounts;
  /** tokens generated, <pad> excluded */
  tokens: number;
  seconds: number;
  batches: number;
}

/** A 32-bit seed for batch b: splitmix32 of (seed, b), so batches draw unrelated noise. */
export function batchSeed(seed: number, b: number): number {
  let z = (Math.imul(seed >>> 0, 0x9e3779b9) + Math.imul(b + 1, 0x85ebca6b)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** Drives sampler.onnx: one call per batch, token ids back. */
export class Sampler {
  private constructor(
    private readonly session: Session,
    readonly tokenizer: Tokenizer,
    readonly maxLen: number,
  ) {}

  static async open(samplerPath: string, tokenizer: Tokenizer, maxLen: number, threads = 0): Promise<Sampler> {
    return new Sampler(await createSessionFromFile(samplerPath, { threads }), tokenizer, maxLen);
  }

  /** A sampler over a session of a sampler graph built in memory (buildSamplerGraph). */
  static fromSession(session: Session, tokenizer: Tokenizer, maxLen: number): Sampler {
    return new Sampler(session, tokenizer, maxLen);
  }

  /**
   * Samples one row per prefix (all of one length P, each starting with <s> and accepted so far
   * by the grammar). Returns [B, T] ids row-major, T ≤ maxLen, `<pad>` after `</s>`.
   */
  async sample(
    prefixes: number[][],
    o: { temperature: number; topK: number; topP: number; seed: number; valueTemperature?: number; guidance?: number },
  ): Promise<{ ids: Int32Array; T: number }> {
    const guided = this.session.inputNames.includes('guidance');
    if ((o.guidance ?? 0) !== 0 && !guided) throw new RangeError(`Sampler.sample: guidance ${o.guidance} needs a sampler built with label guidance (buildSamplerGraph's guidance)`);
    const B = prefixes.length;
    const P = prefixes[0]!.length;
    const A = this.tokenizer.automaton;
    for (const p of prefixes) {
      if (p.length !== P) throw new RangeError(`Sampler.sample: prefixes of one batch must have one length (${P} and ${p.length})`);
      if (p[0] !== this.tokenizer.bos) throw new RangeError(`Sampler.sample: a prefix must start with <s>, got ${p[0]}`);
      let s = A.startState;
      for (const t of p) s = A.step(s, t);
      if (s < 0) throw new SynehrError('E_CONDITION', `prefix [${p.join(' ')}] is not a valid start of a record`);
      if (A.distToEnd[s]! > this.maxLen - P) {
        throw new SynehrError('E_CONDITION', `prefix of ${P} tokens cannot close within max_len ${this.maxLen}`);
      }
    }
    const out = await this.session.run({
      prefix: int64Tensor(prefixes.flat(), [B, P]),
      max_len: int64Tensor([this.maxLen], []),
      temperature: float32Tensor([o.temperature], []),
      top_k: int64Tensor([o.topK], []),
      top_p: float32Tensor([o.topP], []),
      seed: int64Tensor([o.seed >>> 0], []),
      value_temperature: float32Tensor([o.valueTemperature ?? 1], []),
      ...(guided ? { guidance: float32Tensor([o.guidance ?? 0], []) } : {}),
    });
    const t = out.tokens!;
    const steps = t.dims[1] as number;
    const T = steps + 1;
    const src = t.data as BigInt64Array; // [B, steps]
    const ids = new Int32Array(B * T); // [B, T]
    for (let b = 0; b < B; b++) {
      ids[b * T] = prefixes[b]![0]!;
      for (let j = 0; j < steps; j++) ids[b * T + 1 + j] = Number(src[b * steps + j]!);
    }
    return { ids, T };
  }
}

/**
 * The covariate-and-label prefix of an encoded patient: `<s> … </label>`; with the labels last
 * (tokenizer.label_position=last) the covariates only, `<s> … </covar>`.
 */
export function conditionPrefix(ids: ArrayLike<number>, tok: Tokenizer): number[] {
  const end = tok.labelsLast ? tok.endCovar : tok.endLabel;
  const out: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    out.push(ids[i]!);
    if (ids[i] === end) return out;
  }
  throw new SynehrError('E_CONDITION', `an encoded patient has no ${tok.vocab[end]}: cannot take its ${tok.labelsLast ? 'covariates' : 'covariates and labels'} as a condition`);
}

/** Prefixes of patients given in the config (covariates and labels), encoded by the tokenizer. */
export function cohortPrefixes(cohort: { covariates?: Record<string, number | string | null>; labels?: Record<string, number> }[], tok: Tokenizer): number[][] {
  return cohort.map((c, i) => {
    const record: PatientRecord = {
      id: `cohort-${i}`,
      covariates: Object.fromEntries(tok.covariates.map((cv) => [cv.name, c.covariates?.[cv.name] ?? null])),
      labels: c.labels ?? {},
      admissions: [{ id: `cohort-${i}-a0`, codes: [], events: [] }],
    };
    if (tok.labelsLast && Object.keys(c.labels ?? {}).length > 0) {
      throw new SynehrError(
        'E_CONFIG_VALUE',
        `generate.cohort[${i}].labels: this run's tokenizer puts the labels after the last admission (tokenizer.label_position=last), so they cannot be fixed before sampling; give covariates only, or tokenize with label_position=first`,
      );
    }
    for (const k of Object.keys(c.covariates ?? {})) {
      if (!tok.covariates.some((cv) => cv.name === k)) {
        throw new SynehrError('E_CONFIG_VALUE', `generate.cohort[${i}].covariates.${k}: no such covariate (known: ${tok.covariates.map((cv) => cv.name).join(', ')})`);
      }
    }
    try {
      return conditionPrefix(tok.encodePatient(record), tok);
    } catch (e) {
      if (e instanceof SynehrError) throw new SynehrError('E_CONFIG_VALUE', `generate.cohort[${i}]: ${e.message}`);
      throw e;
    }
  });
}

/** The label generate.guidance contrasts: generate.guidance_label, or the data config's main label. */
export function guidedLabelName(gen: GenerateConfig, data: DataConfig): string {
  const name = gen.guidance_label ?? mainLabel(data);
  if (name === null) throw new SynehrError('E_CONFIG_VALUE', `generate.guidance=${gen.guidance}: the data config '${data.name}' has no labels to guide on`);
  return name;
}

/** The guidance `generate.guidance=auto` applies where the data allows it (docs/quality.md, "Label guidance"). */
export const AUTO_GUIDANCE = 0.5;

/**
 * generate.guidance as applied: a number as given (checked when the run's sampler is built), or
 * for 'auto' AUTO_GUIDANCE on the guided label when the tokenizer has it as a binary label drawn
 * before the series, else 0; `why` says which, for the log.
 */
export function resolveGuidance(gen: GenerateConfig, data: DataConfig, tok: Tokenizer): { w: number; label: string | null; why: string } {
  if (gen.guidance !== 'auto') return { w: gen.guidance, label: gen.guidance > 0 ? guidedLabelName(gen, data) : null, why: `generate.guidance=${gen.guidance}` };
  const name = gen.guidance_label ?? mainLabel(data);
  const off = (reason: string) => ({ w: 0, label: null, why: `generate.guidance=auto: off, ${reason}` });
  if (name === null) return off(`the data config '${data.name}' has no labels`);
  const i = tok.labelIndex.get(name);
  if (i === undefined) throw new SynehrError('E_CONFIG_VALUE', `generate.guidance_label: no label '${name}' in this run's tokenizer (known: ${tok.labels.map((l) => l.name).join(', ') || 'none'})`);
  const l = tok.labels[i]!;
  if (l.bins || l.values.length !== 2) return off(`'${name}' is not binary (${l.bins ? 'binned' : `${l.values.length} values`})`);
  if (tok.labelsLast) return off(`the labels follow the series (tokenizer.label_position=last)`);
  return { w: AUTO_GUIDANCE, label: name, why: 'generate.guidance=auto' };
}

/** Generates gen.n_samples patients into outDir. */
export async function generateSynthetic(o: GenerateOptions): Promise<GenerateResult> {
  const log = o.log ?? (() => undefined);
  const { gen } = o;
  const N = gen.n_samples;
  const B = gen.batch_size;
  if (gen.value_temperature !== 1 && !o.model.value_memory) {
    throw new SynehrError('E_CONFIG_VALUE', `generate.value_temperature=${gen.value_temperature} needs a model with model.value_memory=true (the latest value it samples near); this run's model has none: leave it at 1`);
  }
  const partsDir = join(o.outDir, PARTS_DIR);
  const mergeDir = join(partsDir, 'merge');

  if (existsSync(join(o.outDir, MANIFEST_FILE))) {
    if (o.overwrite) {
      await clearOutput(o.outDir);
    } else {
      const m = await readManifest(o.outDir).catch(() => null);
      throw new SynehrError(
        'E_RUN_EXISTS',
        `${o.outDir} already holds a finished generation (${m?.counts.patients ?? '?'} patients): pass overwrite=true to replace it, or generate.out_dir=<dir> to write elsewhere`,
      );
    }
  } else if (existsSync(partsDir) && !o.resume) {
    if (!o.overwrite) {
      throw new SynehrError('E_RUN_EXISTS', `${o.outDir} holds an interrupted generation: pass resume=true to continue it, or overwrite=true to start again`);
    }
    await clearOutput(o.outDir);
  }

  // the weights are read once: for the export check, the export itself and the decoder
  const run = await loadTrainedRun(o.runDir, o.model);
  if (!(await exportIsCurrent(o.runDir, run))) {
    log(`generate: exporting ${o.runDir} (its export is missing, damaged, or built from other weights or another tokenizer)`);
    await exportRun(o.runDir, o.model, gen, run);
  }
  const tok = run.tokenizer;
  const maxLen = Math.min(gen.max_len ?? o.model.n_ctx, o.model.n_ctx);
  // label guidance samples from a graph built here, since each row needs its contrast row
  const guidance = resolveGuidance(gen, o.data, tok);
  const guidedLabel = guidance.label;
  const sampler = guidedLabel
    ? Sampler.fromSession(
        await createSession(buildRunSamplerGraph(o.model, tok, run.weights, { flip: guidanceFlip(tok, guidedLabel) }), { threads: o.threads ?? 0 }),
        tok,
        maxLen,
      )
    : await Sampler.open(runFiles(o.runDir).sampler, tok, maxLen, o.threads ?? 0);
  if (guidedLabel) log(`generate: label guidance ${guidance.w} on '${guidedLabel}' (${guidance.why}; each row beside a contrast row: twice the sampling)`);
  else if (gen.guidance === 'auto') log(`generate: ${guidance.why}`);

  if (o.realIds) {
    for (const id of o.realIds) {
      if (id.startsWith(SYNTHETIC_ID_PREFIX)) {
        throw new SynehrError('E_INPUT', `real patient id '${id}' starts with '${SYNTHETIC_ID_PREFIX}', the prefix of synthetic ids: rename it so the two can never be confused`);
      }
    }
  }

  // conditions: a cohort from the config, or real training patients' covariates and labels
  let prefixes: number[][] | null = o.cohortPrefixes && o.cohortPrefixes.length > 0 ? o.cohortPrefixes : null;
  if (!prefixes && gen.fix_covars) {
    if (!o.trainShardPath || !existsSync(o.trainShardPath)) {
      throw new SynehrError('E_MISSING', `fix_covars=true needs the training token shard (${o.trainShardPath ?? 'none given'}): run \`synehr tokenize data=${o.data.name}\``);
    }
    const shard = readTokenShard(o.trainShardPath);
    const order = new Rng(gen.seed).shuffle(Array.from({ length: shard.patientIds.length }, (_, i) => i));
    prefixes = order.map((p) => conditionPrefix(shard.ids.subarray(shard.offsets[p]!, shard.offsets[p + 1]!), tok));
  }
  const prefixFor = (n: number): number[] => (prefixes ? prefixes[n % prefixes.length]! : [tok.bos]);

  const nBatches = Math.ceil(N / B);
  const batchesPerPart = Math.max(1, Math.floor((o.patientsPerPart ?? 1024) / B));
  const nParts = Math.ceil(nBatches / batchesPerPart);
  // how the rows are drawn, as the manifest records it
  const sampling = {
    temperature: gen.temperature,
    top_k: gen.top_k,
    top_p: gen.top_p,
    value_temperature: gen.value_temperature,
    guidance: guidance.w,
    guidance_label: guidedLabel,
    max_len: maxLen,
    fix_covars: gen.fix_covars,
    conditions_sha256: prefixes ? createHash('sha256').update(JSON.stringify(prefixes)).digest('hex') : null,
  };
  // everything a part's rows depend on: resume continues only when all of it is the same
  const settings: PartSettings = {
    n_samples: N,
    batch_size: B,
    patients_per_part: batchesPerPart * B,
    seed: gen.seed,
    ...sampling,
    weights_sha256: run.weightsHash,
    tokenizer_sha256: run.tokenizerHash,
  };
  await mkdir(partsDir, { recursive: true });
  const done = await completeParts(partsDir, settings);
  if (done.size > 0) log(`generate: resuming, ${done.size} of ${nParts} parts already written`);

  const bar =
    (o.progress ?? process.stderr.isTTY === true)
      ? new cliProgress.SingleBar(
          { format: 'generate {bar} {value}/{total} patients | {tps} tok/s | ETA {eta_formatted}', stream: process.stderr, hideCursor: true },
          cliProgress.Presets.shades_classic,
        )
      : null;
  bar?.start(N, 0, { tps: '-' });

  const t0 = performance.now();
  // tokens of every part, the resumed ones from their stamps
  let tokens = 0;
  let newTokens = 0;
  let made = 0;
  try {
    for (let part = 0; part < nParts; part++) {
      const name = partName(part);
      const firstBatch = part * batchesPerPart;
      const lastBatch = Math.min(nBatches, firstBatch + batchesPerPart);
      const inPart = Math.min(N, lastBatch * B) - firstBatch * B;
      const resumed = done.get(name);
      if (resumed) {
        made += inPart;
        tokens += resumed.tokens;
        bar?.update(made);
        o.onProgress?.(made);
        continue;
      }
      let partTokens = 0;
      const records = async function* (): AsyncGenerator<PatientRecord> {
        for (let b = firstBatch; b < lastBatch; b++) {
          if (o.signal?.aborted) {
            throw interruptedError(`generation interrupted after ${made} of ${N} patients: run again with resume=true to continue`);
          }
          const first = b * B;
          const rows = Math.min(B, N - first);
          const seed = batchSeed(gen.seed, b);
          // rows of a batch share one prefix length: split a batch where conditions differ in length
          const groups = new Map<number, number[]>();
          for (let r = 0; r < rows; r++) {
            const p = prefixFor(first + r);
            const members = groups.get(p.length);
            if (members) members.push(r);
            else groups.set(p.length, [r]);
          }
          const decoded: PatientRecord[] = new Array(rows);
          let g = 0;
          for (const members of groups.values()) {
            const { ids, T } = await sampler.sample(
              members.map((r) => prefixFor(first + r)),
              { temperature: gen.temperature, topK: gen.top_k, topP: gen.top_p, valueTemperature: gen.value_temperature, guidance: guidance.w, seed: batchSeed(seed, g++) },
            );
            const rng = new Rng(batchSeed(seed, 1000 + g));
            members.forEach((r, i) => {
              const row = ids.subarray(i * T, (i + 1) * T);
              for (const t of row) if (t !== tok.pad) partTokens++;
              decoded[r] = tok.decode(row, { rng, mode: 'strict', id: `${SYNTHETIC_ID_PREFIX}${first + r}` });
            });
          }
          for (const rec of decoded) {
            if (o.realIds?.has(rec.id)) throw new Error(`synthetic id ${rec.id} equals a real id`);
            yield rec;
          }
          made += rows;
          const secs = (performance.now() - t0) / 1000;
          bar?.update(made, { tps: ((newTokens + partTokens) / secs).toFixed(0) });
          o.onProgress?.(made);
        }
      };
      const partDir = join(partsDir, name);
      const tmp = `${partDir}.tmp`;
      await rm(partDir, { recursive: true, force: true });
      await rm(tmp, { recursive: true, force: true });
      // written under a temporary name with its stamp, renamed when all of it is complete
      const counts = await writeRecordTables(tmp, records(), o.data);
      await writePartStamp(tmp, { settings, patients: counts.patients, tokens: partTokens });
      await rename(tmp, partDir);
      tokens += partTokens;
      newTokens += partTokens;
    }
  } finally {
    bar?.stop();
  }

  // merge the parts into the final tables, one part at a time, in parts/merge/ first: a kill
  // during the merge leaves nothing half-written beside the parts
  await rm(mergeDir, { recursive: true, force: true });
  await removeStaleTables(o.outDir);
  const partNames = Array.from({ length: nParts }, (_, p) => partName(p));
  const merged = async function* (): AsyncGenerator<PatientRecord> {
    for (const [i, p] of partNames.entries()) {
      yield* streamRecords(join(partsDir, p), { data: o.data });
      if (i === 0) o.onMerge?.();
    }
  };
  let counts: TableCounts | null = null;
  const written: string[] = [];
  for (const format of gen.formats) {
    if (format === 'arrow') continue;
    counts = await writeRecordTables(mergeDir, merged(), o.data, { format });
    written.push(...TABLE_NAMES.map((t) => `${t}.${format}`));
  }
  if (gen.formats.includes('arrow')) {
    // Arrow files are converted from Parquet tables: the ones just merged, or a scratch copy
    const parquetDir = gen.formats.includes('parquet') ? mergeDir : join(mergeDir, 'arrow-scratch');
    if (parquetDir !== mergeDir) counts = await writeRecordTables(parquetDir, merged(), o.data);
    await writeArrowTables(mergeDir, parquetDir);
    written.push(...TABLE_NAMES.map((t) => `${t}.arrow`));
  }
  if (!counts) throw new SynehrError('E_CONFIG_VALUE', 'generate.formats is empty: name at least one of parquet, csv, arrow');
  if (counts.patients !== N) throw new Error(`generated ${counts.patients} patients, expected ${N}`);
  for (const f of written) await rename(join(mergeDir, f), join(o.outDir, f));

  const seconds = (performance.now() - t0) / 1000;
  await writeManifest(o.outDir, {
    format_version: MANIFEST_VERSION,
    kind: 'synehr-synthetic',
    model: o.runName,
    run_dir: o.runDir,
    weights_sha256: run.weightsHash,
    tokenizer_sha256: run.tokenizerHash,
    data: o.data.name,
    seed: gen.seed,
    n_samples: N,
    batch_size: B,
    sampling,
    formats: gen.formats,
    counts,
    tokens,
    seconds,
    created: new Date().toISOString(),
    config: { ...(o.config as Record<string, unknown>), data: o.data },
  });
  await rm(partsDir, { recursive: true, force: true });
  return { outDir: o.outDir, counts, tokens, seconds, batches: nBatches };
}

/** The four tables as Arrow IPC files in dir, converted from parquetDir's tables one at a time. */
async function writeArrowTables(dir: string, parquetDir: string): Promise<void> {
  for (const t of TABLE_NAMES) {
    const table = await readParquetTable(join(parquetDir, `${t}.parquet`));
    await writeFileAtomic(join(dir, `${t}.arrow`), tableToIPC(table, 'file'));
  }
}

/** Tables and temporary files of an earlier generation (or of a merge killed by an older synehr). */
async function removeStaleTables(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  const table = new RegExp(`^(${TABLE_NAMES.join('|')})\\.(parquet|csv|arrow)(\\.tmp-.*)?$`);
  for (const f of await readdir(dir)) if (table.test(f)) await rm(join(dir, f), { force: true });
}

async function clearOutput(dir: string): Promise<void> {
  for (const f of [MANIFEST_FILE, PARTS_DIR]) await rm(join(dir, f), { recursive: true, force: true });
  await removeStaleTables(dir);
}

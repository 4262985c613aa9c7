import type { ModelConfig } from '../model/config.ts';
import { modelMemoryTable, valueBlocks } from '../model/gpt.ts';
import { createSession } from '../graph/runtime.ts';
import { loadSafetensors, saveSafetensors, stampedSettings, tensorToFloat32 } from '../model/safetensors.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { TokenClass, type MemoryTable } from '../tokenizer/vocabulary.ts';
import type { TokenShard } from '../train/batches.ts';
import { shardPatient } from '../tokenizer/shards.ts';
import { SynehrError } from '../util/errors.ts';
import { batchSeed, Sampler } from './generate.ts';
import { buildRunSamplerGraph } from './sampler.ts';

/**
 * Calibrating the value memory's first-value offsets (transformer.wma.weight) against what the
 * model generates, after the refit (src/train/memoryRefit.ts).
 *
 * Why: the refit makes the teacher-forced first values of every variable add up to the real ones,
 * yet sampled patients still have the arterial line's and the blood gas's variables too often
 * (DiasABP in 77% of patients against 70%, SaO2 59% against 45%): sampling drifts where teacher
 * forcing cannot see (docs/quality.md, "Calibrating the memory"). So each round samples patients
 * from the model as `generate` does (no condition, temperature 1), counts the share of them that
 * have each variable, and moves that variable's offset by
 *
 *   δ_j = cloglog(real share) − cloglog(sampled share),   cloglog(p) = log(−log(1 − p)),
 *
 * the step that is exact when the offset scales the variable's per-position hazard of a first
 * value (a patient has it with probability 1 − exp(−Λ_j), and e^δ scales Λ_j): an offset in the
 * logits does that while the first value is unlikely at any one position. Shares are clamped to
 * [1/(2n), 1 − 1/(2n)] of their sample's size n, so a variable no sampled patient has moves by a
 * finite step.
 *
 * After the rounds, the record's fields are calibrated (opts.fields): the covariates' and labels'
 * value tokens, drawn once per record from the model's own distribution at the sequence's start.
 * With the weights averaging nothing, that distribution carries the last updates' noise: models of
 * the default recipe drew 39% and 54% women where the training split has 44%, and 29% medical ICU
 * stays against 37% (docs/quality.md, "Calibrating the record's fields"). Each such token v gets a
 * constant logit offset (wma[v], src/model/gpt.ts), moved by
 *
 *   δ_v = log(real share) − log(sampled share)
 *
 * of the records that have v: exact for a field drawn from a fixed distribution (the first
 * covariate), a step towards the real marginal for the others, whose distribution depends on the
 * fields before them, so there are FIELD_ROUNDS of them. Shares are clamped as above. A field
 * round samples records' starts only (sampleRows with maxLen just past the labels: the grammar
 * then closes each record at once), FIELD_RECORDS of them, about 1/30 of a patient's tokens each;
 * the fields come before the variables, so the variables' offsets do not change them, and a field
 * round after the variables' rounds leaves those as they were.
 */

/** The share of `rows` (token id sequences) in which each of the table's J variables has a token. */
export function presenceShares(rows: Iterable<ArrayLike<number>>, table: MemoryTable): { shares: Float64Array; n: number } {
  const J = table.variables;
  const counts = new Float64Array(J);
  const seen = new Uint8Array(J);
  let n = 0;
  for (const r of rows) {
    n++;
    seen.fill(0);
    for (let i = 0; i < r.length; i++) {
      const t = r[i]!;
      if (t < 0 || t >= table.owner.length) throw new RangeError(`presenceShares: token ${t} of row ${n - 1} is outside the vocabulary of ${table.owner.length}`);
      const j = table.owner[t]!;
      if (j >= 0) seen[j] = 1;
    }
    for (let j = 0; j < J; j++) counts[j]! += seen[j]!;
  }
  if (n === 0) throw new RangeError('presenceShares: no rows');
  return { shares: counts.map((c) => c / n), n };
}

const cloglog = (p: number, n: number): number => {
  const q = Math.min(Math.max(p, 0.5 / n), 1 - 0.5 / n);
  return Math.log(-Math.log(1 - q));
};

/** Per variable, δ_j (see above) from the real shares (of nReal patients) and the sampled ones (of nSampled). */
export function offsetSteps(real: ArrayLike<number>, nReal: number, sampled: ArrayLike<number>, nSampled: number): Float64Array {
  if (real.length !== sampled.length) throw new RangeError(`offsetSteps: ${real.length} real shares and ${sampled.length} sampled ones`);
  return Float64Array.from(real, (p, j) => cloglog(p, nReal) - cloglog(sampled[j]!, nSampled));
}

/**
 * Per token [V], the field it is a value of: covariate i is field i, label i field K + i (K
 * covariates); −1 for every other token. With the labels after the series
 * (tokenizer.label_position=last) the labels are no fields: a record's start does not hold them,
 * and the labels the grammar closes a start with follow a record with no series, so their shares
 * there say nothing of whole records'.
 */
export function fieldOf(tok: Tokenizer): Int32Array {
  const K = tok.covariates.length;
  const label = (t: number) => (tok.labelsLast ? -1 : K + tok.tokenOwner[t]!);
  return Int32Array.from(tok.tokenClass, (c, t) => (c === TokenClass.covariate ? tok.tokenOwner[t]! : c === TokenClass.label ? label(t) : -1));
}

/** Per token [V], the share of `rows` that have it (a field's value is in a record at most once); 0 at tokens of no field. */
export function fieldShares(rows: Iterable<ArrayLike<number>>, field: Int32Array): { shares: Float64Array; n: number } {
  const V = field.length;
  const counts = new Float64Array(V);
  let n = 0;
  for (const r of rows) {
    n++;
    for (let i = 0; i < r.length; i++) {
      const t = r[i]!;
      if (t < 0 || t >= V) throw new RangeError(`fieldShares: token ${t} of row ${n - 1} is outside the vocabulary of ${V}`);
      if (field[t]! >= 0) counts[t]! += 1;
    }
  }
  if (n === 0) throw new RangeError('fieldShares: no rows');
  return { shares: counts.map((c) => c / n), n };
}

/** Per token, δ_v = log(real) − log(sampled) of its shares (clamped to half a record), 0 at tokens of no field. */
export function fieldSteps(field: Int32Array, real: ArrayLike<number>, nReal: number, sampled: ArrayLike<number>, nSampled: number): Float64Array {
  if (real.length !== field.length || sampled.length !== field.length) throw new RangeError(`fieldSteps: ${real.length} real and ${sampled.length} sampled shares for ${field.length} tokens`);
  const clamp = (p: number, n: number) => Math.min(Math.max(p, 0.5 / n), 1 - 0.5 / n);
  return Float64Array.from(field, (f, t) => (f < 0 ? 0 : Math.log(clamp(real[t]!, nReal)) - Math.log(clamp(sampled[t]!, nSampled))));
}

/** Field rounds after the variables' rounds, and records' starts sampled in each (see above). */
export const FIELD_ROUNDS = 3;
export const FIELD_RECORDS = 4000;

/** The shortest max_len that lets every record's covariates and labels be drawn freely: <s>, the shortest record, and one token more per label. */
export function fieldsMaxLen(tok: Tokenizer): number {
  return 1 + tok.automaton.distToEnd[tok.automaton.startState]! + tok.labels.length;
}

export interface CalibrationOptions {
  /** patients sampled per round */
  patients: number;
  rounds: number;
  seed: number;
  /** calibrate the covariates' and labels' values too (see above; default true) */
  fields?: boolean;
  /** field rounds and records' starts sampled in each (FIELD_ROUNDS, FIELD_RECORDS) */
  fieldRounds?: number;
  fieldRecords?: number;
  /** rows per sampler call (generate.batch_size) */
  batchSize?: number;
  threads?: number;
  log?: (message: string) => void;
}

export interface CalibrationRound {
  /** mean and largest |sampled − real| share over the variables, before this round's step */
  meanError: number;
  maxError: number;
}

/** A field round: the mean and largest |sampled − real| share over the covariates' and labels' value tokens, before its step (the last: after all of them, no step). */
export interface FieldRound {
  meanError: number;
  maxError: number;
}

export interface CalibrationResult {
  /** [V]: the new offsets (each value token holds its variable's; each field's value its own) */
  wma: Float32Array;
  rounds: CalibrationRound[];
  /** FIELD_ROUNDS + 1 measurements, the last after the steps; empty without opts.fields */
  fieldRounds: FieldRound[];
  seconds: number;
}

/** Samples `n` unconditioned patients from `weights` as generate does at temperature 1, returning their token rows. */
export async function sampleRows(
  model: ModelConfig,
  tok: Tokenizer,
  weights: Record<string, Float32Array>,
  n: number,
  seed: number,
  batchSize: number,
  threads: number | undefined,
  maxLen = model.n_ctx,
): Promise<Int32Array[]> {
  const sampler = Sampler.fromSession(await createSession(buildRunSamplerGraph(model, tok, weights), { threads: threads ?? 0 }), tok, maxLen);
  const rows: Int32Array[] = [];
  for (let b = 0; b * batchSize < n; b++) {
    const B = Math.min(batchSize, n - b * batchSize);
    const { ids, T } = await sampler.sample(
      Array.from({ length: B }, () => [tok.bos]),
      { temperature: 1, topK: 0, topP: 1, seed: batchSeed(seed, b) },
    );
    for (let i = 0; i < B; i++) rows.push(ids.slice(i * T, (i + 1) * T));
  }
  return rows;
}

/** The shard's patients as token rows. */
function* shardRows(shard: TokenShard): Generator<ArrayLike<number>> {
  for (let p = 0; p + 1 < shard.offsets.length; p++) yield shardPatient(shard, p);
}

/** Rounds of sample, count, step (see above) on `weights` (not changed); returns the new offsets. */
export async function calibrateFirstValues(model: ModelConfig, tok: Tokenizer, weights: Record<string, Float32Array>, trainShard: TokenShard, opts: CalibrationOptions): Promise<CalibrationResult> {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const table = modelMemoryTable(model, tok);
  if (!table) throw new SynehrError('E_RUN', 'memory calibration: the model has no value memory (model.value_memory)');
  const wma0 = weights['transformer.wma.weight'];
  if (!wma0) throw new SynehrError('E_RUN', "the weights have no 'transformer.wma.weight': the value memory's refit writes it, calibrate after it");
  const real = presenceShares(shardRows(trainShard), table);
  const wma = Float32Array.from(wma0);
  const rounds: CalibrationRound[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    log(`memory calibration: round ${r + 1}/${opts.rounds}: sampling ${opts.patients} patients`);
    const rows = await sampleRows(model, tok, { ...weights, 'transformer.wma.weight': wma }, opts.patients, batchSeed(opts.seed, r), opts.batchSize ?? 64, opts.threads);
    const sampled = presenceShares(rows, table);
    // over the series variables: a label (model.memory_labels) is in every record, real or sampled
    const err = Array.from(sampled.shares.subarray(0, table.variables - table.labels), (p, j) => Math.abs(p - real.shares[j]!));
    const round = { meanError: err.reduce((a, b) => a + b, 0) / err.length, maxError: Math.max(...err) };
    rounds.push(round);
    const delta = offsetSteps(real.shares, real.n, sampled.shares, sampled.n);
    for (const b of valueBlocks(table)) for (let t = b.first; t < b.first + b.n; t++) wma[t]! += delta[b.j]!;
    log(`memory calibration: round ${r + 1}/${opts.rounds}: ${opts.patients} patients sampled, share of patients with each variable off by ${round.meanError.toFixed(4)} on average (at most ${round.maxError.toFixed(4)}); offsets moved`);
  }
  const fieldRounds = (opts.fields ?? true) ? await calibrateFields(model, tok, weights, wma, trainShard, opts) : [];
  return { wma, rounds, fieldRounds, seconds: (performance.now() - t0) / 1000 };
}

/** The field rounds (see above) on `weights` with the offsets `wma`, which they move in place; their seeds follow the opts.rounds variables' rounds'. */
export async function calibrateFields(model: ModelConfig, tok: Tokenizer, weights: Record<string, Float32Array>, wma: Float32Array, trainShard: TokenShard, opts: CalibrationOptions): Promise<FieldRound[]> {
  const log = opts.log ?? (() => {});
  const field = fieldOf(tok);
  const real = fieldShares(shardRows(trainShard), field);
  const nRounds = opts.fieldRounds ?? FIELD_ROUNDS;
  const n = opts.fieldRecords ?? FIELD_RECORDS;
  const out: FieldRound[] = [];
  for (let r = 0; r <= nRounds; r++) {
    // the seeds after the variables' rounds'
    const rows = await sampleRows(model, tok, { ...weights, 'transformer.wma.weight': wma }, n, batchSeed(opts.seed, opts.rounds + r), opts.batchSize ?? 64, opts.threads, fieldsMaxLen(tok));
    const got = fieldShares(rows, field);
    const err = Array.from(field).flatMap((f, t) => (f >= 0 ? [Math.abs(got.shares[t]! - real.shares[t]!)] : []));
    const round = { meanError: err.length > 0 ? err.reduce((a, b) => a + b, 0) / err.length : 0, maxError: err.length > 0 ? Math.max(...err) : 0 };
    out.push(round);
    const said = `${tok.labelsLast ? "each covariate's value (the labels follow the series: not calibrated)" : "each covariate's and label's value"} off by ${round.meanError.toFixed(4)} on average (at most ${round.maxError.toFixed(4)})`;
    if (r === nRounds) {
      log(`memory calibration: fields: ${n} records' starts sampled after ${nRounds} round${nRounds === 1 ? '' : 's'}: ${said}`);
      break;
    }
    const step = fieldSteps(field, real.shares, real.n, got.shares, got.n);
    for (let t = 0; t < wma.length; t++) wma[t]! += step[t]!;
    log(`memory calibration: fields: round ${r + 1}/${nRounds}: ${n} records' starts sampled, ${said}; offsets moved`);
  }
  return out;
}

/** The safetensors metadata key that records a calibration: its settings and each round's errors (JSON). */
export const MEMORY_CALIBRATION_METADATA = 'memory_calibration';

/**
 * The train command's step after the refit: calibrates the offsets of the run's model.safetensors
 * and rewrites it with them, every other tensor as it was, the settings and rounds under
 * MEMORY_CALIBRATION_METADATA. A file calibrated with these settings after its current refit is
 * left alone (a resumed finished run); one calibrated with other settings is calibrated again from
 * its current offsets.
 */
export async function calibrateRunWeights(path: string, model: ModelConfig, tok: Tokenizer, trainShard: TokenShard, opts: CalibrationOptions): Promise<CalibrationResult | null> {
  const log = opts.log ?? (() => {});
  const file = await loadSafetensors(path);
  // the refit's stamp is part of the settings: a refit since the calibration undoes it
  const fields = (opts.fields ?? true) ? { rounds: opts.fieldRounds ?? FIELD_ROUNDS, records: opts.fieldRecords ?? FIELD_RECORDS } : null;
  const settings = { patients: opts.patients, rounds: opts.rounds, seed: opts.seed, fields, after_refit: file.metadata['memory_refit'] ?? null };
  if (JSON.stringify(stampedSettings(file, MEMORY_CALIBRATION_METADATA, path)) === JSON.stringify(settings)) {
    log(`memory calibration: ${path} is already calibrated with these settings`);
    return null;
  }
  const weights = Object.fromEntries(file.tensors.map((t) => [t.name, tensorToFloat32(t)]));
  const r = await calibrateFirstValues(model, tok, weights, trainShard, opts);
  const tensors = file.tensors.map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape, data: t.name === 'transformer.wma.weight' ? r.wma : weights[t.name]! }));
  const record = {
    settings,
    rounds: r.rounds.map((x) => ({ mean_error: x.meanError, max_error: x.maxError })),
    field_rounds: r.fieldRounds.map((x) => ({ mean_error: x.meanError, max_error: x.maxError })),
  };
  await saveSafetensors(path, tensors, { ...file.metadata, [MEMORY_CALIBRATION_METADATA]: JSON.stringify(record) });
  log(`memory calibration: ${opts.rounds} round${opts.rounds === 1 ? '' : 's'} of ${opts.patients} patients in ${r.seconds.toFixed(0)} s`);
  return r;
}

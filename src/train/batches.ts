import { Rng } from '../util/rng.ts';
import { SynehrError } from '../util/errors.ts';

/**
 * Packed training batches with document masking (DESIGN.md, "The graph engine and the model").
 *
 * Notation: B = windows per batch, T = n_ctx (tokens per window), P = patients in a shard.
 *
 * Several whole patients share a window of T tokens. Within a window each patient gets its own
 * doc id, its positions restart at 0 at its `<s>`, and the graph lets a token attend only to
 * earlier tokens with the same doc id, so packing changes no patient's loss. Every token's target
 * is the next token of the same patient; a patient's last token in the window (its `</s>`, or the
 * cut of a truncated patient) and every padding token get target -1, which the loss ignores.
 *
 * Patients are never split across windows. A patient longer than T is truncated to its first T
 * tokens, as SynEHRgy did; trainModel reports how many were. Patients are placed first-fit across
 * the B windows of a batch in the (shuffled) epoch order; the batch closes when the next patient
 * fits in none of them, and that patient opens the next batch. So the data order is fixed by the
 * epoch permutation and a cursor into it, which is all a checkpoint needs to resume it.
 */

/** A token shard as the tokenizer writes it (src/tokenizer readTokenShard). */
export interface TokenShard {
  /** all patients' tokens, concatenated */
  ids: Uint16Array | Uint32Array;
  /** [P + 1] patient p's tokens are ids[offsets[p], offsets[p + 1]) */
  offsets: Uint32Array;
  vocabSize: number;
}

export interface PackedBatch {
  B: number;
  T: number;
  /** [B, T] token ids; padding = the tokenizer's <pad> */
  inputIds: BigInt64Array;
  /** [B, T] position of each token within its patient (0 at its <s>); 0 on padding */
  positionIds: BigInt64Array;
  /** [B, T] which patient of the window a token belongs to (0, 1, ...); padding gets one id of its own */
  docIds: BigInt64Array;
  /** [B, T] the next token of the same patient, or -1 (ignored by the loss) */
  targets: BigInt64Array;
  /** real (non-padding) tokens */
  nTokens: number;
  /** targets that count in the loss (!= -1) */
  nTargets: number;
  nPatients: number;
}

export function shardPatientCount(shard: TokenShard): number {
  return shard.offsets.length - 1;
}

/** Fills one batch of B windows first-fit; `tryAdd` refuses a patient that fits in no window. */
export class BatchPacker {
  readonly B: number;
  readonly T: number;
  private readonly padId: number;
  /** tokens used in each window */
  private readonly fill: Int32Array;
  /** patients placed in each window (the next doc id) */
  private readonly docs: Int32Array;
  private batch: PackedBatch;

  constructor(B: number, T: number, padId: number) {
    this.B = B;
    this.T = T;
    this.padId = padId;
    this.fill = new Int32Array(B);
    this.docs = new Int32Array(B);
    this.batch = this.emptyBatch();
  }

  private emptyBatch(): PackedBatch {
    const n = this.B * this.T;
    return {
      B: this.B,
      T: this.T,
      inputIds: new BigInt64Array(n),
      positionIds: new BigInt64Array(n),
      docIds: new BigInt64Array(n),
      targets: new BigInt64Array(n),
      nTokens: 0,
      nTargets: 0,
      nPatients: 0,
    };
  }

  get empty(): boolean {
    return this.batch.nPatients === 0;
  }

  /** Place a patient's tokens (at most T of them are used) in the first window with room. */
  tryAdd(tokens: ArrayLike<number>): boolean {
    const n = Math.min(tokens.length, this.T);
    if (n === 0) return true;
    let w = 0;
    while (w < this.B && this.fill[w]! + n > this.T) w++;
    if (w === this.B) return false;
    const b = this.batch;
    const o = w * this.T + this.fill[w]!;
    const doc = BigInt(this.docs[w]!);
    for (let j = 0; j < n; j++) {
      b.inputIds[o + j] = BigInt(tokens[j]!);
      b.positionIds[o + j] = BigInt(j);
      b.docIds[o + j] = doc;
      b.targets[o + j] = j + 1 < n ? BigInt(tokens[j + 1]!) : -1n;
    }
    this.fill[w]! += n;
    this.docs[w]! += 1;
    b.nTokens += n;
    b.nTargets += n - 1;
    b.nPatients += 1;
    return true;
  }

  /** Pad the windows' tails and hand the batch over; the packer starts a new one. */
  finish(): PackedBatch {
    const b = this.batch;
    const pad = BigInt(this.padId);
    for (let w = 0; w < this.B; w++) {
      const doc = BigInt(this.docs[w]!);
      for (let i = w * this.T + this.fill[w]!; i < (w + 1) * this.T; i++) {
        b.inputIds[i] = pad;
        b.positionIds[i] = 0n;
        b.docIds[i] = doc;
        b.targets[i] = -1n;
      }
    }
    this.fill.fill(0);
    this.docs.fill(0);
    this.batch = this.emptyBatch();
    return b;
  }
}

function patientTokens(shard: TokenShard, p: number, T: number): Uint16Array | Uint32Array {
  const a = shard.offsets[p]!;
  const e = shard.offsets[p + 1]!;
  return shard.ids.subarray(a, Math.min(e, a + T));
}

/** How the training stream stands: enough to regenerate the rest of the data order exactly. */
export interface DataOrderState {
  /** epochs started so far - 1 (0 during the first) */
  epoch: number;
  /** next patient, as an index into the current epoch's permutation */
  cursor: number;
  /** the data RNG's state just before it shuffled the current epoch */
  epochRngState: number[];
}

/**
 * An endless stream of training batches: each epoch is a fresh permutation of the shard's patients
 * drawn from `rng`; a batch that reaches the end of an epoch continues into the next.
 */
export class TrainBatchStream {
  private readonly shard: TokenShard;
  private readonly packer: BatchPacker;
  private readonly rng: Rng;
  private order: number[] = [];
  private epoch = -1;
  private cursor = 0;
  private epochRngState: number[] = [];

  private constructor(shard: TokenShard, B: number, T: number, padId: number, rng: Rng) {
    const P = shardPatientCount(shard);
    if (P <= 0) throw new SynehrError('E_INPUT', 'the training shard holds no patients');
    this.shard = shard;
    this.packer = new BatchPacker(B, T, padId);
    this.rng = rng;
  }

  /** A stream starting at epoch 0, shuffled by `rng` (which the stream then owns). */
  static start(shard: TokenShard, B: number, T: number, padId: number, rng: Rng): TrainBatchStream {
    const s = new TrainBatchStream(shard, B, T, padId, rng);
    s.nextEpoch();
    return s;
  }

  /** A stream continuing exactly where `state` was taken. */
  static resume(shard: TokenShard, B: number, T: number, padId: number, state: DataOrderState): TrainBatchStream {
    const s = new TrainBatchStream(shard, B, T, padId, Rng.fromState(state.epochRngState));
    s.nextEpoch();
    s.epoch = state.epoch;
    if (!Number.isInteger(state.cursor) || state.cursor < 0 || state.cursor > s.order.length) {
      throw new SynehrError('E_CHECKPOINT', `data-order cursor ${state.cursor} is outside the training shard's ${s.order.length} patients`);
    }
    s.cursor = state.cursor;
    return s;
  }

  state(): DataOrderState {
    return { epoch: this.epoch, cursor: this.cursor, epochRngState: [...this.epochRngState] };
  }

  get epochsStarted(): number {
    return this.epoch + 1;
  }

  private nextEpoch(): void {
    this.epochRngState = this.rng.state();
    const P = shardPatientCount(this.shard);
    this.order = this.rng.shuffle(Array.from({ length: P }, (_, i) => i));
    this.epoch += 1;
    this.cursor = 0;
  }

  next(): PackedBatch {
    for (;;) {
      if (this.cursor === this.order.length) this.nextEpoch();
      const tokens = patientTokens(this.shard, this.order[this.cursor]!, this.packer.T);
      if (!this.packer.tryAdd(tokens)) return this.packer.finish();
      this.cursor += 1;
    }
  }
}

/**
 * The validation batches: the shard's patients in file order, packed the same way, at most
 * `maxBatches` of them (all of the shard when it runs out first). The same every time, so
 * validation losses are comparable across steps and runs.
 */
export function validationBatches(shard: TokenShard, B: number, T: number, padId: number, maxBatches: number): PackedBatch[] {
  const packer = new BatchPacker(B, T, padId);
  const out: PackedBatch[] = [];
  const P = shardPatientCount(shard);
  for (let p = 0; p < P && out.length < maxBatches; ) {
    if (packer.tryAdd(patientTokens(shard, p, T))) p++;
    else out.push(packer.finish());
  }
  if (!packer.empty && out.length < maxBatches) out.push(packer.finish());
  return out;
}

/** How many patients are longer than T (and so truncated), and the longest length. */
export function truncationStats(shard: TokenShard, T: number): { truncated: number; patients: number; maxLength: number } {
  let truncated = 0;
  let maxLength = 0;
  const P = shardPatientCount(shard);
  for (let p = 0; p < P; p++) {
    const n = shard.offsets[p + 1]! - shard.offsets[p]!;
    if (n > T) truncated++;
    if (n > maxLength) maxLength = n;
  }
  return { truncated, patients: P, maxLength };
}

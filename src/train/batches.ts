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
 * tokens, as SynEHRgy did; trainModel reports how many were.
 *
 * Placement: the stream keeps a look-ahead list of the next `lookahead` patients of the (shuffled)
 * epoch order and fills each batch from it (placePending: oldest first, then first-fit decreasing);
 * those that fit nowhere stay in the list for the next batch. Closing a batch at the first patient
 * that did not fit left 22% of the PhysioNet 2012 windows as padding at T = 1024, B = 4; the
 * look-ahead brings that to 5%. The data order is fixed by the epoch permutation, a cursor into it and the look-ahead
 * list, which is all a checkpoint needs to resume it.
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

/**
 * Fill one batch from the look-ahead list: the oldest patient first (it always fits an empty batch,
 * so nobody waits forever), then the rest longest first, each first-fit (first-fit decreasing packs
 * bins far tighter than arrival order). Returns the patients left over, in their original order.
 */
function placePending(packer: BatchPacker, shard: TokenShard, pending: readonly number[]): number[] {
  if (pending.length === 0) return [];
  const T = packer.T;
  const len = (p: number): number => Math.min(T, shard.offsets[p + 1]! - shard.offsets[p]!);
  const placed = new Set<number>();
  if (packer.tryAdd(patientTokens(shard, pending[0]!, T))) placed.add(0);
  // stable: equal lengths keep their age order, so the result depends on the list alone
  const rest = Array.from({ length: pending.length - 1 }, (_, i) => i + 1).sort((a, b) => len(pending[b]!) - len(pending[a]!) || a - b);
  for (const i of rest) if (packer.tryAdd(patientTokens(shard, pending[i]!, T))) placed.add(i);
  return pending.filter((_, i) => !placed.has(i));
}

/** How the training stream stands: enough to regenerate the rest of the data order exactly. */
export interface DataOrderState {
  /** epochs started so far - 1 (0 during the first) */
  epoch: number;
  /** next patient, as an index into the current epoch's permutation */
  cursor: number;
  /** the data RNG's state just before it shuffled the current epoch */
  epochRngState: number[];
  /** patients taken from the order but not placed yet, oldest first (the look-ahead list) */
  pending: number[];
}

/** Patients the stream looks ahead for one that fits: enough for several per window. */
export function lookaheadFor(B: number): number {
  return Math.max(64, 4 * B);
}

/**
 * An endless stream of training batches: each epoch is a fresh permutation of the shard's patients
 * drawn from `rng`; a batch that reaches the end of an epoch continues into the next.
 */
export class TrainBatchStream {
  private readonly shard: TokenShard;
  private readonly packer: BatchPacker;
  private readonly rng: Rng;
  private readonly lookahead: number;
  private order: number[] = [];
  private epoch = -1;
  private cursor = 0;
  private epochRngState: number[] = [];
  private pending: number[] = [];

  private constructor(shard: TokenShard, B: number, T: number, padId: number, rng: Rng) {
    const P = shardPatientCount(shard);
    if (P <= 0) throw new SynehrError('E_INPUT', 'the training shard holds no patients');
    this.shard = shard;
    this.packer = new BatchPacker(B, T, padId);
    this.rng = rng;
    this.lookahead = lookaheadFor(B);
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
    const P = s.order.length;
    if (!Number.isInteger(state.cursor) || state.cursor < 0 || state.cursor > P) {
      throw new SynehrError('E_CHECKPOINT', `data-order cursor ${state.cursor} is outside the training shard's ${P} patients`);
    }
    if (!Array.isArray(state.pending) || state.pending.some((p) => !Number.isInteger(p) || p < 0 || p >= P)) {
      throw new SynehrError('E_CHECKPOINT', `data-order look-ahead list names patients outside the training shard's ${P}`);
    }
    s.cursor = state.cursor;
    s.pending = [...state.pending];
    return s;
  }

  state(): DataOrderState {
    return { epoch: this.epoch, cursor: this.cursor, epochRngState: [...this.epochRngState], pending: [...this.pending] };
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
    while (this.pending.length < this.lookahead) {
      if (this.cursor === this.order.length) this.nextEpoch();
      this.pending.push(this.order[this.cursor++]!);
    }
    this.pending = placePending(this.packer, this.shard, this.pending);
    return this.packer.finish();
  }
}

/**
 * The validation batches: the shard's patients in file order, packed the same way (with the same
 * look-ahead), at most `maxBatches` of them (all of the shard when it runs out first). The same
 * every time, so validation losses are comparable across steps and runs.
 */
export function validationBatches(shard: TokenShard, B: number, T: number, padId: number, maxBatches: number): PackedBatch[] {
  const packer = new BatchPacker(B, T, padId);
  const out: PackedBatch[] = [];
  const P = shardPatientCount(shard);
  const lookahead = lookaheadFor(B);
  let pending: number[] = [];
  let next = 0;
  while (out.length < maxBatches && (next < P || pending.length > 0)) {
    while (pending.length < lookahead && next < P) pending.push(next++);
    pending = placePending(packer, shard, pending);
    out.push(packer.finish());
  }
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

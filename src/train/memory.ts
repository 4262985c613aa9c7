import type { MemoryTable } from '../tokenizer/vocabulary.ts';
import { SynehrError } from '../util/errors.ts';

/**
 * The value memory's input (model.value_memory; MEMORY_INPUT in src/model/gpt.ts).
 *
 * Notation: B = windows, T = tokens per window, J = variables, V = vocab size.
 *
 * Row n of a window holds, per variable, the latest value token its patient has up to and
 * including token n, or −1 for none. A relative-bin step sets its variable's value token to the
 * previous one moved by the step. Each patient starts with no values at its `<s>` (a change of doc
 * id), so packing changes no patient's rows, and padding rows are all −1. The sampler carries the
 * same per-variable state through its loop (src/generate/sampler.ts).
 *
 * With `before`, a second table (MEMORY_BEFORE_INPUT) holds per variable the value token it had
 * before its latest one: the latest one's predecessor, −1 while it has fewer than two values. Only
 * the refitted model reads it (src/train/memoryRefit.ts), so training does not build it.
 */
export class MemoryRows {
  private readonly table: MemoryTable;
  private readonly V: number;
  private readonly J: number;
  /** [B·T, J], rewritten by each fill */
  readonly rows: BigInt64Array;
  /** [B·T, J] each variable's value token before its latest one, rewritten by each fill; null without `before` */
  readonly before: BigInt64Array | null;
  private readonly latest: Int32Array;
  private readonly previous: Int32Array;

  constructor(table: MemoryTable, B: number, T: number, opts: { before?: boolean } = {}) {
    this.table = table;
    this.V = table.owner.length;
    this.J = table.variables;
    this.rows = new BigInt64Array(B * T * this.J);
    this.before = opts.before ? new BigInt64Array(B * T * this.J) : null;
    this.latest = new Int32Array(this.J);
    this.previous = new Int32Array(this.J);
  }

  /** The rows of a packed batch's token ids and doc ids ([B·T] each, row-major [B, T]). */
  fill(ids: ArrayLike<number | bigint>, docIds: ArrayLike<number | bigint>, T: number): BigInt64Array {
    const { owner, sets, step } = this.table;
    const { V, J, latest, previous, before } = this;
    const N = ids.length;
    if (N * J !== this.rows.length || docIds.length !== N) {
      throw new RangeError(`MemoryRows.fill: ${N} token ids and ${docIds.length} doc ids for rows of ${this.rows.length / J} tokens`);
    }
    for (let n = 0; n < N; n++) {
      if (n % T === 0 || docIds[n] !== docIds[n - 1]) {
        latest.fill(-1);
        previous.fill(-1);
      }
      const tok = Number(ids[n]);
      if (tok < 0 || tok >= V) throw new RangeError(`MemoryRows.fill: token ${tok} at row ${n} is outside the vocabulary of ${V}`);
      const j = owner[tok]!;
      if (j >= 0) {
        if (latest[j]! < 0 && sets[tok]! < 0) {
          throw new SynehrError('E_INPUT', `value memory: token ${tok} at row ${n} steps from an earlier value of variable ${j} that its patient does not have`);
        }
        previous[j] = latest[j]!;
        latest[j] = sets[tok]! >= 0 ? sets[tok]! : latest[j]! + step[tok]!;
      }
      for (let k = 0; k < J; k++) this.rows[n * J + k] = BigInt(latest[k]!);
      if (before) for (let k = 0; k < J; k++) before[n * J + k] = BigInt(previous[k]!);
    }
    return this.rows;
  }
}

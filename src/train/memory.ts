import type { MemoryTable } from '../tokenizer/vocabulary.ts';
import { SynehrError } from '../util/errors.ts';

/**
 * The value memory's input rows (model.value_memory; MEMORY_INPUT in src/model/gpt.ts).
 *
 * Notation: B = windows, T = tokens per window, V = vocab size, J = variables.
 *
 * Row n of a window is 0/1 over the vocabulary: 1 at the latest value token of every variable its
 * patient has measured up to and including token n. A relative-bin step sets its variable's value
 * token to the previous one moved by the step. Each patient starts with no values at its `<s>`
 * (a change of doc id), so packing changes no patient's rows, and padding rows are all 0. The
 * sampler carries the same per-variable state through its loop (src/generate/sampler.ts).
 */
export class MemoryRows {
  private readonly table: MemoryTable;
  private readonly V: number;
  /** [B·T, V], rewritten by each fill */
  readonly rows: Float32Array;
  private readonly latest: Int32Array;

  constructor(table: MemoryTable, B: number, T: number) {
    this.table = table;
    this.V = table.owner.length;
    this.rows = new Float32Array(B * T * this.V);
    this.latest = new Int32Array(table.variables);
  }

  /** The rows of a packed batch's token ids and doc ids ([B·T] each, row-major [B, T]). */
  fill(ids: ArrayLike<number | bigint>, docIds: ArrayLike<number | bigint>, T: number): Float32Array {
    const { owner, sets, step } = this.table;
    const V = this.V;
    const latest = this.latest;
    const N = ids.length;
    if (N * V !== this.rows.length || docIds.length !== N) {
      throw new RangeError(`MemoryRows.fill: ${N} token ids and ${docIds.length} doc ids for rows of ${this.rows.length / V} tokens`);
    }
    this.rows.fill(0);
    for (let n = 0; n < N; n++) {
      if (n % T === 0 || docIds[n] !== docIds[n - 1]) latest.fill(-1);
      const tok = Number(ids[n]);
      if (tok < 0 || tok >= V) throw new RangeError(`MemoryRows.fill: token ${tok} at row ${n} is outside the vocabulary of ${V}`);
      const j = owner[tok]!;
      if (j >= 0) {
        const value = sets[tok]! >= 0 ? sets[tok]! : latest[j]! + step[tok]!;
        if (latest[j]! < 0 && sets[tok]! < 0) {
          throw new SynehrError('E_INPUT', `value memory: token ${tok} at row ${n} steps from an earlier value of variable ${j} that its patient does not have`);
        }
        latest[j] = value;
      }
      const at = n * V;
      for (let k = 0; k < latest.length; k++) if (latest[k]! >= 0) this.rows[at + latest[k]!] = 1;
    }
    return this.rows;
  }
}

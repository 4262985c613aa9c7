/**
 * How a patient's series of each variable moves, read from token rows (bench/drift.ts): the
 * statistics that tell whether sampled series wander from a patient's level where real ones come
 * back to it.
 *
 * A variable's series in a row is its bins in order (a value token's offset from its variable's
 * first value token; a relative-bin step moves the latest bin by its step, as MemoryRows does). Per
 * variable, over the rows:
 *  - meanStep: mean |Δ| over consecutive values (Δ = bin − previous bin);
 *  - stepAutocorr: Σ Δ_k·Δ_(k+1) / Σ Δ_k² over the consecutive pairs of steps of a row, pooled
 *    (no centring: the steps' mean is near 0). Negative: a move tends to be undone, as in a series
 *    that returns to its level; 0: a random walk;
 *  - sd: the mean over rows with at least 3 values of their sample sd of bins;
 *  - drift: the mean over rows with at least 2 values of |last bin − first bin|;
 *  - rows: how many rows have at least 2 values.
 * A statistic with nothing to average over is null.
 */
import type { MemoryTable } from '../src/tokenizer/vocabulary.ts';

export interface VariableDrift {
  rows: number;
  meanStep: number | null;
  stepAutocorr: number | null;
  sd: number | null;
  drift: number | null;
}

/** Each variable's drift statistics (see above) over token rows. */
export function seriesDrift(rows: Iterable<ArrayLike<number>>, table: MemoryTable): VariableDrift[] {
  const J = table.variables;
  const V = table.owner.length;
  const acc = Array.from({ length: J }, () => ({ rows: 0, steps: 0, absStep: 0, sxy: 0, sxx: 0, sdRows: 0, sd: 0, drift: 0 }));
  let r = 0;
  for (const row of rows) {
    const series: number[][] = Array.from({ length: J }, () => []);
    for (let i = 0; i < row.length; i++) {
      const t = row[i]!;
      if (t < 0 || t >= V) throw new RangeError(`seriesDrift: token ${t} of row ${r} is outside the vocabulary of ${V}`);
      const j = table.owner[t]!;
      if (j < 0) continue;
      const s = series[j]!;
      if (table.sets[t]! >= 0) {
        const v = table.sets[t]!;
        s.push(v - table.first[v]!);
      } else {
        if (s.length === 0) throw new RangeError(`seriesDrift: token ${t} of row ${r} steps from an earlier value of variable ${j} that the row does not have`);
        s.push(s[s.length - 1]! + table.step[t]!);
      }
    }
    series.forEach((s, j) => {
      const a = acc[j]!;
      if (s.length < 2) return;
      a.rows++;
      a.drift += Math.abs(s[s.length - 1]! - s[0]!);
      for (let k = 1; k < s.length; k++) {
        const d = s[k]! - s[k - 1]!;
        a.steps++;
        a.absStep += Math.abs(d);
        if (k + 1 < s.length) {
          a.sxx += d * d;
          a.sxy += d * (s[k + 1]! - s[k]!);
        }
      }
      if (s.length >= 3) {
        const m = s.reduce((x, y) => x + y, 0) / s.length;
        a.sd += Math.sqrt(s.reduce((x, y) => x + (y - m) ** 2, 0) / (s.length - 1));
        a.sdRows++;
      }
    });
    r++;
  }
  return acc.map((a) => ({
    rows: a.rows,
    meanStep: a.steps > 0 ? a.absStep / a.steps : null,
    stepAutocorr: a.sxx > 0 ? a.sxy / a.sxx : null,
    sd: a.sdRows > 0 ? a.sd / a.sdRows : null,
    drift: a.rows > 0 ? a.drift / a.rows : null,
  }));
}

/** Time in records: event hours are hours since the admission's start. */

/**
 * The gap in hours between two event times, rounded to 1e-9 h (3.6 µs): times are sums and
 * differences of floats (minutes / 60), so the same minute count comes out a few ulps apart, and
 * an edge fitted at 0.25 would otherwise put some 0.25 h gaps below it. Fitting, encoding and
 * decoding, and the evaluation of time gaps, all measure gaps with this; a positive gap never
 * rounds to 0.
 */
export function gapHours(from: number, to: number): number {
  const d = to - from;
  const r = Math.round(d * 1e9) / 1e9;
  // a later time step is strictly later: a gap below the rounding stays as it is, not 0
  return r === 0 && d > 0 ? d : r;
}

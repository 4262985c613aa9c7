/**
 * The tokenization report (tokens/report.json): vocabulary by class, sequence lengths per split, and
 * how much of each split a context of n_ctx tokens holds whole. "Tokens that fit" counts, over all
 * patients, min(length, n_ctx): the tokens a model with that context would see if each patient were
 * cut at n_ctx.
 */
import type { EncodeStats } from './tokenizer.ts';

export const REPORT_N_CTX = [256, 512, 1024, 2048] as const;

export interface LengthSummary {
  patients: number;
  tokens: number;
  mean: number;
  p50: number;
  p95: number;
  max: number;
  /** per n_ctx: share of patients whose whole sequence fits */
  patients_fit: Record<string, number>;
  /** per n_ctx: share of tokens inside the first n_ctx of their patient */
  tokens_fit: Record<string, number>;
}

export interface TokenizeReport {
  data: string;
  vocab_size: number;
  vocab_by_class: Record<string, number>;
  splits: Record<string, LengthSummary & { stats: EncodeStats }>;
  seconds: number;
}

/** Nearest-rank percentile of ascending values. */
function percentile(sorted: Uint32Array, p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i]!;
}

/** Summary of per-patient lengths (the differences of a shard's offsets). */
export function summarizeLengths(offsets: Uint32Array): LengthSummary {
  const P = offsets.length - 1;
  const lens = new Uint32Array(P);
  for (let p = 0; p < P; p++) lens[p] = offsets[p + 1]! - offsets[p]!;
  const total = P > 0 ? offsets[P]! - offsets[0]! : 0;
  const sorted = lens.slice().sort();
  const patients_fit: Record<string, number> = {};
  const tokens_fit: Record<string, number> = {};
  for (const n of REPORT_N_CTX) {
    let pf = 0;
    let tf = 0;
    for (let p = 0; p < P; p++) {
      if (lens[p]! <= n) pf++;
      tf += Math.min(lens[p]!, n);
    }
    patients_fit[n] = P > 0 ? pf / P : 0;
    tokens_fit[n] = total > 0 ? tf / total : 0;
  }
  return {
    patients: P,
    tokens: total,
    mean: P > 0 ? total / P : 0,
    p50: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
    max: P > 0 ? sorted[P - 1]! : 0,
    patients_fit,
    tokens_fit,
  };
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

/** The report as a few aligned lines for the terminal. */
export function formatReport(r: TokenizeReport): string {
  const lines: string[] = [];
  lines.push(`tokenizer for '${r.data}': ${r.vocab_size} tokens (${Object.entries(r.vocab_by_class).map(([k, v]) => `${k} ${v}`).join(', ')})`);
  lines.push(`split   patients     tokens    mean   p50   p95    max   fit@${REPORT_N_CTX.join('/')} (patients | tokens)`);
  for (const [name, s] of Object.entries(r.splits)) {
    const pf = REPORT_N_CTX.map((n) => pct(s.patients_fit[n]!)).join(' ');
    const tf = REPORT_N_CTX.map((n) => pct(s.tokens_fit[n]!)).join(' ');
    lines.push(
      `${name.padEnd(6)} ${String(s.patients).padStart(9)} ${String(s.tokens).padStart(10)} ${s.mean.toFixed(1).padStart(7)} ${String(s.p50).padStart(5)} ${String(s.p95).padStart(5)} ${String(s.max).padStart(6)}   ${pf} | ${tf}`,
    );
    const st = s.stats;
    if (st.dropped_codes || st.dropped_values || st.collapsed_repeats) {
      lines.push(`       dropped codes ${st.dropped_codes}, dropped values ${st.dropped_values}, repeats collapsed ${st.collapsed_repeats}`);
    }
  }
  lines.push(`tokenized in ${r.seconds.toFixed(2)} s`);
  return lines.join('\n');
}

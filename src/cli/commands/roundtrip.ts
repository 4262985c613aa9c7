/**
 * `synehr roundtrip data=X [split=val|test]`: what decoding loses before any model runs. Fits the
 * tokenizer of the config on X's training split (as `synehr tokenize` does, in memory), encodes and
 * decodes the real patients of one split, and evaluates the decoded records against the training
 * split exactly as `synehr evaluate` treats synthetic ones (ceiling: the same patients undecoded).
 * Writes data/processed/<X>/roundtrip/metrics.json (evaluate's rows, same keys, plus the per-field
 * table under `roundtrip`) and report.html, and prints both tables.
 *
 * The default split is val: tokenizer settings are chosen on it, and the test split is kept for
 * reporting what was chosen.
 */
import { existsSync } from 'node:fs';
import type { CommandContext } from '../context.ts';
import { readRecords } from '../../records/tables.ts';
import { readSplit } from '../../records/split.ts';
import { dataPaths } from '../../config/runPaths.ts';
import { fitTokenizer } from '../../tokenizer/fit.ts';
import { formatRoundTripTable, renderRoundTripTable, roundTrip, roundTripTable } from '../../tokenizer/roundtrip.ts';
import { evaluateSynthetic } from '../../evaluate/evaluate.ts';
import { formatSummaryTable, writeReportFiles } from '../../evaluate/report.ts';
import { Rng } from '../../util/rng.ts';
import { SynehrError } from '../../util/errors.ts';

export async function run(ctx: CommandContext): Promise<void> {
  const { data, tokenizer, eval: evalCfg } = ctx.config;
  const split = evalCfg.roundtrip_split;
  const paths = dataPaths(data, ctx.workDir);
  const processed = paths.processed;
  if (!existsSync(paths.split)) {
    throw new SynehrError('E_MISSING', `${processed}: no processed data (split.json missing); run \`synehr prepare data=${data.name}\` first`);
  }
  const t0 = performance.now();
  const ids = await readSplit(processed);
  const all = await readRecords(processed, { data, ids: new Set([...ids.train, ...ids[split as 'val' | 'test']]) });
  const inSplit = (names: string[]) => {
    const want = new Set(names);
    return all.filter((r) => want.has(r.id));
  };
  const train = inSplit(ids.train);
  const real = inSplit(ids[split as 'val' | 'test']);
  if (real.length === 0) throw new SynehrError('E_MISSING', `${processed}: the ${split} split holds no patients`);
  const tok = fitTokenizer(train, data, tokenizer);
  const rt = roundTrip(tok, real, evalCfg.seed);
  const table = roundTripTable(real, rt.decoded, data, new Set(tok.codes.values));
  const lengths = real.map((p) => tok.encodePatient(p, { unknown: 'drop' }).length).sort((a, b) => a - b);
  ctx.log(
    `roundtrip: ${real.length} ${split} patients encoded and decoded by a tokenizer of ${tok.vocabSize} tokens fitted on ${train.length} train (median ${lengths[lengths.length >> 1]} tokens a patient) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  const result = evaluateSynthetic({ train, test: real, synthetic: rt.decoded, data, cfg: evalCfg, rng: new Rng(evalCfg.seed), log: ctx.log });
  const out = paths.roundtrip;
  const caption = `The ${real.length} patients of the ${split} split, decoded from their own tokens, against the same patients as recorded. KS: two-sample KS statistic of the pooled values; within-patient sd ratio: the mean over patients with 2+ values of their sd, decoded / original.`;
  const written = await writeReportFiles(
    out,
    result,
    { roundtrip: { split, patients: real.length, vocab_size: tok.vocabSize, median_tokens: lengths[lengths.length >> 1] ?? 0, encode_stats: rt.stats, ...table } },
    {
      title: `synehr round trip: ${data.name}, ${split} split`,
      preface: `<p class="note"><b>synthetic</b> here is the real ${split} split decoded from its own tokens (no model); <b>ceiling</b> is the same patients undecoded. A generator can do no better than the synthetic column.</p>${renderRoundTripTable(table, caption)}`,
    },
  );
  ctx.log(formatSummaryTable(result));
  ctx.log(formatRoundTripTable(table));
  ctx.log(`roundtrip: metrics in ${written.metrics}; report in ${written.report}`);
}

/**
 * `synehr tokenize data=X`: fit the tokenizer on X's training split and encode every split.
 * Reads data/processed/<X>/ (written by `synehr prepare`), writes tokenizer/<X>/tokenizer.json and
 * data/processed/<X>/tokens/{train,val,test}.bin + report.json, and prints the report.
 */
import type { CommandContext } from '../context.ts';
import { readRecords } from '../../records/tables.ts';
import { readSplit } from '../../records/split.ts';
import { tokenizeDataset, SPLIT_NAMES, type SplitName } from '../../tokenizer/dataset.ts';
import { formatReport } from '../../tokenizer/report.ts';
import { formatRoundTripTable, roundTrip, roundTripTable } from '../../tokenizer/roundtrip.ts';
import type { PatientRecord } from '../../records/types.ts';
import { SynehrError } from '../../util/errors.ts';
import type { DataConfig } from '../../records/dataConfig.ts';
import { readPreparedDataConfig } from '../../records/recordsDir.ts';
import { dataConfigHash } from '../../records/dataConfigHash.ts';
import { dataPaths } from '../../config/runPaths.ts';

/**
 * `synehr prepare` saves the data config it used as data.json: tables prepared under other
 * covariates, variables, labels, code systems or split would be tokenized wrongly, so refuse them.
 */
function checkPreparedConfig(processed: string, data: DataConfig): void {
  const prepared = readPreparedDataConfig(processed);
  if (!prepared) return;
  if (dataConfigHash(prepared) !== dataConfigHash(data)) {
    const differ = (['covariates', 'labels', 'variables', 'code_systems', 'window_hours', 'split'] as const).filter(
      (k) => JSON.stringify(prepared[k]) !== JSON.stringify(data[k]),
    );
    throw new SynehrError(
      'E_MISMATCH',
      `${processed} was prepared with another data config than data=${data.name} (it differs in ${differ.join(', ') || 'key order'}); rerun \`synehr prepare data=${data.name}\``,
    );
  }
}

export async function run(ctx: CommandContext): Promise<void> {
  const { data, tokenizer } = ctx.config;
  const paths = dataPaths(data, ctx.workDir);
  const processed = paths.processed;
  ctx.log(`tokenize: reading ${processed}`);
  checkPreparedConfig(processed, data);
  const split = await readSplit(processed);
  const records = await readRecords(processed, { data });
  const byId = new Map(records.map((p) => [p.id, p]));
  const splits = {} as Record<SplitName, PatientRecord[]>;
  for (const name of SPLIT_NAMES) {
    splits[name] = split[name].map((id) => {
      const p = byId.get(id);
      if (!p) throw new SynehrError('E_INPUT', `${paths.split}: ${name} patient '${id}' is not in the tables of ${processed}`);
      return p;
    });
  }
  const tokenizerPath = paths.tokenizer;
  const tokensDir = paths.tokensDir;
  const { report, tokenizer: tok } = tokenizeDataset({ data, tokenizer, splits, tokenizerPath, tokensDir });
  ctx.log(formatReport(report));
  // what this tokenizer's decoding loses, on the validation split (`synehr roundtrip` evaluates it in full)
  if (splits.val.length > 0) {
    const table = roundTripTable(splits.val, roundTrip(tok, splits.val, 1).decoded, data, new Set(tok.codes.values));
    ctx.log(`round trip of the ${splits.val.length} val patients (encoded, decoded, compared with themselves):`);
    ctx.log(formatRoundTripTable(table, true));
  }
  ctx.log(`wrote ${tokenizerPath} and ${tokensDir}/{${SPLIT_NAMES.join(',')}}.bin, report.json`);
}

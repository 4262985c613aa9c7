/**
 * The keys of the four record tables, checked before anything reads them as records or a database
 * is touched: unique patient and admission ids and (admission_id, seq) of codes, and every foreign
 * key resolving. A bad folder is refused with the rows that break it (at most three shown) rather
 * than with a server's constraint name or duplicated patients silently merged.
 */
import { SynehrError } from '../util/errors.ts';
import type { RecordTable, RecordTables } from './parquet.ts';

/** Beyond this many violations the message says "and N more". */
const MAX_REPORTED = 3;

function describeViolations(kind: string, found: string[]): string {
  const shown = found.slice(0, MAX_REPORTED).join('; ');
  return found.length > MAX_REPORTED ? `${kind}: ${shown}; and ${found.length - MAX_REPORTED} more` : `${kind}: ${shown}`;
}

/** Keys seen in a table's batches: duplicates and nulls reported, the set returned for the children. */
async function checkUnique(table: RecordTable, keys: string[], problems: string[]): Promise<Set<string>> {
  const seen = new Set<string>();
  const found: string[] = [];
  for await (const { start, columns } of table.batches({ columns: keys })) {
    const n = columns[0]!.values.length;
    for (let r = 0; r < n; r++) {
      const parts = columns.map((c) => c.values[r]);
      if (parts.some((p) => p === null)) {
        found.push(`row ${start + r}: ${keys.join(', ')} is null`);
        continue;
      }
      const key = parts.length === 1 ? String(parts[0]) : parts.map(String).join('\u0000');
      if (seen.has(key)) found.push(`row ${start + r}: ${keys.join(', ')} = ${parts.map((p) => JSON.stringify(p)).join(', ')} appears twice`);
      seen.add(key);
    }
  }
  if (found.length > 0) problems.push(describeViolations(`${table.file}: primary key (${keys.join(', ')}) violated in ${found.length} rows`, found));
  return seen;
}

async function checkForeignKey(child: RecordTable, col: string, parent: RecordTable, parentKeys: Set<string>, problems: string[], alsoNotNull?: string): Promise<void> {
  const found: string[] = [];
  const nulls: string[] = [];
  const wanted = alsoNotNull ? [col, alsoNotNull] : [col];
  for await (const { start, columns } of child.batches({ columns: wanted })) {
    const values = columns[0]!.values;
    for (let r = 0; r < values.length; r++) {
      const v = values[r]!;
      if (v === null || !parentKeys.has(String(v))) found.push(`row ${start + r}: ${col} = ${JSON.stringify(v)}`);
      if (alsoNotNull && columns[1]!.values[r] === null) nulls.push(`row ${start + r}`);
    }
  }
  if (found.length > 0) {
    problems.push(describeViolations(`${child.file}: foreign key ${child.name}.${col} -> ${parent.name}.${col} fails in ${found.length} rows (not in ${parent.file})`, found));
  }
  if (nulls.length > 0) problems.push(describeViolations(`${child.file}: ${alsoNotNull} is null in ${nulls.length} rows`, nulls));
}

/**
 * The keys the database will enforce, checked before any connection is opened so that a bad
 * directory is refused with the rows that break it rather than with a server's constraint name.
 * Streams every table; holds only the patient and admission ids.
 */
export async function checkIntegrity(tables: RecordTables): Promise<void> {
  const problems: string[] = [];
  const patientIds = await checkUnique(tables.patients, ['patient_id'], problems);
  const admissionIds = await checkUnique(tables.admissions, ['admission_id'], problems);
  await checkUnique(tables.codes, ['admission_id', 'seq'], problems);
  await checkForeignKey(tables.admissions, 'patient_id', tables.patients, patientIds, problems);
  await checkForeignKey(tables.codes, 'admission_id', tables.admissions, admissionIds, problems);
  await checkForeignKey(tables.events, 'admission_id', tables.admissions, admissionIds, problems, 'hours');
  if (problems.length > 0) throw new SynehrError('E_INTEGRITY', `refused: the tables fail the key check: ${problems.join(' | ')}`);
}

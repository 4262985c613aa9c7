import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';
import { SynehrError } from '../util/errors.ts';

/**
 * OMOP concept ids for the OMOP export. Two sources:
 * - the map that ships with the data configs, configs/omop/source_to_concept_map.csv (OMOP's
 *   SOURCE_TO_CONCEPT_MAP layout; every id cited in configs/omop/README.md): LOINC codes and UCUM
 *   units to standard concepts;
 * - an Athena vocabulary download (`vocab=DIR`): CONCEPT.csv and CONCEPT_RELATIONSHIP.csv, tab-separated
 *   with a header, as Athena writes them. A source code (ICD-9-CM 401.9, LOINC 8867-4, UCUM mm[Hg]) is
 *   looked up by vocabulary and code, then followed along "Maps to" to its standard concept, as an
 *   OMOP ETL does.
 * 0 ("No matching concept") wherever neither knows a code.
 */
export interface ConceptLookup {
  /** the concept of a code and the standard concept it maps to; 0s when unknown */
  map(vocabulary: string, code: string): { source: number; standard: number };
  /** the concept of this CDM version (vocabulary CDM), 0 without a vocabulary */
  cdmVersion: number;
  /** what the ids came from, for cdm_source.vocabulary_version */
  version: string;
}

const SHIPPED = fileURLToPath(new URL('../../configs/omop/source_to_concept_map.csv', import.meta.url));

export function shippedConcepts(file: string = SHIPPED): ConceptLookup {
  const rows = parse(readFileSync(file, 'utf8'), { columns: true }) as Record<string, string>[];
  const byCode = new Map<string, number>();
  rows.forEach((r, i) => {
    const id = Number(r['target_concept_id']);
    if (!Number.isInteger(id)) throw new SynehrError('E_INPUT', `${file}:${i + 2}: target_concept_id ${JSON.stringify(r['target_concept_id'])} is not an integer`);
    byCode.set(`${r['source_vocabulary_id']}|${r['source_code']}`, id);
  });
  return {
    map(vocabulary, code) {
      const id = byCode.get(`${vocabulary}|${code}`) ?? 0;
      return { source: id, standard: id };
    },
    cdmVersion: 0,
    version: 'synehr source_to_concept_map (no vocabulary)',
  };
}

/** The vocabularies the export looks codes up in. */
const VOCABULARIES = new Set(['LOINC', 'UCUM', 'ICD9CM', 'ICD9Proc', 'ICD10CM', 'ICD10', 'ICD10PCS', 'CDM', 'None']);

async function* tsvRows(file: string): AsyncGenerator<{ line: number; row: Record<string, string> }> {
  if (!existsSync(file)) throw new SynehrError('E_INPUT', `${file}: no such file; vocab= needs a folder of an Athena download (CONCEPT.csv, CONCEPT_RELATIONSHIP.csv)`);
  let header: string[] | null = null;
  let line = 0;
  for await (const text of createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity })) {
    line++;
    if (text === '') continue;
    const fields = text.split('\t');
    if (!header) {
      header = fields.map((f) => f.trim().toLowerCase());
      continue;
    }
    if (fields.length !== header.length) throw new SynehrError('E_INPUT', `${file}:${line}: ${fields.length} tab-separated fields, the header has ${header.length} (Athena's files are tab-separated)`);
    yield { line, row: Object.fromEntries(header.map((h, i) => [h, fields[i]!])) };
  }
  if (!header) throw new SynehrError('E_INPUT', `${file}: empty, expected Athena's header line`);
}

export async function athenaConcepts(dir: string): Promise<ConceptLookup> {
  const conceptFile = join(dir, 'CONCEPT.csv');
  const byCode = new Map<string, number>();
  const standard = new Set<number>();
  let cdmVersion = 0;
  let loincVersion = '';
  for await (const { line, row } of tsvRows(conceptFile)) {
    for (const k of ['concept_id', 'vocabulary_id', 'concept_code', 'standard_concept']) {
      if (!(k in row)) throw new SynehrError('E_INPUT', `${conceptFile}:${line}: no column ${k}; expected Athena's CONCEPT.csv`);
    }
    if (!VOCABULARIES.has(row['vocabulary_id']!) || (row['invalid_reason'] ?? '') !== '') continue;
    const id = Number(row['concept_id']);
    byCode.set(`${row['vocabulary_id']}|${row['concept_code']}`, id);
    if (row['standard_concept'] === 'S') standard.add(id);
    if (row['vocabulary_id'] === 'CDM' && /^CDM v5\.4/.test(row['concept_code']!)) cdmVersion = id;
  }
  const wanted = new Set(byCode.values());
  const mapsTo = new Map<number, number>();
  for await (const { row } of tsvRows(join(dir, 'CONCEPT_RELATIONSHIP.csv'))) {
    if (row['relationship_id'] !== 'Maps to' || (row['invalid_reason'] ?? '') !== '') continue;
    const a = Number(row['concept_id_1']);
    // one standard target per source; the first valid "Maps to" wins, as Athena lists them
    if (wanted.has(a) && !mapsTo.has(a)) mapsTo.set(a, Number(row['concept_id_2']));
  }
  const vocabFile = join(dir, 'VOCABULARY.csv');
  if (existsSync(vocabFile)) for await (const { row } of tsvRows(vocabFile)) if (row['vocabulary_id'] === 'None') loincVersion = row['vocabulary_version'] ?? '';
  return {
    map(vocabulary, code) {
      const source = byCode.get(`${vocabulary}|${code}`) ?? 0;
      const target = mapsTo.get(source) ?? (standard.has(source) ? source : 0);
      return { source, standard: target };
    },
    cdmVersion,
    version: (loincVersion || 'Athena download').slice(0, 20),
  };
}

import type { PatientRecord } from '../records/types.ts';
import type { VariableSpecLite } from './variableCodes.ts';

/** What every export (MIMIC-III-, OMOP- and FHIR-shaped) takes and reports. */
export interface ExportOptions {
  /** the folder the files are written into; created if missing */
  outDir: string;
  /** the data config's variables (unit, ucum, loinc) by name: see variableCodes.ts */
  specs?: ReadonlyMap<string, VariableSpecLite>;
  /** unit per variable, for callers without a data config (ignored when specs are given) */
  units?: ReadonlyMap<string, string>;
  log?: (message: string) => void;
  /** every variable the records have, when they are streamed (the MIMIC export resolves ITEMIDs first) */
  variables?: Iterable<string>;
  /** OMOP only: a folder of an Athena vocabulary download (CONCEPT.csv, CONCEPT_RELATIONSHIP.csv) */
  vocabDir?: string;
}

/** What the exports read: an array, or records streamed one patient at a time. */
export type RecordSource = Iterable<PatientRecord> | AsyncIterable<PatientRecord>;

export interface ExportReport {
  format: 'mimic3' | 'omop' | 'fhir';
  outDir: string;
  /** file name -> data rows (lines of NDJSON for FHIR) */
  files: Record<string, number>;
  /** what the shape could not hold, e.g. codes of a system it has no table for */
  notes: string[];
}

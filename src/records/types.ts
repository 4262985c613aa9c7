/**
 * The canonical patient record (DESIGN.md, "The canonical record"). Every loader produces these,
 * the tokenizer encodes them, the detokenizer rebuilds them, and the evaluation compares them.
 */
export interface PatientRecord {
  id: string;
  /** Static covariates such as age and gender; null means missing. */
  covariates: Record<string, number | string | null>;
  /** Outcome labels, e.g. in_hospital_death (0/1). */
  labels: Record<string, number>;
  /** One or more admissions in chronological order. */
  admissions: Admission[];
}

export interface Admission {
  id: string;
  /** Diagnoses in recorded order, then procedures, each prefixed by its system, e.g. "ICD9:4019". */
  codes: string[];
  /** Sorted by hours (ascending); ties keep variable order of the data config. */
  events: Measurement[];
}

export interface Measurement {
  /** Hours since the start of the admission, >= 0. */
  hours: number;
  variable: string;
  /** A number for continuous variables, a string for categorical ones. */
  value: number | string;
}

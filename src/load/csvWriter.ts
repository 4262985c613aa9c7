/** The exports write their CSV files with the records' one CSV writer (src/records/csv.ts). */
export { CsvWriter, csvField } from '../records/csv.ts';

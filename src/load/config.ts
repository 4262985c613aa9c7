import { z } from 'zod';

/**
 * The `load` config group: what `synehr load` (into PostgreSQL, PGlite or S3) and `synehr
 * export-data` (MIMIC-III-, OMOP- or FHIR-shaped files) read and where they put it. On the command
 * line the short words `synthetic=`, `url=`, `format=`, ... set these keys (src/cli/commandTable.ts).
 */
export const loadConfigSchema = z
  .object({
    // the folder of the four tables to read: a finished generation (with manifest.json) or a
    // folder written by `synehr prepare` (with data.json); null = the synthetic folder of model=<run>
    synthetic: z.string().nullable().default(null),
    // load: postgres (PostgreSQL, or PGlite in <synthetic>/pglite when url is null) or s3
    target: z.enum(['postgres', 's3']).default('postgres'),
    // load: postgres://user@host:port/database, or s3://bucket/prefix for target=s3; null = PGlite
    url: z.string().nullable().default(null),
    // load: replace drops and reloads the four tables in one transaction; append adds rows
    mode: z.enum(['replace', 'append']).default('replace'),
    // load: the PostgreSQL schema of the tables, our own so replace never drops a user's public.patients
    schema: z.string().min(1).default('synehr'),
    // load, target=s3: the S3 API endpoint of a non-AWS store (e.g. http://127.0.0.1:9000); null = AWS
    endpoint: z.string().nullable().default(null),
    // load, target=s3: null = AWS_REGION, else us-east-1
    region: z.string().nullable().default(null),
    // export-data: the shape to write; required there
    format: z.enum(['mimic3', 'omop', 'fhir']).nullable().default(null),
    // export-data: where the files go; null = <synthetic>/export/<format>
    out: z.string().nullable().default(null),
    // export-data, format=omop: an Athena vocabulary download (CONCEPT.csv, CONCEPT_RELATIONSHIP.csv)
    // to map codes to standard concepts; null = the source-to-concept map shipped in configs/omop
    vocab: z.string().nullable().default(null),
  })
  .strict();

export type LoadConfig = z.infer<typeof loadConfigSchema>;

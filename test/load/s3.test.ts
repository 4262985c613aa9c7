import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import S3rver from 's3rver';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { parseS3Url, s3Client, uploadSyntheticDir } from '../../src/load/s3.ts';
import { fixturePatients, writeSyntheticDir } from './fixtures.ts';
import { tempDir } from './helpers.ts';

/**
 * The S3 target against s3rver, a local S3-compatible server from npm, on loopback: what is uploaded
 * is read back through the S3 API and compared byte for byte.
 */
const BUCKET = 'synehr-test';
const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
let tmp: Awaited<ReturnType<typeof tempDir>>;
let server: S3rver;
let endpoint: string;

beforeAll(async () => {
  tmp = await tempDir('s3');
  await mkdir(join(tmp.dir, 'store'));
  server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: join(tmp.dir, 'store'), configureBuckets: [{ name: BUCKET }] });
  const { port } = await server.run();
  endpoint = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  await server?.close();
  await tmp?.cleanup();
});

async function listKeys(prefix: string): Promise<string[]> {
  const client = s3Client({ endpoint, credentials });
  try {
    const out = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
    return (out.Contents ?? []).map((o) => o.Key!).sort();
  } finally {
    client.destroy();
  }
}

describe('S3 target', () => {
  it('parses s3:// URLs', () => {
    expect(parseS3Url('s3://bucket/a/b/')).toEqual({ bucket: 'bucket', prefix: 'a/b' });
    expect(parseS3Url('s3://bucket')).toEqual({ bucket: 'bucket', prefix: '' });
    expect(() => parseS3Url('https://bucket/x')).toThrow(/not an S3 URL; expected s3:\/\/<bucket>\/<prefix>/);
  });

  it('round trip: tables, exports and manifest uploaded; read back byte for byte, manifest last', async () => {
    const dir = await writeSyntheticDir(join(tmp.dir, 'syn'), fixturePatients());
    await mkdir(join(dir, 'export', 'fhir'), { recursive: true });
    await writeFile(join(dir, 'export', 'fhir', 'bundles.ndjson'), '{"resourceType":"Bundle"}\n');
    const report = await uploadSyntheticDir({ dir, url: `s3://${BUCKET}/runs/r1`, endpoint, credentials });
    expect(report.keys).toEqual([
      'runs/r1/patients.parquet', 'runs/r1/admissions.parquet', 'runs/r1/codes.parquet', 'runs/r1/events.parquet',
      'runs/r1/export/fhir/bundles.ndjson', 'runs/r1/manifest.json',
    ]);
    expect(await listKeys('runs/r1/')).toEqual([...report.keys].sort());
    const client = s3Client({ endpoint, credentials });
    try {
      for (const name of ['events.parquet', 'manifest.json']) {
        const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `runs/r1/${name}` }));
        const bytes = Buffer.from(await got.Body!.transformToByteArray());
        expect(bytes.equals(await readFile(join(dir, name))), name).toBe(true);
      }
    } finally {
      client.destroy();
    }
  });

  it('EXPECTED FAILURE - a broken directory is refused before anything is uploaded', async () => {
    const dir = await writeSyntheticDir(join(tmp.dir, 'broken'), fixturePatients());
    await writeFile(join(dir, 'manifest.json'), '{');
    await expect(uploadSyntheticDir({ dir, url: `s3://${BUCKET}/runs/broken`, endpoint, credentials })).rejects.toMatchObject({ code: 'E_MANIFEST' });
    expect(await listKeys('runs/broken/')).toEqual([]);
  });

  it('EXPECTED FAILURE - a bucket that does not exist is named in the error', async () => {
    const dir = join(tmp.dir, 'syn');
    await expect(uploadSyntheticDir({ dir, url: 's3://no-such-bucket/x', endpoint, credentials })).rejects.toMatchObject({
      code: 'E_S3',
      message: expect.stringMatching(/^s3:\/\/no-such-bucket: bucket not reachable at http:\/\/127\.0\.0\.1:\d+/),
    });
  });
});

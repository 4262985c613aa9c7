import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { S3Client, PutObjectCommand, HeadBucketCommand, type S3ClientConfig } from '@aws-sdk/client-s3';
import { SynehrError } from '../util/errors.ts';
import { openRecordsDir } from '../records/recordsDir.ts';
import { TABLE_NAMES } from '../records/schema.ts';

/**
 * Copies a synthetic directory to an S3-compatible object store through the S3 API: the four
 * Parquet tables, then any export/ files, then manifest.json last, so that a reader who finds the
 * manifest finds complete tables beside it. The directory is checked first (as `load` does).
 * Credentials come from the AWS SDK's usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
 * ~/.aws, ...); a non-AWS store is reached with endpoint= and path-style addressing.
 */

export interface S3Target {
  bucket: string;
  /** key prefix without a trailing slash; "" = the bucket's root */
  prefix: string;
}

/** s3://bucket/some/prefix -> { bucket, prefix: "some/prefix" } */
export function parseS3Url(url: string): S3Target {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m) throw new SynehrError('E_USAGE', `url=${url} is not an S3 URL; expected s3://<bucket>/<prefix>`);
  return { bucket: m[1]!, prefix: m[2]!.replace(/\/+$/, '') };
}

export interface UploadOptions {
  dir: string;
  url: string;
  /** e.g. http://127.0.0.1:9000 for MinIO or another local store; undefined = AWS */
  endpoint?: string;
  region?: string;
  /** explicit credentials (tests); default: the SDK's chain */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  log?: (message: string) => void;
}

export interface UploadReport {
  bucket: string;
  keys: string[];
  bytes: number;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

export function s3Client(opts: Pick<UploadOptions, 'endpoint' | 'region' | 'credentials'>): S3Client {
  const config: S3ClientConfig = {
    region: opts.region ?? process.env['AWS_REGION'] ?? 'us-east-1',
    // checksums only where the API requires them: S3-compatible stores other than AWS often lack the newer ones
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
  if (opts.endpoint) {
    config.endpoint = opts.endpoint;
    config.forcePathStyle = true;
  }
  if (opts.credentials) config.credentials = opts.credentials;
  return new S3Client(config);
}

export async function uploadSyntheticDir(opts: UploadOptions): Promise<UploadReport> {
  const target = parseS3Url(opts.url);
  await openRecordsDir(opts.dir);
  const client = s3Client(opts);
  try {
    try {
      await client.send(new HeadBucketCommand({ Bucket: target.bucket }));
    } catch (e) {
      throw new SynehrError('E_S3', `s3://${target.bucket}: bucket not reachable${opts.endpoint ? ` at ${opts.endpoint}` : ''}: ${(e as Error).name} ${(e as Error).message}`, { cause: e });
    }
    const tables = TABLE_NAMES.map((t) => join(opts.dir, `${t}.parquet`));
    const exportDir = join(opts.dir, 'export');
    const exports = await stat(exportDir).then((s) => (s.isDirectory() ? filesUnder(exportDir) : []), () => []);
    const manifest = join(opts.dir, 'manifest.json');
    const hasManifest = await stat(manifest).then(() => true, () => false);
    const files = [...tables, ...exports.sort(), ...(hasManifest ? [manifest] : [])];
    const keys: string[] = [];
    let bytes = 0;
    for (const file of files) {
      const rel = relative(opts.dir, file).split('\\').join('/');
      const key = target.prefix ? `${target.prefix}/${rel}` : rel;
      const body = await readFile(file);
      try {
        await client.send(new PutObjectCommand({ Bucket: target.bucket, Key: key, Body: body }));
      } catch (e) {
        throw new SynehrError('E_S3', `s3://${target.bucket}/${key}: upload failed: ${(e as Error).name} ${(e as Error).message}`, { cause: e });
      }
      keys.push(key);
      bytes += body.length;
      opts.log?.(`uploaded s3://${target.bucket}/${key} (${body.length} bytes)`);
    }
    return { bucket: target.bucket, keys, bytes };
  } finally {
    client.destroy();
  }
}

/**
 * What the dashboard knows about runs, read from disk on each request (runs change while it runs):
 * saved_models/<run>/{config.yaml, overrides.yaml, metrics.jsonl, eval/} and
 * data/synthetic/<run>/{manifest.json, tables...}. Every path goes through resolveServedPath.
 *
 * @internal
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseMetricsJsonl, type MetricsRow } from '../metricsJsonl.ts';
import { METRICS_FILE } from '../tracker.ts';
import { PathRefused, resolveServedPath, type ServedRoot } from './safePath.ts';

/** A run whose metrics.jsonl changed this recently counts as training now. */
const LIVE_WINDOW_MS = 60_000;
/** Most files listed per folder, so a data set of many shards cannot flood the page. */
const MAX_LISTED_FILES = 200;
/** Most bytes of metrics.jsonl returned by one request; the client asks again from `next`. */
const MAX_METRICS_CHUNK = 8 << 20;

export interface RunSummary {
  name: string;
  /** last change of metrics.jsonl (or of the run folder), ms since the epoch */
  updated: number;
  /** metrics.jsonl changed in the last minute */
  live: boolean;
  /** rows in metrics.jsonl */
  steps: number;
  lastStep: number | null;
  /** last non-null value of each metric */
  final: Record<string, number>;
  hasEval: boolean;
  hasSynthetic: boolean;
}

export interface ServedFile {
  name: string;
  size: number;
  /** URL path under which the dashboard serves it */
  url: string;
}

export interface RunDetail extends RunSummary {
  configText: string | null;
  /** config.yaml parsed; null when missing or not valid YAML (configError says why) */
  config: unknown;
  configError: string | null;
  overridesText: string | null;
  /** eval/metrics.json parsed */
  evalMetrics: unknown;
  evalFiles: ServedFile[];
  /**
   * the generated data set: its files, and apart from them the databases in it (`synehr load`'s
   * PGlite folder), each as one entry, since their files are the database's own
   */
  synthetic: { manifest: unknown; files: ServedFile[]; databases: DatabaseFolder[] } | null;
}

/** A PostgreSQL data directory (PGlite's included) inside a listed folder. */
export interface DatabaseFolder {
  name: string;
  files: number;
  size: number;
}

export interface MetricsChunk {
  rows: MetricsRow[];
  /** byte offset to ask from next time */
  next: number;
  /** the file shrank or was replaced since `from`: the client must drop what it had */
  reset: boolean;
}

function fileUrl(root: ServedRoot, segments: string[]): string {
  return `/files/${root}/${segments.map(encodeURIComponent).join('/')}`;
}

/** The run folder's real path, or PathRefused (404 for a missing run, 403 for one that leads outside). */
export function runPath(workDir: string, name: string): string {
  const p = resolveServedPath(workDir, 'saved_models', [name]);
  if (!statSync(p).isDirectory()) throw new PathRefused(404, `no run named '${name}' in saved_models/`);
  return p;
}

function tryResolve(workDir: string, root: ServedRoot, segments: string[]): string | null {
  try {
    return resolveServedPath(workDir, root, segments);
  } catch (e) {
    if (e instanceof PathRefused) return null;
    throw e;
  }
}

function readTextOrNull(path: string | null): string | null {
  if (path === null) return null;
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

interface MetricsSummary {
  ino: number;
  size: number;
  mtimeMs: number;
  /** bytes of whole lines read so far */
  next: number;
  steps: number;
  lastStep: number | null;
  final: Record<string, number>;
}
const summaryCache = new Map<string, MetricsSummary>();

/**
 * Row count, last step and last value of each metric. A file that only grew since the last call is
 * read from where that call stopped, so polling a long training run stays cheap.
 */
function metricsSummary(path: string): MetricsSummary {
  const st = statSync(path);
  const hit = summaryCache.get(path);
  if (hit && hit.ino === st.ino && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit;
  const grown = hit !== undefined && hit.ino === st.ino && st.size >= hit.next;
  const s: MetricsSummary = grown
    ? { ...hit, final: { ...hit.final } }
    : { ino: st.ino, size: 0, mtimeMs: 0, next: 0, steps: 0, lastStep: null, final: {} };
  const { rows, next } = readWholeLines(path, s.next, st.size - s.next);
  for (const row of rows) {
    for (const [k, v] of Object.entries(row)) if (k !== 'step' && k !== 'time' && typeof v === 'number') s.final[k] = v;
  }
  s.steps += rows.length;
  if (rows.length) s.lastStep = rows[rows.length - 1].step;
  s.next = next;
  s.size = st.size;
  s.mtimeMs = st.mtimeMs;
  summaryCache.set(path, s);
  return s;
}

/** The rows in up to `length` bytes of a file from `start`, up to the last newline, and where that ends. */
function readWholeLines(path: string, start: number, length: number): { rows: MetricsRow[]; next: number } {
  if (length <= 0) return { rows: [], next: start };
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const n = readSync(fd, buf, got, length - got, start + got);
      if (n === 0) break;
      got += n;
    }
    const end = got === 0 ? -1 : buf.lastIndexOf(0x0a, got - 1);
    if (end < 0) return { rows: [], next: start };
    return { rows: parseMetricsJsonl(buf.subarray(0, end + 1).toString('utf8')), next: start + end + 1 };
  } finally {
    closeSync(fd);
  }
}

function summarize(workDir: string, name: string, dir: string, now: number): RunSummary {
  const metricsPath = tryResolve(workDir, 'saved_models', [name, METRICS_FILE]);
  const m = metricsPath ? metricsSummary(metricsPath) : { steps: 0, lastStep: null, final: {}, mtimeMs: statSync(dir).mtimeMs };
  return {
    name,
    updated: m.mtimeMs,
    live: metricsPath !== null && now - m.mtimeMs < LIVE_WINDOW_MS,
    steps: m.steps,
    lastStep: m.lastStep,
    final: m.final,
    hasEval: tryResolve(workDir, 'saved_models', [name, 'eval']) !== null,
    hasSynthetic: tryResolve(workDir, 'synthetic', [name]) !== null,
  };
}

/** Every folder in saved_models/ (newest first); folders that lead outside it are left out. */
export function listRuns(workDir: string, now = Date.now()): RunSummary[] {
  const root = join(workDir, 'saved_models');
  if (!existsSync(root)) return [];
  const runs: RunSummary[] = [];
  for (const e of readdirSync(root, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    try {
      const dir = tryResolve(workDir, 'saved_models', [e.name]);
      if (dir === null || !statSync(dir).isDirectory()) continue;
      runs.push(summarize(workDir, e.name, dir, now));
    } catch {
      // a run folder removed while we read it (overwrite=true): it is simply not listed this time
    }
  }
  return runs.sort((a, b) => b.updated - a.updated || a.name.localeCompare(b.name));
}

/** PostgreSQL (and PGlite) keep a data directory's version in PG_VERSION at its top. */
function isDatabaseFolder(dir: string): boolean {
  return existsSync(join(dir, 'PG_VERSION'));
}

/** Files and total size under dir, for a database folder's one line. */
function folderSize(dir: string): { files: number; size: number } {
  let files = 0;
  let size = 0;
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    files++;
    size += statSync(join(e.parentPath, e.name)).size;
  }
  return { files, size };
}

function listFiles(
  workDir: string,
  root: ServedRoot,
  segments: string[],
  depth: number,
  out: ServedFile[],
  prefix = '',
  databases: DatabaseFolder[] | null = null,
): void {
  const dir = tryResolve(workDir, root, segments);
  if (dir === null) return;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
  } catch {
    return;
  }
  for (const e of entries) {
    if (out.length >= MAX_LISTED_FILES || e.name.startsWith('.')) continue;
    const segs = [...segments, e.name];
    const real = tryResolve(workDir, root, segs);
    if (real === null) continue; // a symlink out: not listed, and refused if asked for
    const st = statSync(real);
    if (st.isDirectory()) {
      if (databases !== null && isDatabaseFolder(real)) databases.push({ name: `${prefix}${e.name}/`, ...folderSize(real) });
      else if (depth > 0) listFiles(workDir, root, segs, depth - 1, out, `${prefix}${e.name}/`, databases);
    } else out.push({ name: prefix + e.name, size: st.size, url: fileUrl(root, segs) });
  }
}

export function runDetail(workDir: string, name: string, now = Date.now()): RunDetail {
  const dir = runPath(workDir, name);
  const configText = readTextOrNull(tryResolve(workDir, 'saved_models', [name, 'config.yaml']));
  let config: unknown = null;
  let configError: string | null = null;
  if (configText !== null) {
    try {
      config = parseYaml(configText);
    } catch (e) {
      configError = `YAML Error in saved_models/${name}/config.yaml: ${(e as Error).message}`;
    }
  }
  const evalText = readTextOrNull(tryResolve(workDir, 'saved_models', [name, 'eval', 'metrics.json']));
  let evalMetrics: unknown = null;
  if (evalText !== null) {
    try {
      evalMetrics = JSON.parse(evalText);
    } catch (e) {
      evalMetrics = { error: `saved_models/${name}/eval/metrics.json: ${(e as Error).message}` };
    }
  }
  const evalFiles: ServedFile[] = [];
  listFiles(workDir, 'saved_models', [name, 'eval'], 1, evalFiles);

  let synthetic: RunDetail['synthetic'] = null;
  if (tryResolve(workDir, 'synthetic', [name]) !== null) {
    const manifestText = readTextOrNull(tryResolve(workDir, 'synthetic', [name, 'manifest.json']));
    let manifest: unknown = null;
    if (manifestText !== null) {
      try {
        manifest = JSON.parse(manifestText);
      } catch (e) {
        manifest = { error: `data/synthetic/${name}/manifest.json: ${(e as Error).message}` };
      }
    }
    const files: ServedFile[] = [];
    const databases: DatabaseFolder[] = [];
    listFiles(workDir, 'synthetic', [name], 2, files, '', databases);
    synthetic = { manifest, files, databases };
  }

  return {
    ...summarize(workDir, name, dir, now),
    configText,
    config,
    configError,
    overridesText: readTextOrNull(tryResolve(workDir, 'saved_models', [name, 'overrides.yaml'])),
    evalMetrics,
    evalFiles,
    synthetic,
  };
}

/**
 * Rows of metrics.jsonl from byte offset `from`: only whole lines, so a row being written is picked
 * up by the next request. This is how the page follows a run that is training.
 */
export function readMetricsFrom(workDir: string, name: string, from: number): MetricsChunk {
  runPath(workDir, name);
  const path = tryResolve(workDir, 'saved_models', [name, METRICS_FILE]);
  if (path === null) return { rows: [], next: 0, reset: from !== 0 };
  const size = statSync(path).size;
  const reset = from > size;
  const start = reset ? 0 : from;
  const { rows, next } = readWholeLines(path, start, Math.min(size - start, MAX_METRICS_CHUNK));
  return { rows, next, reset };
}

export function contentType(path: string): string {
  const types: Record<string, string> = {
    '.html': 'text/html; charset=utf-8',
    '.svg': 'image/svg+xml',
    '.png': 'image/png',
    '.jpg': 'image/jpeg',
    '.json': 'application/json; charset=utf-8',
    '.jsonl': 'text/plain; charset=utf-8',
    '.yaml': 'text/plain; charset=utf-8',
    '.yml': 'text/plain; charset=utf-8',
    '.csv': 'text/csv; charset=utf-8',
    '.txt': 'text/plain; charset=utf-8',
    '.md': 'text/plain; charset=utf-8',
  };
  return types[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

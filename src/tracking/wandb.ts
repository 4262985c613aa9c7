/**
 * Weights & Biases without the SDK. With `tracking.wandb=true` a run writes what the SDK writes:
 *
 *   <run dir>/wandb/offline-run-<yyyymmdd_hhmmss>-<id>/run-<id>.wandb     WANDB_MODE=offline
 *   <run dir>/wandb/run-<yyyymmdd_hhmmss>-<id>/run-<id>.wandb             WANDB_MODE=online (the default)
 *
 * the run's transaction log (wandbLog.ts), which `wandb sync <dir>` uploads with its config,
 * history and summary. Online, the same rows also go to W&B's HTTP API as they come: a GraphQL
 * `upsertBucket` creates the run, then rows go to the run's file stream
 * (`<base>/files/<entity>/<project>/<run id>/file_stream`) as lines of `wandb-history.jsonl`, the
 * running summary as `wandb-summary.json`, and a final `{complete: true}` marks the run finished.
 * Authentication is HTTP Basic `api:<key>`. `WANDB_MODE=disabled` turns all of it off.
 *
 * History follows the SDK's `run.log(row, step=s)`: everything logged at one step is one row
 * (train/loss and val/loss at step 100 are one row with one `_step`), committed when a later step
 * starts or the run ends; a step below the current one is refused with a warning, as the SDK does.
 * The summary holds each metric's last value; `val/loss` holds `{last, min}`, the SDK's
 * `define_metric("val/loss", summary="min,last", goal="minimize")`.
 *
 * The online part is best effort: the first failure prints one warning and turns it off, and the
 * run goes on (the transaction log holds everything; `wandb sync --include-online <dir>` uploads
 * it). The API key lives only in this module's closure and in request headers; it is never written
 * to a file or a log, and error messages are scrubbed of it in case a server echoes it.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SynehrError } from '../util/errors.ts';
import { WandbLogWriter, wandbJson, wandbRecords } from './wandbLog.ts';

export const WANDB_DEFAULT_BASE_URL = 'https://api.wandb.ai';

/** How long one request may take before W&B counts as unreachable. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Rows are batched and sent at most this often, to stay under W&B's rate limits. */
const SEND_INTERVAL_MS = 5_000;

/** Metrics whose summary also keeps the lowest value seen (the best model is chosen by it). */
const MINIMIZED_METRICS = ['val/loss'];

export type WandbMode = 'online' | 'offline' | 'disabled';

/** WANDB_MODE as the SDK reads it: online (default), offline, disabled; `dryrun` and `run` are its old names. */
export function wandbMode(env: Record<string, string | undefined>): WandbMode {
  const raw = env.WANDB_MODE;
  if (raw === undefined || raw === '') return 'online';
  const v = raw.trim().toLowerCase();
  if (v === 'online' || v === 'run') return 'online';
  if (v === 'offline' || v === 'dryrun') return 'offline';
  if (v === 'disabled') return 'disabled';
  throw new SynehrError('E_ENV', `environment variable WANDB_MODE=${JSON.stringify(raw)}: expected online, offline or disabled`);
}

/** W&B run ids: 8 lowercase alphanumerics. */
function newRunId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(8), (b) => alphabet[b % alphabet.length]).join('');
}

/** The SDK's run-folder time stamp: local time as yyyymmdd_hhmmss. */
function timespec(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}_${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** One committed history row: its items in order (metrics, then _step, _runtime, _timestamp) and the summary keys it changed. */
export interface WandbRow {
  step: number;
  items: [string, unknown][];
  summaryUpdate: [string, unknown][];
}

/** History rows merged per step, and the running summary. Pure bookkeeping, shared by the log and the HTTP stream. */
export class WandbHistory {
  private readonly startTime: number;
  private pending: { step: number; time: number; scalars: Record<string, number> } | null = null;
  private lastStep = -1;
  private readonly mins = new Map<string, number>();
  /** the whole summary so far (wandb-summary.json) */
  readonly summary: Record<string, unknown> = {};

  constructor(startTime: number) {
    this.startTime = startTime;
  }

  /**
   * Adds scalars logged at `step` (Unix seconds `time`). Returns the previous row when this starts
   * a new step, and `'behind'` (nothing kept) when the step is below the current one.
   */
  log(step: number, time: number, scalars: Record<string, number>): WandbRow | null | 'behind' {
    const current = this.pending?.step ?? this.lastStep;
    if (step < current) return 'behind';
    let committed: WandbRow | null = null;
    if (this.pending !== null && step > this.pending.step) committed = this.commit();
    if (this.pending === null) this.pending = { step, time, scalars: { ...scalars } };
    else {
      Object.assign(this.pending.scalars, scalars);
      this.pending.time = time;
    }
    return committed;
  }

  /** Ends the pending row (at the run's end); null when there is none. */
  commit(): WandbRow | null {
    const row = this.pending;
    if (row === null) return null;
    this.pending = null;
    this.lastStep = row.step;
    const meta: [string, unknown][] = [
      ['_step', row.step],
      ['_runtime', row.time - this.startTime],
      ['_timestamp', row.time],
    ];
    const items: [string, unknown][] = [...Object.entries(row.scalars), ...meta];
    const summaryUpdate: [string, unknown][] = [];
    for (const [key, value] of items) {
      let s: unknown = value;
      if (MINIMIZED_METRICS.includes(key) && typeof value === 'number') {
        const prev = this.mins.get(key);
        const min = Number.isFinite(value) && (prev === undefined || value < prev) ? value : prev;
        if (min !== undefined) this.mins.set(key, min);
        s = min === undefined ? { last: value } : { last: value, min };
      }
      this.summary[key] = s;
      summaryUpdate.push([key, s]);
    }
    return { step: row.step, items, summaryUpdate };
  }
}

export interface WandbRunOptions {
  /** the run directory: the W&B run folder goes under its wandb/ */
  runDir: string;
  mode: 'online' | 'offline';
  /** WANDB_API_KEY; online only */
  apiKey?: string;
  /** WANDB_BASE_URL, without a trailing slash; online only */
  baseUrl?: string;
  project: string;
  entity: string | null;
  runName: string;
  config: unknown;
  host: string;
  /** wall clock, Unix milliseconds */
  now: () => number;
  producer: string;
  warn: (message: string) => void;
  info: (message: string) => void;
  fetch: typeof fetch;
}

/** A W&B run: the transaction log, and online the HTTP stream too. */
export class WandbRun {
  readonly dir: string;
  private readonly txlog: WandbLogWriter;
  private readonly history: WandbHistory;
  private readonly http: WandbHttpStream | null;
  private readonly warn: (message: string) => void;
  private readonly startTime: number;
  private readonly now: () => number;
  private warnedBehind = false;
  private closed = false;

  private constructor(dir: string, log: WandbLogWriter, http: WandbHttpStream | null, opts: WandbRunOptions, startMs: number) {
    this.dir = dir;
    this.txlog = log;
    this.http = http;
    this.warn = opts.warn;
    this.now = opts.now;
    this.startTime = startMs / 1000;
    this.history = new WandbHistory(this.startTime);
  }

  /**
   * Starts the run. Online, W&B is asked for the run first (so its entity is in the log), and an
   * unreachable W&B is one warning; a missing entity is the user's to fix and throws.
   */
  static async start(opts: WandbRunOptions): Promise<WandbRun> {
    const runId = newRunId();
    const startMs = opts.now();
    let entity = opts.entity ?? '';
    let http: WandbHttpStream | null = null;
    const prefix = opts.mode === 'offline' ? 'offline-run' : 'run';
    const dir = join(opts.runDir, 'wandb', `${prefix}-${timespec(startMs)}-${runId}`);
    if (opts.mode === 'online') {
      http = new WandbHttpStream(opts, runId, dir);
      const ref = await http.start();
      if (ref === null) http = null;
      else entity = ref.entity;
    }
    mkdirSync(dir, { recursive: true });
    const log = new WandbLogWriter(join(dir, `run-${runId}.wandb`));
    const config = opts.config !== null && typeof opts.config === 'object' ? (opts.config as Record<string, unknown>) : {};
    log.write(wandbRecords.header(log.nextNum(), opts.producer));
    log.write(
      wandbRecords.run(log.nextNum(), {
        runId,
        entity,
        project: opts.project,
        displayName: opts.runName,
        host: opts.host,
        startTime: startMs / 1000,
        config,
      }),
    );
    for (const name of MINIMIZED_METRICS) log.write(wandbRecords.minimizedMetric(log.nextNum(), name));
    if (opts.mode === 'offline') opts.info(`wandb: offline run in ${dir}; upload it with: wandb sync ${dir}`);
    return new WandbRun(dir, log, http, opts, startMs);
  }

  get logPath(): string {
    return this.txlog.path;
  }

  log(step: number, time: number, scalars: Record<string, number>): void {
    const r = this.history.log(step, time, scalars);
    if (r === 'behind') {
      if (!this.warnedBehind) {
        this.warnedBehind = true;
        this.warn(`wandb: step ${step} is below the current step; W&B keeps steps increasing, so rows logged at earlier steps are left out of the W&B run (metrics.jsonl has them)`);
      }
      return;
    }
    if (r !== null) this.write(r);
  }

  private write(row: WandbRow): void {
    this.txlog.write(wandbRecords.history(this.txlog.nextNum(), row.step, row.items));
    this.txlog.write(wandbRecords.summary(this.txlog.nextNum(), row.summaryUpdate));
    this.http?.push(row, this.history.summary);
  }

  flush(): Promise<void> {
    return this.http?.flush() ?? Promise.resolve();
  }

  /** Commits the last row, writes the exit record and closes the log; online, marks the run finished. */
  async close(exitCode = 0): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const last = this.history.commit();
    if (last !== null) this.write(last);
    const end = this.now() / 1000;
    this.txlog.write(wandbRecords.exit(this.txlog.nextNum(), exitCode, Math.max(0, Math.round(end - this.startTime))));
    this.txlog.close();
    await this.http?.close(exitCode);
  }
}

interface RunRef {
  entity: string;
  project: string;
  id: string;
}

const UPSERT_BUCKET = `mutation UpsertBucket($id: String, $name: String, $project: String, $entity: String, $displayName: String, $config: JSONString) {
  upsertBucket(input: {id: $id, name: $name, modelName: $project, entityName: $entity, displayName: $displayName, config: $config}) {
    bucket { id name project { name entity { name } } }
  }
}`;

const VIEWER_ENTITY = `query Viewer { viewer { entity } }`;

/** W&B stores config values as `{key: {value, desc}}`. */
function wandbConfig(config: unknown): string {
  const out: Record<string, { value: unknown; desc: null }> = {};
  if (config !== null && typeof config === 'object') {
    for (const [k, v] of Object.entries(config)) out[k] = { value: v, desc: null };
  }
  return JSON.stringify(out);
}

/** The online half: W&B's HTTP API. */
class WandbHttpStream {
  private readonly opts: WandbRunOptions;
  private readonly runId: string;
  private readonly runDirForSync: string;
  private readonly auth: string;
  private readonly baseUrl: string;
  private run: RunRef | null = null;
  private pending: string[] = [];
  private summary: string | null = null;
  private offset = 0;
  private disabled = false;
  private inFlight: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;

  constructor(opts: WandbRunOptions, runId: string, runDirForSync: string) {
    this.opts = opts;
    this.runId = runId;
    this.runDirForSync = runDirForSync;
    this.baseUrl = opts.baseUrl ?? WANDB_DEFAULT_BASE_URL;
    this.auth = 'Basic ' + Buffer.from(`api:${opts.apiKey ?? ''}`).toString('base64');
  }

  /** Creates the run; null (after one warning) when W&B cannot be reached. */
  async start(): Promise<RunRef | null> {
    try {
      this.run = await this.upsertRun();
    } catch (e) {
      if (e instanceof SynehrError) throw e;
      this.fail(e);
      return null;
    }
    this.opts.info(`wandb: logging to ${this.runUrl(this.run)}`);
    return this.run;
  }

  /** The run's page: the app lives at the API's host without its `api.` prefix (api.wandb.ai → wandb.ai). */
  private runUrl(r: RunRef): string {
    const app = this.baseUrl.replace('://api.', '://');
    return `${app}/${encodeURIComponent(r.entity)}/${encodeURIComponent(r.project)}/runs/${encodeURIComponent(r.id)}`;
  }

  push(row: WandbRow, summary: Record<string, unknown>): void {
    if (this.disabled) return;
    this.pending.push(wandbJson(Object.fromEntries(row.items)));
    this.summary = wandbJson(summary);
    if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.send();
      }, SEND_INTERVAL_MS);
      this.timer.unref();
    }
  }

  /** sends what is pending; resolves when W&B has it or the stream has given up */
  flush(): Promise<void> {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    return this.send();
  }

  async close(exitCode: number): Promise<void> {
    await this.flush();
    if (this.run === null || this.disabled) return;
    try {
      await this.post(this.fileStreamUrl(this.run), { complete: true, exitcode: exitCode });
    } catch (e) {
      this.fail(e);
    }
  }

  private send(): Promise<void> {
    this.inFlight = this.inFlight.then(async () => {
      const run = this.run;
      if (run === null || this.disabled || this.pending.length === 0) return;
      const content = this.pending;
      this.pending = [];
      const files: Record<string, { offset: number; content: string[] }> = {
        'wandb-history.jsonl': { offset: this.offset, content },
      };
      if (this.summary !== null) files['wandb-summary.json'] = { offset: 0, content: [this.summary] };
      try {
        await this.post(this.fileStreamUrl(run), { files });
        this.offset += content.length;
      } catch (e) {
        this.fail(e);
      }
    });
    return this.inFlight;
  }

  private fileStreamUrl(r: RunRef): string {
    const seg = encodeURIComponent;
    return `${this.baseUrl}/files/${seg(r.entity)}/${seg(r.project)}/${seg(r.id)}/file_stream`;
  }

  private async upsertRun(): Promise<RunRef> {
    let entity = this.opts.entity;
    if (entity === null) {
      const data = (await this.graphql(VIEWER_ENTITY, {})) as { viewer?: { entity?: string } | null } | null;
      entity = data?.viewer?.entity ?? null;
      if (!entity) {
        throw new SynehrError(
          'E_CONFIG_VALUE',
          `config key 'tracking.wandb_entity' is not set and the W&B account of WANDB_API_KEY at ${this.baseUrl} has no default entity: set tracking.wandb_entity=<your W&B user or team>`,
        );
      }
    }
    const data = (await this.graphql(UPSERT_BUCKET, {
      name: this.runId,
      project: this.opts.project,
      entity,
      displayName: this.opts.runName,
      config: wandbConfig(this.opts.config),
    })) as { upsertBucket?: { bucket?: { name?: string; project?: { name?: string; entity?: { name?: string } } } } } | null;
    const bucket = data?.upsertBucket?.bucket;
    return {
      id: bucket?.name ?? this.runId,
      project: bucket?.project?.name ?? this.opts.project,
      entity: bucket?.project?.entity?.name ?? entity,
    };
  }

  private async graphql(query: string, variables: Record<string, unknown>): Promise<unknown> {
    const body = (await this.post(`${this.baseUrl}/graphql`, { query, variables })) as {
      data?: unknown;
      errors?: { message?: string }[];
    };
    if (body.errors && body.errors.length > 0) throw new Error(body.errors.map((e) => e.message).join('; '));
    return body.data;
  }

  private async post(url: string, json: unknown): Promise<unknown> {
    const res = await this.opts.fetch(url, {
      method: 'POST',
      headers: { authorization: this.auth, 'content-type': 'application/json' },
      body: JSON.stringify(json),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`HTTP ${res.status} from ${url}: ${text.slice(0, 200)}`);
    return text === '' ? {} : (JSON.parse(text) as unknown);
  }

  private fail(e: unknown): void {
    if (this.disabled) return;
    this.disabled = true;
    this.pending = [];
    const cause = e instanceof Error ? (e.cause instanceof Error ? `${e.message} (${e.cause.message})` : e.message) : String(e);
    // a server may echo the key or the Authorization header back in an error body
    let scrubbed = cause;
    for (const secret of [this.opts.apiKey ?? '', this.auth.slice('Basic '.length)]) {
      if (secret.length >= 8) scrubbed = scrubbed.split(secret).join('***');
    }
    this.opts.warn(
      `Weights & Biases unreachable at ${this.baseUrl} (${scrubbed}); the run goes on, logged locally. ` +
        `Upload it later with: wandb sync --include-online ${this.runDirForSync}`,
    );
  }
}

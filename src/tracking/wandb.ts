/**
 * Weights & Biases over its HTTP API, without the SDK: a GraphQL `upsertBucket` creates the run,
 * then rows go to the run's file stream (`<base>/files/<entity>/<project>/<run id>/file_stream`)
 * as lines of `wandb-history.jsonl`, the last row also as `wandb-summary.json`, and a final
 * `{complete: true}` marks the run finished. Authentication is HTTP Basic `api:<key>`.
 *
 * Everything here is best effort: the first failure prints one warning and turns the sink off, and
 * the run goes on (the TensorBoard files can be uploaded later with `wandb sync --sync-tensorboard`).
 * The API key lives only in this module's closure and in request headers; it is never written to a
 * file or a log, and error messages are scrubbed of it in case a server echoes it.
 */
import { randomBytes } from 'node:crypto';

export const WANDB_DEFAULT_BASE_URL = 'https://api.wandb.ai';

/** How long one request may take before W&B counts as unreachable. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Rows are batched and sent at most this often, to stay under W&B's rate limits. */
const SEND_INTERVAL_MS = 5_000;

export interface WandbSinkOptions {
  apiKey: string;
  baseUrl: string;
  project: string;
  entity: string | null;
  runName: string;
  config: unknown;
  warn: (message: string) => void;
  info: (message: string) => void;
  fetch: typeof fetch;
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

/** W&B run ids: 8 lowercase alphanumerics. */
function newRunId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(8), (b) => alphabet[b % alphabet.length]).join('');
}

export class WandbSink {
  private readonly opts: WandbSinkOptions;
  private readonly auth: string;
  private readonly startTime = Date.now() / 1000;
  private run: Promise<RunRef | null>;
  private pending: string[] = [];
  private lastRow: Record<string, unknown> | null = null;
  private offset = 0;
  private disabled = false;
  private inFlight: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;

  constructor(opts: WandbSinkOptions) {
    this.opts = opts;
    this.auth = 'Basic ' + Buffer.from(`api:${opts.apiKey}`).toString('base64');
    this.run = this.startRun().then((r) => {
      opts.info(`wandb: logging to ${this.runUrl(r)}`);
      return r;
    }).catch((e: unknown) => {
      this.fail(e);
      return null;
    });
  }

  /** The run's page: the app lives at the API's host without its `api.` prefix (api.wandb.ai → wandb.ai). */
  private runUrl(r: RunRef): string {
    const app = this.opts.baseUrl.replace('://api.', '://');
    return `${app}/${encodeURIComponent(r.entity)}/${encodeURIComponent(r.project)}/runs/${encodeURIComponent(r.id)}`;
  }

  log(step: number, time: number, scalars: Record<string, number>): void {
    if (this.disabled) return;
    const row: Record<string, unknown> = { ...scalars, _step: step, _timestamp: time, _runtime: time - this.startTime };
    for (const [k, v] of Object.entries(row)) if (typeof v === 'number' && !Number.isFinite(v)) row[k] = null;
    this.pending.push(JSON.stringify(row));
    this.lastRow = row;
    if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.send();
      }, SEND_INTERVAL_MS);
      this.timer.unref();
    }
  }

  /** sends what is pending; resolves when W&B has it or the sink has given up */
  flush(): Promise<void> {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    return this.send();
  }

  async close(): Promise<void> {
    await this.flush();
    const run = await this.run;
    if (run === null || this.disabled) return;
    try {
      await this.post(this.fileStreamUrl(run), { complete: true, exitcode: 0 });
    } catch (e) {
      this.fail(e);
    }
  }

  private send(): Promise<void> {
    this.inFlight = this.inFlight.then(async () => {
      const run = await this.run;
      if (run === null || this.disabled || this.pending.length === 0) return;
      const content = this.pending;
      this.pending = [];
      const files: Record<string, { offset: number; content: string[] }> = {
        'wandb-history.jsonl': { offset: this.offset, content },
      };
      if (this.lastRow !== null) files['wandb-summary.json'] = { offset: 0, content: [JSON.stringify(this.lastRow)] };
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
    return `${this.opts.baseUrl}/files/${seg(r.entity)}/${seg(r.project)}/${seg(r.id)}/file_stream`;
  }

  private async startRun(): Promise<RunRef> {
    let entity = this.opts.entity;
    if (entity === null) {
      const data = (await this.graphql(VIEWER_ENTITY, {})) as { viewer?: { entity?: string } | null };
      entity = data.viewer?.entity ?? null;
      if (!entity) throw new Error('the API key has no default entity; set tracking.wandb_entity');
    }
    const id = newRunId();
    const data = (await this.graphql(UPSERT_BUCKET, {
      name: id,
      project: this.opts.project,
      entity,
      displayName: this.opts.runName,
      config: wandbConfig(this.opts.config),
    })) as { upsertBucket?: { bucket?: { name?: string; project?: { name?: string; entity?: { name?: string } } } } };
    const bucket = data.upsertBucket?.bucket;
    return {
      id: bucket?.name ?? id,
      project: bucket?.project?.name ?? this.opts.project,
      entity: bucket?.project?.entity?.name ?? entity,
    };
  }

  private async graphql(query: string, variables: Record<string, unknown>): Promise<unknown> {
    const body = (await this.post(`${this.opts.baseUrl}/graphql`, { query, variables })) as {
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
    for (const secret of [this.opts.apiKey, this.auth.slice('Basic '.length)]) scrubbed = scrubbed.split(secret).join('***');
    this.opts.warn(
      `Weights & Biases unreachable at ${this.opts.baseUrl} (${scrubbed}); logging locally only. ` +
        `Upload later with: wandb sync --sync-tensorboard <run dir>`,
    );
  }
}

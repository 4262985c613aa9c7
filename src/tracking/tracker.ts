/**
 * The one logger train, generate and evaluate share. A tracker writes to the sinks the `tracking`
 * config turns on, all under the run directory:
 *
 *   metrics.jsonl            one JSON object per logged step (the dashboard reads it live)
 *   events.out.tfevents.*    TensorBoard scalars and text
 *   wandb/<run folder>/      Weights & Biases, when tracking.wandb=true: the run's transaction log
 *                            (`wandb sync` uploads it) and, unless WANDB_MODE=offline, W&B online
 *
 * Metric names follow nanoGPT's: `train/loss`, `val/loss`, `lr`, `tokens_per_s`.
 * `log` and `text` never throw because of W&B, and never wait on the network.
 */
import { mkdirSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import type { TrackingConfig } from './config.ts';
import { MetricsJsonlWriter } from './metricsJsonl.ts';
import { encodeScalarsEvent, encodeTextEvent, EventFileWriter } from './tfevents.ts';
import { WANDB_DEFAULT_BASE_URL, WandbRun, wandbMode } from './wandb.ts';

export interface Tracker {
  /** one row of scalars at a step: a line of metrics.jsonl, one TensorBoard event, one W&B history row */
  log(step: number, scalars: Record<string, number>): void;
  /** a text summary (Markdown in TensorBoard's text tab); `step` defaults to the last logged step */
  text(tag: string, value: string, step?: number): void;
  /** forces files to disk and sends what W&B has pending */
  flush(): Promise<void>;
  /**
   * flushes, closes the files, and marks the W&B run finished (failed when `exitCode` is not 0,
   * as for a run that threw); the tracker is unusable afterwards
   */
  close(opts?: { exitCode?: number }): Promise<void>;
  /** the files this tracker writes (for logs and tests) */
  readonly files: { metricsJsonl: string | null; tfevents: string | null; wandb: string | null };
}

export interface TrackerMeta {
  runName: string;
  /** the resolved config, sent to W&B as the run's config */
  config: unknown;
}

/** Seams for tests and embedding; every field has a production default. */
export interface TrackerOptions {
  /** wall clock in milliseconds since the epoch (Date.now) */
  now?: () => number;
  /** host name in the event file's name (os.hostname()) */
  hostname?: string;
  /** where the (rare) warnings go: stderr, prefixed "warning:" */
  warn?: (message: string) => void;
  /** where notices go (the W&B run's address once it exists): stderr */
  info?: (message: string) => void;
  /** environment read for WANDB_MODE, WANDB_API_KEY and WANDB_BASE_URL (process.env) */
  env?: Record<string, string | undefined>;
  /** HTTP client for W&B (globalThis.fetch) */
  fetch?: typeof fetch;
}

export const METRICS_FILE = 'metrics.jsonl';

const defaultWarn = (message: string): void => {
  process.stderr.write(`warning: ${message}\n`);
};

export async function createTracker(
  runDir: string,
  cfg: TrackingConfig,
  meta: TrackerMeta,
  options: TrackerOptions = {},
): Promise<Tracker> {
  const now = options.now ?? Date.now;
  const warn = options.warn ?? defaultWarn;
  const info = options.info ?? ((message: string) => void process.stderr.write(`${message}\n`));
  const env = options.env ?? process.env;
  mkdirSync(runDir, { recursive: true });

  const metrics = cfg.metrics_jsonl ? new MetricsJsonlWriter(join(runDir, METRICS_FILE)) : null;
  const events = cfg.tensorboard ? new EventFileWriter(runDir, now() / 1000, options.hostname ?? osHostname()) : null;

  let wandb: WandbRun | null = null;
  if (cfg.wandb) {
    let mode = wandbMode(env);
    const apiKey = env.WANDB_API_KEY;
    if (mode === 'disabled') info('wandb: WANDB_MODE=disabled, not logging to Weights & Biases');
    if (mode === 'online' && !apiKey) {
      warn('tracking.wandb=true but WANDB_API_KEY is not set; writing an offline W&B run instead (WANDB_MODE=offline says so without this warning)');
      mode = 'offline';
    }
    if (mode !== 'disabled') {
      wandb = await WandbRun.start({
        runDir,
        mode,
        apiKey,
        baseUrl: (env.WANDB_BASE_URL || WANDB_DEFAULT_BASE_URL).replace(/\/+$/, ''),
        project: cfg.wandb_project,
        entity: cfg.wandb_entity,
        runName: meta.runName,
        config: meta.config,
        host: options.hostname ?? osHostname(),
        now,
        producer: 'synehr',
        warn,
        info,
        fetch: options.fetch ?? globalThis.fetch,
      });
    }
  }

  let lastStep = 0;
  let closed = false;
  const checkOpen = (what: string): void => {
    if (closed) throw new Error(`tracker for run ${meta.runName}: ${what} after close()`);
  };

  return {
    files: { metricsJsonl: metrics?.path ?? null, tfevents: events?.path ?? null, wandb: wandb?.logPath ?? null },

    log(step, scalars) {
      checkOpen('log');
      if (!Number.isInteger(step) || step < 0) throw new RangeError(`step must be an integer >= 0, got ${step}`);
      lastStep = step;
      const t = now() / 1000;
      metrics?.write(step, t, scalars);
      events?.write(encodeScalarsEvent(t, step, scalars));
      wandb?.log(step, t, scalars);
    },

    text(tag, value, step) {
      checkOpen('text');
      events?.write(encodeTextEvent(now() / 1000, step ?? lastStep, tag, value));
    },

    async flush() {
      if (closed) return;
      metrics?.flush();
      events?.flush();
      await wandb?.flush();
    },

    async close(opts) {
      if (closed) return;
      closed = true;
      metrics?.flush();
      events?.flush();
      metrics?.close();
      events?.close();
      await wandb?.close(opts?.exitCode ?? 0);
    },
  };
}

/**
 * The local dashboard's HTTP server: one self-contained page (page.html, inline CSS and JS, no
 * framework, no CDN) and a small JSON API over the run folders.
 *
 *   GET /                              the page
 *   GET /api/runs                      RunSummary[] of saved_models/*
 *   GET /api/runs/<run>                RunDetail: config, final metrics, eval, synthetic data sets
 *   GET /api/runs/<run>/metrics?from=B metrics.jsonl rows from byte B (the page polls this while a run trains)
 *   GET /files/saved_models/<run>/...  a file of a run (eval/report.html, eval/*.svg|png, ...)
 *   GET /files/synthetic/<run>/...     a file of a generated data set
 *
 * Nothing outside saved_models/ and data/synthetic/ is served (see safePath.ts). Bound to loopback
 * by default; while bound to loopback, requests whose Host header names another host are refused,
 * so a web page elsewhere cannot reach the API by DNS rebinding.
 */
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIPv4, type AddressInfo } from 'node:net';
import { contentType, listRuns, readMetricsFrom, runDetail } from './runs.ts';
import { PathRefused, resolveServedPath, splitRawPath, type ServedRoot } from './safePath.ts';

export interface DashboardOptions {
  /** the folder holding saved_models/ and data/synthetic/ */
  workDir: string;
  /** 0 picks a free port */
  port?: number;
  /** the address to bind; loopback unless you mean to share the dashboard */
  host?: string;
}

export interface Dashboard {
  url: string;
  close(): Promise<void>;
}

export const DEFAULT_DASHBOARD_PORT = 6007;
export const DEFAULT_DASHBOARD_HOST = '127.0.0.1';

const PAGE = readFileSync(new URL('./page.html', import.meta.url), 'utf8');

const LOOPBACK_NAMES = new Set(['localhost', '::1', '[::1]']);

/** A loopback name or address: localhost, ::1, or an IPv4 literal in 127.0.0.0/8 (not a name that starts with "127."). */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return LOOPBACK_NAMES.has(h) || (isIPv4(h) && h.startsWith('127.'));
}

function hostnameOf(hostHeader: string): string {
  if (hostHeader.startsWith('[')) return hostHeader.slice(0, hostHeader.indexOf(']') + 1);
  const colon = hostHeader.lastIndexOf(':');
  return colon < 0 ? hostHeader : hostHeader.slice(0, colon);
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
}

function sendFile(req: IncomingMessage, res: ServerResponse, path: string): void {
  const st = statSync(path);
  if (!st.isFile()) throw new PathRefused(404, 'not a file');
  res.writeHead(200, {
    'content-type': contentType(path),
    'content-length': st.size,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    // a served HTML file (a report, or anything in a data set folder) runs in a sandbox with an
    // opaque origin, so it cannot script the dashboard or read its API
    'content-security-policy': 'sandbox',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = createReadStream(path);
  // a file removed or unreadable after the stat: end this response, keep the server
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

function handle(workDir: string, loopbackOnly: boolean, req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return sendJson(res, 405, { error: `method ${req.method} not allowed` });
  }
  if (loopbackOnly && !isLoopback(hostnameOf(req.headers.host ?? ''))) {
    return sendJson(res, 403, { error: `host '${req.headers.host ?? ''}' refused: the dashboard answers loopback names only` });
  }
  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  const rawPath = q < 0 ? raw : raw.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  try {
    const seg = splitRawPath(rawPath);
    if (seg.length === 0) return send(res, 200, 'text/html; charset=utf-8', PAGE);
    if (seg[0] === 'api' && seg[1] === 'runs') {
      if (seg.length === 2) return sendJson(res, 200, listRuns(workDir));
      if (seg.length === 3) return sendJson(res, 200, runDetail(workDir, seg[2]));
      if (seg.length === 4 && seg[3] === 'metrics') {
        const from = Number(query.get('from') ?? '0');
        if (!Number.isSafeInteger(from) || from < 0) {
          return sendJson(res, 400, { error: `'from' must be a byte offset >= 0, got '${query.get('from')}'` });
        }
        return sendJson(res, 200, readMetricsFrom(workDir, seg[2], from));
      }
    }
    if (seg[0] === 'files' && (seg[1] === 'saved_models' || seg[1] === 'synthetic') && seg.length > 2) {
      return sendFile(req, res, resolveServedPath(workDir, seg[1] as ServedRoot, seg.slice(2)));
    }
    return sendJson(res, 404, { error: `not found: ${rawPath}` });
  } catch (e) {
    if (e instanceof PathRefused) return sendJson(res, e.status, { error: e.message });
    sendJson(res, 500, { error: (e as Error).message });
  }
}

/** Starts the dashboard; resolves once it listens. */
export function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const host = options.host ?? DEFAULT_DASHBOARD_HOST;
  const port = options.port ?? DEFAULT_DASHBOARD_PORT;
  const server = createServer((req, res) => handle(options.workDir, isLoopback(host), req, res));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address() as AddressInfo;
      const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      resolve({
        url: `http://${shownHost}:${addr.port}/`,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((err) => (err ? fail(err) : done()));
            server.closeAllConnections();
          }),
      });
    });
  });
}

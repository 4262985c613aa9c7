/**
 * The dashboard's only way from a URL to a file. It serves nothing outside `saved_models/` and
 * `data/synthetic/` under the working directory: a request path is split on "/" BEFORE
 * percent-decoding (so `%2e%2e` and `%2f` cannot smuggle a traversal past the split), every decoded
 * segment must be a plain name (no "..", ".", "/", "\", NUL, or empty segment), and the file's real
 * path (symlinks resolved) must still lie under the real path of its root.
 *
 * @internal
 */
import { realpathSync } from 'node:fs';
import { join, sep } from 'node:path';

/** The URL prefixes the dashboard serves files under, and the folders (under workDir) they map to. */
export const SERVED_ROOTS = {
  saved_models: ['saved_models'],
  synthetic: ['data', 'synthetic'],
} as const;
export type ServedRoot = keyof typeof SERVED_ROOTS;

export class PathRefused extends Error {
  readonly status: 400 | 403 | 404;
  constructor(status: 400 | 403 | 404, message: string) {
    super(message);
    this.name = 'PathRefused';
    this.status = status;
  }
}

/** Decodes one raw URL path segment and refuses anything but a plain file or folder name. */
export function decodeSegment(raw: string): string {
  let s: string;
  try {
    s = decodeURIComponent(raw);
  } catch {
    throw new PathRefused(400, `bad percent-encoding in path segment '${raw}'`);
  }
  if (s === '' || s === '.' || s === '..' || /[/\\\0]/.test(s)) {
    throw new PathRefused(403, `path segment '${raw}' is not a plain name`);
  }
  return s;
}

/** Splits the raw path of a request (no query) into decoded plain segments; refuses traversal. */
export function splitRawPath(rawPath: string): string[] {
  if (!rawPath.startsWith('/')) throw new PathRefused(400, `request path must start with '/': '${rawPath}'`);
  if (rawPath === '/') return [];
  const parts = rawPath.slice(1).split('/');
  if (parts[parts.length - 1] === '') parts.pop(); // a trailing slash
  return parts.map(decodeSegment);
}

/**
 * The real path of `segments` under `root` of `workDir`, or PathRefused: 404 when it does not exist,
 * 403 when its real path leaves the root (a symlink out).
 */
export function resolveServedPath(workDir: string, root: ServedRoot, segments: string[]): string {
  for (const s of segments) decodeSegment(encodeURIComponent(s)); // segments from elsewhere get the same check
  const rootPath = join(workDir, ...SERVED_ROOTS[root]);
  let realRoot: string;
  let real: string;
  try {
    realRoot = realpathSync(rootPath);
    real = realpathSync(join(rootPath, ...segments));
  } catch {
    throw new PathRefused(404, `not found: ${[...SERVED_ROOTS[root], ...segments].join('/')}`);
  }
  if (real !== realRoot && !real.startsWith(realRoot + sep)) {
    throw new PathRefused(403, `refused: ${[...SERVED_ROOTS[root], ...segments].join('/')} leads outside ${SERVED_ROOTS[root].join('/')}/`);
  }
  return real;
}

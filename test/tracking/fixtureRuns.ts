/** Copies test/fixtures/runs (saved_models/ + data/synthetic/) to a temp work dir tests may change. */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const FIXTURE_RUNS = join(import.meta.dirname, '..', 'fixtures', 'runs');

export function copyFixtureRuns(): { workDir: string; cleanup(): void } {
  const root = mkdtempSync(join(tmpdir(), 'synehr-dash-'));
  const workDir = join(root, 'work');
  cpSync(FIXTURE_RUNS, workDir, { recursive: true });
  return { workDir, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

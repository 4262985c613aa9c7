import { existsSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import YAML from 'yaml';
import { SynehrError } from '../util/errors.ts';
import type { SynehrConfig } from './types.ts';
import { writeFileAtomic } from '../util/files.ts';
import { readYamlMapping } from './files.ts';
import { runDirPath, runFiles, savedModelsDir } from './runPaths.ts';

/**
 * Run directories (DESIGN.md, "Run directory"):
 *   saved_models/<run_name>/   for a command that trains a model; holds config.yaml (resolved) and
 *                              overrides.yaml (the command line's); reusing a name is refused
 *                              unless resume=true (keep it, rewrite the two files) or
 *                              overwrite=true (empty it first)
 *   outputs/<date>/<time>/     for a command without a model (Hydra's layout; `_1`, `_2` appended
 *                              when two runs start in the same second; `/<job>` under -m)
 */

const RUN_NAME = /^[A-Za-z0-9][\w.+-]*$/;

/** A run name is one path segment: letters, digits, `_ . + -`, not starting with a dot or dash. */
export function checkRunName(name: string): void {
  if (!RUN_NAME.test(name)) {
    throw new SynehrError(
      'E_CONFIG_TYPE',
      `config key 'run_name' = ${JSON.stringify(name)}: expected one folder name (letters, digits, _ . + -, not starting with . or -)`,
    );
  }
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** Local date and time as Hydra names its output folders: ["2026-11-23", "15-04-05"]. */
export function dateTimeParts(now: Date): [string, string] {
  return [
    `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`,
    `${pad(now.getHours())}-${pad(now.getMinutes())}-${pad(now.getSeconds())}`,
  ];
}

/** The name train gives a run when run_name is null: <data>_<model>_<yyyymmdd-hhmmss>. */
export function defaultRunName(config: SynehrConfig, now: Date): string {
  const [date, time] = dateTimeParts(now);
  return `${config.data.name}_${config.model.name}_${date.replace(/-/g, '')}-${time.replace(/-/g, '')}`;
}

/**
 * resume and overwrite say what to do with an existing folder, for the one command they were given
 * with: config.yaml stores them as false, and a saved config read back as a base drops them, so a
 * later `resume=true` never replays an old `overwrite=true` (which would empty the run).
 */
const PER_COMMAND_KEYS = ['resume', 'overwrite'] as const;

async function writeRunFiles(dir: string, config: SynehrConfig, overrides: readonly string[]): Promise<void> {
  const files = runFiles(dir);
  await writeFileAtomic(files.config, YAML.stringify({ ...config, resume: false, overwrite: false }));
  await writeFileAtomic(files.overrides, YAML.stringify([...overrides]));
}

/** A run's saved config.yaml as the base of a later command, without its per-command keys. */
export function readSavedRunConfig(file: string): Record<string, unknown> {
  const saved = readYamlMapping(file);
  for (const k of PER_COMMAND_KEYS) delete saved[k];
  return saved;
}

/**
 * Creates saved_models/<run_name>/ with config.yaml and overrides.yaml. The directory is claimed
 * with a non-recursive mkdir, so two processes cannot both take the same new name.
 */
export async function createModelRunDir(workDir: string, config: SynehrConfig, overrides: readonly string[]): Promise<string> {
  if (config.run_name === null) throw new SynehrError('E_CONFIG_TYPE', 'this command needs a run_name');
  checkRunName(config.run_name);
  if (config.resume && config.overwrite) {
    throw new SynehrError(
      'E_USAGE',
      `resume=true continues run '${config.run_name}' and overwrite=true would empty it first: pass one of the two`,
    );
  }
  const dir = runDirPath(workDir, config.run_name);
  await mkdir(dirname(dir), { recursive: true });
  try {
    await mkdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    if (config.overwrite) {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir);
    } else if (!config.resume) {
      throw new SynehrError(
        'E_RUN_EXISTS',
        `run '${config.run_name}' exists (${dir}); pass resume=true to continue it, overwrite=true to replace it, or choose another run_name`,
      );
    }
  }
  await writeRunFiles(dir, config, overrides);
  return dir;
}

/**
 * outputs/<date>/<time>/ (or .../<time>/<job> under -m), created with config.yaml and
 * overrides.yaml; a second run in the same second gets <time>_1, <time>_2, ...
 */
export async function createOutputsDir(
  workDir: string,
  config: SynehrConfig,
  overrides: readonly string[],
  now: Date,
  job?: { index: number; count: number },
): Promise<string> {
  const [date, time] = dateTimeParts(now);
  const base = join(workDir, 'outputs', date);
  await mkdir(base, { recursive: true });
  let dir: string;
  if (job && job.count > 1) {
    dir = join(base, time, String(job.index));
    await mkdir(dir, { recursive: true });
  } else {
    for (let i = 0; ; i++) {
      dir = join(base, i === 0 ? time : `${time}_${i}`);
      try {
        await mkdir(dir);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
  }
  await writeRunFiles(dir, config, overrides);
  return dir;
}

/** The runs under saved_models/ (folders holding a config.yaml), for did-you-mean. */
export async function listRuns(workDir: string): Promise<string[]> {
  const root = savedModelsDir(workDir);
  if (!existsSync(root)) return [];
  const names = await readdir(root, { withFileTypes: true });
  return names.filter((d) => d.isDirectory() && existsSync(runFiles(join(root, d.name)).config)).map((d) => d.name).sort();
}

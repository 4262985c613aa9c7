import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import YAML from 'yaml';
import { compose } from '../config/compose.ts';
import { didYouMean } from '../config/didYouMean.ts';
import { expandMultirun, jobRunName } from '../config/multirun.ts';
import { parseOverride } from '../config/overrides.ts';
import { checkRunName, createModelRunDir, createOutputsDir, defaultRunName, listRuns, readSavedRunConfig } from '../config/runDir.ts';
import { runDirPath, runFiles, savedModelsDir } from '../config/runPaths.ts';
import type { SynehrConfig } from '../config/types.ts';
import { discoverUserConfig, loadUserConfig, type UserConfig } from '../config/userConfig.ts';
import { isSynehrError, SynehrError } from '../util/errors.ts';
import { COMMANDS, findCommand, type CommandSpec } from './commandTable.ts';
import { runConfigCommand } from './configCommand.ts';
import type { CommandContext } from './context.ts';
import { commandHelp, globalHelp } from './help.ts';

/** Where output goes and where the command runs; tests pass their own. */
export interface MainIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** the working directory: saved_models/, outputs/ and the user config are looked up here */
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** where subcommand modules are looked up (tests point it at fakes) */
  commandsDir: string;
}

/** The package's root (built-in configs/, src/cli/commands/, embedded data/). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');

/** Exit codes: 0 ok, 1 a bug (stack printed), 2 a user's mistake (one line), 130 interrupted by Ctrl-C (128 + SIGINT). */
export const EXIT_OK = 0;
export const EXIT_BUG = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

/**
 * The `synehr` command. Returns the exit code; never throws. A SynehrError (a user's mistake)
 * prints `synehr: error: <message>` on one line; anything else is a bug and prints its stack.
 */
export async function main(argv: readonly string[], io: Partial<MainIO> = {}): Promise<number> {
  const full: MainIO = {
    stdout: io.stdout ?? ((s) => void process.stdout.write(s)),
    stderr: io.stderr ?? ((s) => void process.stderr.write(s)),
    cwd: io.cwd ?? process.cwd(),
    env: io.env ?? process.env,
    commandsDir: io.commandsDir ?? join(PACKAGE_ROOT, 'src', 'cli', 'commands'),
  };
  try {
    return await dispatch(argv, full);
  } catch (e) {
    if (isSynehrError(e)) {
      full.stderr(`synehr: ${e.code === 'E_INTERRUPTED' ? 'interrupted' : 'error'}: ${e.message.replace(/\s*\n\s*/g, ' ')}\n`);
      return e.code === 'E_INTERRUPTED' ? EXIT_INTERRUPTED : EXIT_USAGE;
    }
    full.stderr(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return EXIT_BUG;
  }
}

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

export interface ParsedArgs {
  overrides: string[];
  args: string[];
  multirun: boolean;
  help: boolean;
  configDirs: string[];
  configFile?: string;
  /** --cfg job: print the config the command would run with, and stop (Hydra's flag) */
  cfg: boolean;
}

/** A string as a quoted override value: taken as it is, never typed or split at commas. */
function quotedValue(v: string): string {
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * Sorts a command's words: an override has '=' or starts with '~' or '+' (and not '-'); the
 * command's short `key=value` words (CommandSpec.keys, like load's url=...) become overrides of
 * the config keys they stand for, their values quoted; our own flags are taken out; every other
 * word (flags like --port 8080, positional words) is passed through in ctx.args. After `--`
 * everything is passed through.
 */
export function parseArgs(words: readonly string[], cwd: string, ownKeys: Readonly<Record<string, string>> = {}): ParsedArgs {
  const out: ParsedArgs = { overrides: [], args: [], multirun: false, help: false, configDirs: [], cfg: false };
  const valueOf = (i: number, name: string): string => {
    const v = words[i + 1];
    if (v === undefined || v.startsWith('-')) throw new SynehrError('E_USAGE', `${name} needs a value`);
    return v;
  };
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === '--') {
      out.args.push(...words.slice(i + 1));
      break;
    }
    if (w === '-h' || w === '--help') out.help = true;
    else if (w === '-m' || w === '--multirun') out.multirun = true;
    else if (w === '-cd' || w === '--config-dir') out.configDirs.push(resolve(cwd, valueOf(i++, w)));
    else if (w.startsWith('--config-dir=')) out.configDirs.push(resolve(cwd, w.slice('--config-dir='.length)));
    else if (w === '--config-file') out.configFile = resolve(cwd, valueOf(i++, w));
    else if (w.startsWith('--config-file=')) out.configFile = resolve(cwd, w.slice('--config-file='.length));
    else if (w === '--cfg' || w === '-c') {
      const what = valueOf(i++, w);
      if (what !== 'job') throw new SynehrError('E_USAGE', `${w} ${what}: only '${w} job' is supported (the composed config of this command)`);
      out.cfg = true;
    } else if (w === '--cfg=job') out.cfg = true;
    else if (w.startsWith('-')) out.args.push(w);
    else if (w.includes('=') && Object.hasOwn(ownKeys, w.slice(0, w.indexOf('=')))) out.overrides.push(`${ownKeys[w.slice(0, w.indexOf('='))]}=${quotedValue(w.slice(w.indexOf('=') + 1))}`);
    else if (w.includes('=') || w.startsWith('~') || w.startsWith('+')) out.overrides.push(w);
    else out.args.push(w);
  }
  for (const d of out.configDirs) if (!existsSync(d)) throw new SynehrError('E_USAGE', `--config-dir ${d}: no such directory`);
  return out;
}

/**
 * `--name value`, `--name=value`, bare `--name` (true) and a command's own `name=value` words
 * among the pass-through words.
 */
export function parseFlags(args: readonly string[]): Record<string, string | boolean> {
  const flags: Record<string, string | boolean> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const own = /^([A-Za-z_][\w-]*)=(.*)$/.exec(a);
    if (own) {
      flags[own[1]!] = own[2]!;
      continue;
    }
    const m = /^--?([^=]+)(?:=(.*))?$/.exec(a);
    if (!m) continue;
    if (m[2] !== undefined) flags[m[1]!] = m[2];
    else if (args[i + 1] !== undefined && !args[i + 1]!.startsWith('-') && !args[i + 1]!.includes('=')) flags[m[1]!] = args[++i]!;
    else flags[m[1]!] = true;
  }
  return flags;
}

async function dispatch(argv: readonly string[], io: MainIO): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    io.stderr(globalHelp(packageVersion()) + '\n');
    return EXIT_USAGE;
  }
  if (first === '-h' || first === '--help' || first === 'help') {
    io.stdout(globalHelp(packageVersion()) + '\n');
    return EXIT_OK;
  }
  if (first === '-V' || first === '--version') {
    io.stdout(packageVersion() + '\n');
    return EXIT_OK;
  }
  const spec = findCommand(first);
  if (!spec) {
    const names = COMMANDS.map((c) => c.name);
    const guess = didYouMean(first, names);
    throw new SynehrError(
      'E_USAGE',
      `unknown ${first.startsWith('-') ? 'option' : 'command'} '${first}'` + (guess ? `; did you mean '${guess}'?` : ';') + ` commands: ${names.join(', ')}`,
    );
  }
  const parsed = parseArgs(rest, io.cwd, spec.keys);
  const builtIn = join(PACKAGE_ROOT, 'configs');

  if (parsed.help) {
    let user: UserConfig | null = null;
    try {
      user = parsed.configFile ? await loadUserConfig(parsed.configFile) : await discoverUserConfig(io.cwd);
    } catch {
      user = null; // help still prints with the built-in search path
    }
    const searchPath = [...parsed.configDirs, ...(user?.configPaths ?? []), builtIn];
    let composed: ReturnType<typeof compose> | undefined;
    try {
      composed = compose({ searchPath, overrides: user?.overrides ?? [], command: spec.name, env: io.env });
    } catch {
      composed = undefined; // a broken default config still gets its help
    }
    io.stdout(commandHelp(spec, PACKAGE_ROOT, searchPath, composed?.choices ?? {}, composed?.config) + '\n');
    return EXIT_OK;
  }

  const modulePath = join(io.commandsDir, `${spec.name}.ts`);

  const user = parsed.configFile ? await loadUserConfig(parsed.configFile) : await discoverUserConfig(io.cwd);
  const searchPath = [...parsed.configDirs, ...(user?.configPaths ?? []), builtIn];
  const jobs = parsed.multirun ? expandMultirun(parsed.overrides) : [parsed.overrides];
  const now = new Date();
  for (let index = 0; index < jobs.length; index++) {
    const job = { index, count: jobs.length };
    if (jobs.length > 1) io.stderr(`[multirun] job ${index}/${jobs.length}: ${jobs[index]!.join(' ')}\n`);
    const ctx = await createContext({
      spec,
      overrides: jobs[index]!,
      userOverrides: user?.overrides ?? [],
      args: parsed.args,
      searchPath,
      workDir: io.cwd,
      now,
      job,
      env: io.env,
      log: (m) => io.stderr(m + '\n'),
    });
    let code: unknown;
    if (parsed.cfg) {
      io.stdout(YAML.stringify(ctx.config));
      code = EXIT_OK;
    } else if (spec.name === 'config') {
      code = await runConfigCommand(ctx, searchPath, io.stdout);
    } else {
      const mod = (await import(pathToFileURL(modulePath).href)) as { run?: (ctx: CommandContext) => Promise<unknown> };
      if (typeof mod.run !== 'function') throw new Error(`${modulePath} does not export run(ctx)`);
      code = await mod.run(ctx);
    }
    if (typeof code === 'number' && code !== EXIT_OK) return code;
  }
  return EXIT_OK;
}

export interface ContextOptions {
  spec: CommandSpec;
  /** this job's command-line overrides */
  overrides: readonly string[];
  /** the user config's default overrides, applied first (not on top of a saved run) */
  userOverrides: readonly string[];
  args: readonly string[];
  searchPath: readonly string[];
  workDir: string;
  now: Date;
  job: { index: number; count: number };
  env?: NodeJS.ProcessEnv;
  log: (message: string) => void;
}

/**
 * The composed config and the context of one job. For a command that reads a trained run
 * (spec.run = 'consume'), `model=<run>` (or `run_name=<run>`) picks saved_models/<run>/ and its
 * config.yaml is the base; the user config's overrides are not re-applied (they are in it already).
 */
export async function createContext(o: ContextOptions): Promise<CommandContext> {
  const { spec, workDir } = o;
  let config: SynehrConfig;
  if (spec.run === 'consume') {
    const { run, rest } = takeRunOverride(o.overrides);
    if (run !== undefined) {
      const file = runFiles(runDirPath(workDir, run)).config;
      if (!existsSync(file)) {
        const runs = await listRuns(workDir);
        const guess = didYouMean(run, runs);
        throw new SynehrError(
          'E_RUN',
          `no trained run '${run}' (${file} not found)` +
            (guess ? `; did you mean '${guess}'?` : ';') +
            ` runs in ${savedModelsDir(workDir)}: ${runs.length > 0 ? runs.join(', ') : '(none)'}`,
        );
      }
      config = compose({ searchPath: o.searchPath, overrides: rest, command: spec.name, base: readSavedRunConfig(file), env: o.env }).config;
      config.run_name = run;
    } else {
      config = compose({ searchPath: o.searchPath, overrides: [...o.userOverrides, ...o.overrides], command: spec.name, env: o.env }).config;
    }
  } else {
    const overrides = [...o.userOverrides, ...o.overrides];
    config = compose({ searchPath: o.searchPath, overrides, command: spec.name, env: o.env }).config;
    if (spec.run === 'train') {
      const base = config.run_name ?? defaultRunName(config, o.now);
      const name = o.job.count > 1 ? jobRunName(base, o.job.index) : base;
      checkRunName(name);
      if (name !== config.run_name) {
        // composed again with the final name, so that ${run_name} interpolates to it, not to null
        config = compose({ searchPath: o.searchPath, overrides: [...overrides, `++run_name='${name}'`], command: spec.name, env: o.env }).config;
      }
      // resume continues the run as it was configured: its saved config is the base, and only
      // this command line's overrides (e.g. a larger train.max_steps) apply on top; the saved
      // config's resume/overwrite are not replayed (readSavedRunConfig drops them)
      const saved = runFiles(runDirPath(workDir, name)).config;
      if (config.resume && !config.overwrite && existsSync(saved)) {
        config = compose({
          searchPath: o.searchPath,
          overrides: [...o.overrides, `++run_name='${name}'`, 'resume=true'],
          command: spec.name,
          base: readSavedRunConfig(saved),
          env: o.env,
        }).config;
      }
    }
  }

  let runDir: Promise<string> | undefined;
  const makeRunDir = async (): Promise<string> => {
    if (spec.run === 'train') return createModelRunDir(workDir, config, o.overrides);
    if (spec.run === 'consume') {
      if (config.run_name === null) {
        const runs = await listRuns(workDir);
        throw new SynehrError(
          'E_RUN',
          `synehr ${spec.name} reads a trained run: pass model=<run_name> (runs in ${savedModelsDir(workDir)}: ${runs.length > 0 ? runs.join(', ') : '(none)'})`,
        );
      }
      const dir = runDirPath(workDir, config.run_name);
      if (!existsSync(dir)) throw new SynehrError('E_RUN', `no trained run '${config.run_name}' (${dir} not found)`);
      return dir;
    }
    return createOutputsDir(workDir, config, o.overrides, o.now, o.job);
  };
  const packageRoot = PACKAGE_ROOT;
  return {
    command: spec.name,
    config,
    overrides: [...o.overrides],
    args: [...o.args],
    flags: parseFlags(o.args),
    job: o.job,
    workDir,
    packageRoot,
    resolvePath(p: string): string {
      if (p.startsWith('/')) return p;
      const inWork = join(workDir, p);
      if (existsSync(inWork)) return inWork;
      const inPackage = join(packageRoot, p);
      return existsSync(inPackage) ? inPackage : inWork;
    },
    runDir(): Promise<string> {
      runDir ??= makeRunDir();
      return runDir;
    },
    log: o.log,
  };
}

/** `model=<run>` or `run_name=<run>` (the last one wins), and the overrides without the `model=` ones. */
function takeRunOverride(overrides: readonly string[]): { run: string | undefined; rest: string[] } {
  let run: string | undefined;
  const rest: string[] = [];
  for (const text of overrides) {
    const o = parseOverride(text);
    const key = o.path.join('.');
    if ((key === 'model' || key === 'run_name') && (o.kind === 'set' || o.kind === 'force') && !o.sweep) {
      if (typeof o.value !== 'string' || o.value === '') {
        throw new SynehrError('E_CONFIG_OVERRIDE', `'${text}': ${key} names a trained run here (saved_models/<run>/), got ${JSON.stringify(o.value)}`);
      }
      checkRunName(o.value);
      run = o.value;
      if (key === 'model') continue;
    }
    rest.push(text);
  }
  return { run, rest };
}

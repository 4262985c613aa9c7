import { listGroupOptions } from '../config/files.ts';
import type { GroupName } from '../config/schema.ts';
import { COMMANDS, type CommandSpec } from './commandTable.ts';
import { groupKeyDocs, topLevelKeyDocs, type KeyDoc } from './schemaDocs.ts';

/**
 * Help texts, generated from the command table and the group schemas (types, defaults and
 * why-comments), so they cannot drift from what the config accepts.
 */

export function globalHelp(version: string): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `synehr ${version}: learn from structured health records and generate synthetic ones`,
    '',
    'Usage: synehr <command> [overrides...] [-m] [--config-dir <dir>]',
    '       synehr <command> --help',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Overrides (Hydra grammar): key=value, group=option, +key=value, ++key=value, ~key;',
    "values are YAML scalars, 'quoted' strings, lists [a,b]; ${a.b} interpolates.",
    '-m/--multirun sweeps comma lists (lr=1e-3,3e-4), one run per combination.',
    'SynEHRgy spellings work: hparams.n_ctx=1024, preprocess.bin_type=uniform, n_samples=30000.',
    '',
    'Options:',
    '  -h, --help               this text, or a command\'s keys with `synehr <command> --help`',
    '  -V, --version            the version',
    '  -m, --multirun           one job per combination of the comma-listed override values',
    '  -cd, --config-dir <dir>  a config root searched before the user config\'s and the built-in configs/',
    '  --config-file <file>     use this user config instead of discovering synehr.config.* / .synehrrc*',
    '  --cfg job                print the config the command would run with (model=<run> applied), and stop',
    '',
    'Docs: docs/cli.md (commands), docs/configuration.md (groups, overrides, aliases, user config).',
  ].join('\n');
}

/** `composed`: the group's values under the default option; a value that differs from the schema's is shown beside it. */
function keyLines(docs: readonly KeyDoc[], composed?: Record<string, unknown>, option?: string | null): string[] {
  const kw = Math.max(...docs.map((d) => d.key.length));
  const tw = Math.min(34, Math.max(...docs.map((d) => d.type.length)));
  return docs.map((d) => {
    let dflt = d.default !== undefined ? `= ${d.default}` : d.optional ? '(optional)' : '(required)';
    const value = composed?.[d.key];
    if (option && value !== undefined && !(typeof value === 'object' && value !== null)) {
      const shown = value === null ? 'null' : String(value);
      if (shown !== d.default) dflt += `  (${option}: ${shown})`;
    }
    const head = `  ${d.key.padEnd(kw)}  ${d.type.padEnd(tw)}  ${dflt}`;
    return d.text ? `${head}\n      ${d.text}` : head;
  });
}

export function commandHelp(
  spec: CommandSpec,
  packageRoot: string,
  searchPath: readonly string[],
  choices: Partial<Record<GroupName, string | null>>,
  composed?: Partial<Record<GroupName, unknown>>,
): string {
  const out = [`synehr ${spec.name}: ${spec.summary}`, '', `Usage: ${spec.usage}`];
  if (spec.run === 'consume') {
    out.push(
      '',
      "model=<run> names a trained run, saved_models/<run>/: its config.yaml is the base and the other",
      'overrides apply on top (run_name=<run> does the same).',
    );
  }
  if (spec.flags && spec.flags.length > 0) {
    const fw = Math.max(...spec.flags.map((f) => f.name.length));
    out.push('', 'Flags:', ...spec.flags.map((f) => `  ${f.name.padEnd(fw)}  ${f.text}`));
  }
  out.push(
    '',
    `Config groups read: ${spec.groups.join(', ')}. Each key: its type, the schema default and, in`,
    "parentheses, the value the group's default option gives it where that differs.",
  );
  out.push('', 'top level', ...keyLines(topLevelKeyDocs(packageRoot)));
  for (const g of spec.groups) {
    const options = listGroupOptions(searchPath, g);
    const chosen = choices[g];
    out.push(
      '',
      `${g}  (choose with ${g}=<option>: ${options.join(', ') || 'none found'}${chosen ? `; default ${chosen}` : ''})`,
      ...keyLines(groupKeyDocs(packageRoot, g), composed?.[g] as Record<string, unknown> | undefined, chosen),
    );
  }
  return out.join('\n');
}

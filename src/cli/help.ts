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
    '',
    'Docs: docs/cli.md (commands), docs/configuration.md (groups, overrides, aliases, user config).',
  ].join('\n');
}

function keyLines(docs: readonly KeyDoc[]): string[] {
  const kw = Math.max(...docs.map((d) => d.key.length));
  const tw = Math.min(34, Math.max(...docs.map((d) => d.type.length)));
  return docs.map((d) => {
    const dflt = d.default !== undefined ? `= ${d.default}` : d.optional ? '(optional)' : '(required)';
    const head = `  ${d.key.padEnd(kw)}  ${d.type.padEnd(tw)}  ${dflt}`;
    return d.text ? `${head}\n      ${d.text}` : head;
  });
}

export function commandHelp(spec: CommandSpec, packageRoot: string, searchPath: readonly string[], choices: Partial<Record<GroupName, string | null>>): string {
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
  out.push('', `Config groups read: ${spec.groups.join(', ')}. Keys show type and schema default.`);
  out.push('', 'top level', ...keyLines(topLevelKeyDocs(packageRoot)));
  for (const g of spec.groups) {
    const options = listGroupOptions(searchPath, g);
    const chosen = choices[g];
    out.push(
      '',
      `${g}  (choose with ${g}=<option>: ${options.join(', ') || 'none found'}${chosen ? `; default ${chosen}` : ''})`,
      ...keyLines(groupKeyDocs(packageRoot, g)),
    );
  }
  return out.join('\n');
}

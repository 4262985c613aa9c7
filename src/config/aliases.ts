import { SynehrError } from '../util/errors.ts';
import { didYouMean } from './didYouMean.ts';
import type { Override } from './overrides.ts';

/**
 * SynEHRgy's own spellings (its `hparams.*`, `preprocess.*` and flat generation arguments) rewritten
 * to synehr's keys before composition, so its command lines work unchanged. The table is printed in
 * docs/configuration.md; an alias with no synehr equivalent is an error that says what to use.
 */
export interface Alias {
  /** the synehr key path the alias stands for, or null when there is no equivalent */
  target: string | null;
  /** why there is no equivalent and what to use instead */
  hint?: string;
}

export const HPARAMS_ALIASES: Record<string, Alias> = {
  n_ctx: { target: 'model.n_ctx' },
  n_positions: { target: 'model.n_ctx' },
  n_layer: { target: 'model.n_layer' },
  n_embd: { target: 'model.n_embd' },
  n_head: { target: 'model.n_head' },
  mini_batch: { target: 'train.batch_size' },
  batch_size: { target: 'train.batch_size' },
  lr: { target: 'train.lr' },
  weight_decay: { target: 'train.weight_decay' },
  warmup_steps: { target: 'train.warmup_steps' },
  patience: { target: 'train.patience' },
  max_steps: { target: 'train.max_steps' },
  epochs: {
    target: null,
    hint: 'synehr counts optimizer updates, not epochs: set train.max_steps (training also stops early after train.patience evaluations without improvement)',
  },
  vocab_size: { target: null, hint: 'the vocabulary size comes from the fitted tokenizer, not from the config' },
};

/** preprocess.<key> → tokenizer.<key> for these keys (SynEHRgy's names where they differ). */
export const PREPROCESS_ALIASES: Record<string, Alias> = {
  bin_type: { target: 'tokenizer.bin_type' },
  n_bins: { target: 'tokenizer.n_bins' },
  num_bins: { target: 'tokenizer.n_bins' },
  trim_tails: { target: 'tokenizer.trim_tails' },
  age_edges: { target: 'tokenizer.age_edges' },
  gap_edges: { target: 'tokenizer.gap_edges' },
  min_count: { target: 'tokenizer.code_min_count' },
  code_min_count: { target: 'tokenizer.code_min_count' },
  strategy: { target: 'tokenizer.strategy' },
};

/** Flat top-level spellings; batch_size depends on the command (see topLevelAliases). */
export function topLevelAliases(command: string): Record<string, Alias> {
  const batch: Alias =
    command === 'train' || command === 'pipeline'
      ? { target: 'train.batch_size' }
      : command === 'generate'
        ? { target: 'generate.batch_size' }
        : { target: null, hint: `it is ambiguous for '${command}': use train.batch_size or generate.batch_size` };
  return {
    n_samples: { target: 'generate.n_samples' },
    fix_covars: { target: 'generate.fix_covars' },
    batch_size: batch,
  };
}

/** The override with an aliased key rewritten to its synehr key; other overrides pass through. */
export function resolveAlias(o: Override, command: string): Override {
  const [head, ...rest] = o.path;
  let table: Record<string, Alias> | undefined;
  let key: string;
  let prefix: string;
  if ((head === 'hparams' || head === 'preprocess') && rest.length >= 1) {
    table = head === 'hparams' ? HPARAMS_ALIASES : PREPROCESS_ALIASES;
    key = rest[0]!;
    prefix = `${head}.`;
  } else if (o.path.length === 1) {
    table = topLevelAliases(command);
    key = head!;
    prefix = '';
    if (!(key in table)) return o;
  } else {
    return o;
  }
  const alias = table[key];
  if (!alias) {
    const guess = didYouMean(key, Object.keys(table));
    throw new SynehrError(
      'E_CONFIG_KEY',
      `unknown SynEHRgy alias '${prefix}${key}' in '${o.text}'` +
        (guess ? `; did you mean '${prefix}${guess}'?` : ';') +
        ` known: ${Object.keys(table).map((k) => prefix + k).join(', ')}`,
    );
  }
  if (alias.target === null) {
    throw new SynehrError('E_CONFIG_KEY', `'${prefix}${key}' (from '${o.text}') has no synehr equivalent; ${alias.hint}`);
  }
  return { ...o, path: [...alias.target.split('.'), ...rest.slice(1)] };
}

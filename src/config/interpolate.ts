import { SynehrError } from '../util/errors.ts';
import { didYouMean } from './didYouMean.ts';
import { getPath, hasPath, isPlainObject, type Tree } from './tree.ts';

/**
 * OmegaConf-style interpolation over a composed tree:
 *   `${a.b}`                the value at a.b; a string that is exactly one interpolation keeps the
 *                           value's type (`n_ctx: ${model.n_ctx}` stays a number)
 *   `x_${a.b}_y`            embedded: the value converted to text
 *   `${.sibling}`, `${..up}` relative to the node holding the string (one dot = that node)
 *   `${oc.env:NAME}`, `${oc.env:NAME,default}`   an environment variable
 *   `\${a.b}`               a literal `${a.b}`
 * Referenced values are resolved first (recursively); a cycle is an error naming the chain.
 */
export function interpolate(root: Tree, env: NodeJS.ProcessEnv = process.env): Tree {
  const resolved = new Map<string, unknown>();
  const stack: string[] = [];

  function resolveAt(path: string[]): unknown {
    const key = path.join('.');
    if (resolved.has(key)) return resolved.get(key);
    const raw = getPath(root, path);
    if (typeof raw !== 'string' || !raw.includes('${')) return raw;
    if (stack.includes(key)) {
      const chain = [...stack.slice(stack.indexOf(key)), key].join(' -> ');
      throw new SynehrError('E_CONFIG_INTERPOLATION', `interpolation cycle: ${chain}`);
    }
    stack.push(key);
    const value = resolveString(raw, path);
    stack.pop();
    resolved.set(key, value);
    return value;
  }

  function lookup(ref: string, at: string[], whole: string): unknown {
    if (ref.startsWith('oc.env:')) {
      const [name, ...fallback] = ref.slice('oc.env:'.length).split(',');
      const v = env[name!.trim()];
      if (v !== undefined) return v;
      if (fallback.length > 0) return fallback.join(',').trim();
      throw new SynehrError(
        'E_CONFIG_INTERPOLATION',
        `interpolation '${whole}' in '${at.join('.')}': environment variable ${name!.trim()} is not set`,
      );
    }
    let target: string[];
    if (ref.startsWith('.')) {
      const dots = /^\.+/.exec(ref)![0].length;
      // one dot: the node holding the key; each further dot one level up
      target = [...at.slice(0, Math.max(0, at.length - dots)), ...ref.slice(dots).split('.').filter(Boolean)];
    } else {
      target = ref.split('.');
    }
    if (!hasPath(root, target)) {
      let i = 0;
      while (i < target.length && hasPath(root, target.slice(0, i + 1))) i++;
      const parent = getPath(root, target.slice(0, i));
      const siblings = isPlainObject(parent) ? Object.keys(parent) : [];
      const guess = didYouMean(target[i]!, siblings);
      const guessPath = guess ? [...target.slice(0, i), guess].join('.') : undefined;
      throw new SynehrError(
        'E_CONFIG_INTERPOLATION',
        `interpolation '${whole}' in '${at.join('.')}': no key '${target.join('.')}'` +
          (guessPath ? `; did you mean '${guessPath}'?` : ''),
      );
    }
    return resolveAt(target);
  }

  function resolveString(s: string, path: string[]): unknown {
    const whole = /^\$\{([^{}]+)\}$/.exec(s);
    if (whole) return lookup(whole[1]!.trim(), path, s);
    return s.replace(/(\\?)\$\{([^{}]+)\}/g, (m, escape: string, ref: string) => {
      if (escape) return m.slice(1);
      const v = lookup(ref.trim(), path, s);
      return typeof v === 'string' ? v : JSON.stringify(v);
    });
  }

  function walk(node: unknown, path: string[]): unknown {
    if (typeof node === 'string') return node.includes('${') ? resolveAt(path) : node;
    if (Array.isArray(node)) return node.map((v, i) => walk(v, [...path, String(i)]));
    if (isPlainObject(node)) {
      const out: Tree = {};
      for (const [k, v] of Object.entries(node)) out[k] = walk(v, [...path, k]);
      return out;
    }
    return node;
  }

  return walk(root, []) as Tree;
}

/**
 * Plain-object trees as YAML gives them: nested records, arrays and scalars. Paths are key
 * segments; a numeric segment indexes an array.
 */
export type Tree = Record<string, unknown>;

export function isPlainObject(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function deepClone<T>(v: T): T {
  return structuredClone(v);
}

/** `over` merged into `base` (a new tree): objects merge key by key, anything else (arrays too) replaces. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return deepClone(over);
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = k in base ? deepMerge(base[k], v) : deepClone(v);
  }
  return out;
}

function child(node: unknown, seg: string): { found: boolean; value: unknown } {
  if (Array.isArray(node)) {
    if (!/^\d+$/.test(seg)) return { found: false, value: undefined };
    const i = Number(seg);
    return i < node.length ? { found: true, value: node[i] } : { found: false, value: undefined };
  }
  if (isPlainObject(node) && Object.prototype.hasOwnProperty.call(node, seg)) return { found: true, value: node[seg] };
  return { found: false, value: undefined };
}

export function hasPath(root: unknown, path: readonly string[]): boolean {
  let node = root;
  for (const seg of path) {
    const c = child(node, seg);
    if (!c.found) return false;
    node = c.value;
  }
  return true;
}

export function getPath(root: unknown, path: readonly string[]): unknown {
  let node = root;
  for (const seg of path) {
    const c = child(node, seg);
    if (!c.found) return undefined;
    node = c.value;
  }
  return node;
}

/** Sets a value, creating intermediate objects; an array index must already be in range or append at its end. */
export function setPath(root: Tree, path: readonly string[], value: unknown): void {
  let node: unknown = root;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    const last = i === path.length - 1;
    if (Array.isArray(node)) {
      const idx = Number(seg);
      if (!/^\d+$/.test(seg) || idx > node.length) {
        throw new RangeError(`index ${seg} is out of range [0, ${node.length}] at ${path.slice(0, i).join('.')}`);
      }
      if (last) node[idx] = value;
      else {
        if (!isPlainObject(node[idx]) && !Array.isArray(node[idx])) node[idx] = {};
        node = node[idx];
      }
    } else if (isPlainObject(node)) {
      if (last) node[seg] = value;
      else {
        if (!isPlainObject(node[seg]) && !Array.isArray(node[seg])) node[seg] = {};
        node = node[seg];
      }
    } else {
      throw new TypeError(`cannot set ${path.join('.')}: ${path.slice(0, i).join('.')} is not an object`);
    }
  }
}

export function deletePath(root: Tree, path: readonly string[]): boolean {
  const parent = getPath(root, path.slice(0, -1));
  const last = path[path.length - 1]!;
  if (Array.isArray(parent) && /^\d+$/.test(last) && Number(last) < parent.length) {
    parent.splice(Number(last), 1);
    return true;
  }
  if (isPlainObject(parent) && Object.prototype.hasOwnProperty.call(parent, last)) {
    delete parent[last];
    return true;
  }
  return false;
}

/** A value as it reads in an error message: strings quoted, the rest as JSON. */
export function showValue(v: unknown): string {
  if (v === undefined) return 'undefined';
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

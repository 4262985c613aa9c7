import { SynehrError } from '../util/errors.ts';

/**
 * Hydra's override grammar, the part synehr uses:
 *
 *   key=value      change a key that exists (or choose a group's option: model=gpt)
 *   +key=value     add a key that does not exist yet (or a group not in the defaults list)
 *   ++key=value    set a key whether or not it exists
 *   ~key           delete a key (it falls back to its schema default); ~key=value only if it holds value
 *
 * Values: YAML scalars (512 → number, true → boolean, null → null, 1e-3 → number, abc → string),
 * quoted strings ('a,b' or "a b", never typed), lists [a,b], dicts {a:1,b:x}, and `${a.b}`
 * interpolations. A comma at the top level makes a sweep (`lr=1e-3,3e-4`), which needs -m; so do
 * `range(1,5)` and `choice(a,b)`.
 */
export type OverrideKind = 'set' | 'add' | 'force' | 'delete';

export interface Override {
  kind: OverrideKind;
  /** the key path, e.g. ["model", "n_ctx"] */
  path: string[];
  /** the typed value; undefined for a plain `~key` */
  value?: unknown;
  /** the value's text as written (after the first '='), undefined for a plain `~key` */
  valueText?: string;
  /** a top-level comma list: one element text per job of a multirun */
  sweep?: string[];
  /** the override as written */
  text: string;
}

const KEY = /^[A-Za-z_][\w-]*(\.([\w-]+))*$/;

function overrideError(text: string, why: string): SynehrError {
  return new SynehrError('E_CONFIG_OVERRIDE', `bad override '${text}': ${why}`);
}

export function parseOverride(text: string): Override {
  let kind: OverrideKind = 'set';
  let rest = text;
  if (rest.startsWith('++')) {
    kind = 'force';
    rest = rest.slice(2);
  } else if (rest.startsWith('+')) {
    kind = 'add';
    rest = rest.slice(1);
  } else if (rest.startsWith('~')) {
    kind = 'delete';
    rest = rest.slice(1);
  }
  const eq = rest.indexOf('=');
  if (eq < 0 && kind !== 'delete') {
    throw overrideError(text, `expected key=value (or ~key to delete a key)`);
  }
  const key = eq < 0 ? rest : rest.slice(0, eq);
  if (!KEY.test(key)) {
    throw overrideError(text, `'${key}' is not a key path (letters, digits, _ and - joined by dots, e.g. model.n_ctx)`);
  }
  const path = key.split('.');
  if (eq < 0) return { kind, path, text };
  const valueText = rest.slice(eq + 1);
  const fn = sweepFunction(valueText, text);
  if (fn) return { kind, path, text, valueText, value: undefined, sweep: fn };
  const elements = new ValueParser(valueText, text).parseTop();
  if (elements.length > 1) {
    return { kind, path, text, valueText, value: undefined, sweep: elements.map((e) => e.text) };
  }
  return { kind, path, text, valueText, value: elements[0]!.value };
}

/**
 * Hydra's sweep functions: `range(start, stop[, step])` (stop excluded, as Python's range) and
 * `choice(a, b, ...)` (the same as `a,b,...`). Returns the element texts, or undefined.
 */
function sweepFunction(valueText: string, text: string): string[] | undefined {
  const m = /^\s*(range|choice)\((.*)\)\s*$/.exec(valueText);
  if (!m) return undefined;
  if (m[1] === 'choice') {
    const elements = new ValueParser(m[2]!, text).parseTop();
    return elements.map((e) => e.text);
  }
  const args = m[2]!.split(',').map((a) => a.trim());
  const nums = args.map(Number);
  if (args.length < 2 || args.length > 3 || nums.some((x) => !Number.isFinite(x)) || nums[2] === 0) {
    throw overrideError(text, `range() takes 2 or 3 numbers (start, stop[, step ≠ 0]), got '${m[2]}'`);
  }
  const [start, stop, step = 1] = nums as [number, number, number?];
  const out: string[] = [];
  for (let x = start; step > 0 ? x < stop : x > stop; x += step) {
    out.push(String(Number(x.toPrecision(12))));
    if (out.length > 10000) throw overrideError(text, 'range() gives more than 10000 values');
  }
  if (out.length === 0) throw overrideError(text, `range(${m[2]}) is empty`);
  return out;
}

/** `key=elementText` for one job of a sweep, keeping the prefix (+, ++, ~). */
export function sweepJobText(o: Override, elementText: string): string {
  const prefix = { set: '', add: '+', force: '++', delete: '~' }[o.kind];
  return `${prefix}${o.path.join('.')}=${elementText}`;
}

// YAML 1.2 core schema scalar resolution, so `key=value` types exactly as a YAML file would.
const YAML_NULL = /^(?:~|null|Null|NULL|)$/;
const YAML_TRUE = /^(?:true|True|TRUE)$/;
const YAML_FALSE = /^(?:false|False|FALSE)$/;
const YAML_INT10 = /^[-+]?[0-9]+$/;
const YAML_INT8 = /^0o[0-7]+$/;
const YAML_INT16 = /^0x[0-9a-fA-F]+$/;
const YAML_FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
const YAML_INF = /^[-+]?\.(?:inf|Inf|INF)$/;
const YAML_NAN = /^\.(?:nan|NaN|NAN)$/;

/** A plain (unquoted) scalar typed as YAML's core schema types it. */
export function typeScalar(s: string): unknown {
  if (s === '') return '';
  if (YAML_NULL.test(s)) return null;
  if (YAML_TRUE.test(s)) return true;
  if (YAML_FALSE.test(s)) return false;
  if (YAML_INT10.test(s)) return Number(s);
  if (YAML_INT8.test(s)) return parseInt(s.slice(2), 8);
  if (YAML_INT16.test(s)) return parseInt(s.slice(2), 16);
  if (YAML_FLOAT.test(s)) return Number(s);
  if (YAML_INF.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  if (YAML_NAN.test(s)) return NaN;
  return s;
}

interface Element {
  value: unknown;
  text: string;
}

/** Recursive descent over a value's text; `pos` walks the string. */
class ValueParser {
  private pos = 0;
  constructor(
    private readonly s: string,
    private readonly override: string,
  ) {}

  private fail(why: string): never {
    throw overrideError(this.override, `${why} at column ${this.pos + 1} of the value '${this.s}'`);
  }

  private ws(): void {
    while (this.pos < this.s.length && /\s/.test(this.s[this.pos]!)) this.pos++;
  }

  parseTop(): Element[] {
    if (this.s.trim() === '') return [{ value: '', text: '' }];
    const out: Element[] = [];
    for (;;) {
      this.ws();
      const start = this.pos;
      const value = this.element(',');
      out.push({ value, text: this.s.slice(start, this.pos).trim() });
      this.ws();
      if (this.pos >= this.s.length) return out;
      if (this.s[this.pos] === ',') {
        this.pos++;
        continue;
      }
      this.fail(`unexpected '${this.s[this.pos]}'`);
    }
  }

  /** One value; `stops` are the characters that end a plain scalar in this context. */
  private element(stops: string): unknown {
    this.ws();
    const c = this.s[this.pos];
    if (c === '[') return this.list();
    if (c === '{') return this.dict();
    if (c === "'" || c === '"') {
      const q = this.quoted();
      this.ws();
      if (this.pos < this.s.length && !stops.includes(this.s[this.pos]!) && !']}'.includes(this.s[this.pos]!)) {
        this.fail('text after a closing quote');
      }
      return q;
    }
    return typeScalar(this.plain(stops));
  }

  private quoted(): string {
    const q = this.s[this.pos]!;
    this.pos++;
    let out = '';
    while (this.pos < this.s.length) {
      const c = this.s[this.pos]!;
      if (c === '\\' && (this.s[this.pos + 1] === q || this.s[this.pos + 1] === '\\')) {
        out += this.s[this.pos + 1];
        this.pos += 2;
      } else if (c === q) {
        this.pos++;
        return out;
      } else {
        out += c;
        this.pos++;
      }
    }
    this.fail(`unterminated ${q === '"' ? 'double' : 'single'} quote`);
  }

  /** A plain scalar up to a stop character outside `${...}`; trailing blanks trimmed. */
  private plain(stops: string): string {
    const start = this.pos;
    let depth = 0;
    while (this.pos < this.s.length) {
      const c = this.s[this.pos]!;
      if (c === '$' && this.s[this.pos + 1] === '{') {
        depth++;
        this.pos += 2;
        continue;
      }
      if (depth > 0) {
        if (c === '}') depth--;
        this.pos++;
        continue;
      }
      if (stops.includes(c) || c === ']' || c === '}' || c === '[' || c === '{') break;
      this.pos++;
    }
    if (depth > 0) this.fail("unclosed '${'");
    return this.s.slice(start, this.pos).trim();
  }

  private list(): unknown[] {
    this.pos++; // [
    const out: unknown[] = [];
    this.ws();
    if (this.s[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.element(','));
      this.ws();
      const c = this.s[this.pos];
      if (c === ',') this.pos++;
      else if (c === ']') {
        this.pos++;
        return out;
      } else this.fail(c === undefined ? "missing ']'" : `unexpected '${c}' in a list`);
    }
  }

  private dict(): Record<string, unknown> {
    this.pos++; // {
    const out: Record<string, unknown> = {};
    this.ws();
    if (this.s[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      const c0 = this.s[this.pos];
      const key = c0 === "'" || c0 === '"' ? this.quoted() : this.plain(':,');
      this.ws();
      if (this.s[this.pos] !== ':') this.fail(`expected ':' after the dict key '${key}'`);
      this.pos++;
      out[key] = this.element(',');
      this.ws();
      const c = this.s[this.pos];
      if (c === ',') this.pos++;
      else if (c === '}') {
        this.pos++;
        return out;
      } else this.fail(c === undefined ? "missing '}'" : `unexpected '${c}' in a dict`);
    }
  }
}

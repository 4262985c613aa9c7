import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import YAML from 'yaml';
import { parseOverride, typeScalar } from '../../src/config/overrides.ts';
import { SynehrError } from '../../src/util/errors.ts';

describe('parseOverride: the forms', () => {
  it('key=value is a set of a dotted path, typed as YAML', () => {
    expect(parseOverride('model.n_ctx=512')).toMatchObject({ kind: 'set', path: ['model', 'n_ctx'], value: 512 });
  });
  it('+key, ++key and ~key', () => {
    expect(parseOverride('+data.options.x=1')).toMatchObject({ kind: 'add', path: ['data', 'options', 'x'], value: 1 });
    expect(parseOverride('++seed=3')).toMatchObject({ kind: 'force', path: ['seed'], value: 3 });
    expect(parseOverride('~model.n_ctx')).toEqual({ kind: 'delete', path: ['model', 'n_ctx'], text: '~model.n_ctx' });
    expect(parseOverride('~model=gpt')).toMatchObject({ kind: 'delete', path: ['model'], value: 'gpt' });
  });
  it('quoted values are strings, never typed or split', () => {
    expect(parseOverride("run_name='512'").value).toBe('512');
    expect(parseOverride('run_name="a,b"').value).toBe('a,b');
    expect(parseOverride("run_name='it\\'s'").value).toBe("it's");
    expect(parseOverride('run_name="x y"').sweep).toBeUndefined();
  });
  it('lists and dicts, nested, with typed elements', () => {
    expect(parseOverride('generate.formats=[parquet, csv]').value).toEqual(['parquet', 'csv']);
    expect(parseOverride('x=[1,[2,"3"],{a: true}]').value).toEqual([1, [2, '3'], { a: true }]);
    expect(parseOverride('x={a:1, b:[x], "c d": null}').value).toEqual({ a: 1, b: ['x'], 'c d': null });
    expect(parseOverride('x=[]').value).toEqual([]);
  });
  it('empty value is the empty string, null is null, interpolations stay text', () => {
    expect(parseOverride('x=').value).toBe('');
    expect(parseOverride('x=null').value).toBeNull();
    expect(parseOverride('x=${a.b}_${c}').value).toBe('${a.b}_${c}');
    expect(parseOverride('x=${oc.env:A,b}').sweep).toBeUndefined();
  });
  it('a top-level comma list is a sweep, element texts kept for the jobs', () => {
    const o = parseOverride('train.lr=1e-3, 3e-4,[1,2]');
    expect(o.sweep).toEqual(['1e-3', '3e-4', '[1,2]']);
    expect(o.value).toBeUndefined();
  });
});

describe('parseOverride: EXPECTED FAILURE', () => {
  const cases: [string, string][] = [
    ['model.n_ctx', "bad override 'model.n_ctx': expected key=value (or ~key to delete a key)"],
    ['model..n_ctx=1', "bad override 'model..n_ctx=1': 'model..n_ctx' is not a key path (letters, digits, _ and - joined by dots, e.g. model.n_ctx)"],
    ['=1', "bad override '=1': '' is not a key path (letters, digits, _ and - joined by dots, e.g. model.n_ctx)"],
    ["x='abc", "bad override 'x='abc': unterminated single quote at column 5 of the value ''abc'"],
    ['x=[1,2', "bad override 'x=[1,2': missing ']' at column 5 of the value '[1,2'"],
    ['x={a 1}', "bad override 'x={a 1}': expected ':' after the dict key 'a 1' at column 5 of the value '{a 1}'"],
    ['x=${a.b', "bad override 'x=${a.b': unclosed '${' at column 6 of the value '${a.b'"],
    ["x='a'b", "bad override 'x='a'b': text after a closing quote at column 4 of the value ''a'b'"],
  ];
  for (const [text, message] of cases) {
    it(text, () => {
      let err: unknown;
      try {
        parseOverride(text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SynehrError);
      expect((err as SynehrError).code).toBe('E_CONFIG_OVERRIDE');
      expect((err as SynehrError).message).toBe(message);
    });
  }
});

describe('typeScalar agrees with the yaml library (core schema)', () => {
  const scalars = fc.oneof(
    fc.constantFrom('true', 'False', 'NULL', '~', 'null', '0o17', '0x1F', '.inf', '-.Inf', '1e-3', '-2.5', '+3', '007', '1.', '.5', 'abc', 'a b', 'yes', 'no', 'on', '1_000', '1e', 'Infinity'),
    fc.integer().map(String),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
    fc.stringMatching(/^[a-z][a-z0-9_.-]{0,8}$/),
  );
  it('for generated plain scalars', () => {
    fc.assert(
      fc.property(scalars, (s) => {
        const ours = typeScalar(s);
        const theirs = YAML.parse(s, { schema: 'core' });
        expect(ours).toEqual(theirs);
      }),
      { numRuns: 500 },
    );
  });
});

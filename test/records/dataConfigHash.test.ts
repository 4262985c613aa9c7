import { describe, it, expect } from 'vitest';
import { canonicalJSON, dataConfigHash } from '../../src/records/dataConfigHash.ts';
import { physionetDataConfig } from '../tokenizer/physionet.ts';

describe('dataConfigHash', () => {
  const base = physionetDataConfig;
  const withVariable = (i: number, patch: Record<string, unknown>) => ({ ...base, variables: base.variables.map((v, j) => (j === i ? { ...v, ...patch } : v)) });

  it('ignores paths, loader options and the labelling of variables (unit, UCUM, LOINC); follows what shapes the records', () => {
    const h = dataConfigHash(base);
    expect(dataConfigHash({ ...base, root: 'elsewhere', options: { x: 1 } })).toBe(h);
    expect(dataConfigHash(withVariable(0, { unit: 'IU/L', ucum: '[IU]/L', loinc: '6768-6' }))).toBe(h);
    expect(dataConfigHash(withVariable(0, { range: [0, 10] }))).not.toBe(h);
    expect(dataConfigHash({ ...base, window_hours: 48 })).not.toBe(h);
    expect(dataConfigHash({ ...base, split: { ...base.split, seed: 1 } })).not.toBe(h);
  });

  it('canonical JSON sorts keys and leaves undefined members out', () => {
    expect(canonicalJSON({ b: 1, a: [{ d: undefined, c: 'x' }] })).toBe('{"a":[{"c":"x"}],"b":1}');
  });
});

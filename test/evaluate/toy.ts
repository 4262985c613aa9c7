import type { PatientRecord, Measurement } from '../../src/records/types.ts';
import { dataConfigSchema, type DataConfig } from '../../src/records/dataConfig.ts';
import { Rng } from '../../src/util/rng.ts';

/** A small data config and a generator of records with real structure between fields. */
export const toyData: DataConfig = dataConfigSchema.parse({
  name: 'toy',
  loader: 'long',
  root: 'nowhere',
  covariates: [
    { name: 'age', type: 'numeric' },
    { name: 'sex', type: 'categorical', values: ['f', 'm'] },
  ],
  labels: [{ name: 'death', main: true, values: [0, 1] }],
  code_systems: ['X'],
  variables: [
    { name: 'HR', type: 'continuous' },
    { name: 'SBP', type: 'continuous' },
    { name: 'Temp', type: 'continuous' },
    { name: 'Vent', type: 'categorical', values: ['0', '1'] },
  ],
});

/**
 * Patients whose age drives heart rate, heart rate drives SBP and death, and codes come in
 * correlated pairs. `shift` moves every heart rate (a distribution shift for tests).
 */
export function toyRecords(n: number, seed: number, shift = 0): PatientRecord[] {
  const rng = new Rng(seed);
  const out: PatientRecord[] = [];
  for (let p = 0; p < n; p++) {
    const age = Math.round(30 + 50 * rng.float());
    const sex = rng.float() < 0.5 ? 'f' : 'm';
    const base = 60 + 0.4 * age + 8 * rng.normal() + shift;
    const nAdm = 1 + rng.int(3);
    const admissions = [];
    for (let a = 0; a < nAdm; a++) {
      const codes: string[] = [];
      const sick = base > 90;
      if (sick || rng.float() < 0.3) codes.push('X:A1', 'X:A2');
      if (rng.float() < 0.5) codes.push(`X:B${rng.int(4)}`);
      if (age > 60) codes.push('X:C1');
      const events: Measurement[] = [];
      let hours = 0;
      const steps = 2 + rng.int(6);
      for (let s = 0; s < steps; s++) {
        hours += Math.round(rng.float() * 8 * 2) / 2;
        const hr = base + 4 * rng.normal();
        events.push({ hours, variable: 'HR', value: Math.round(hr) });
        if (rng.float() < 0.7) events.push({ hours, variable: 'SBP', value: Math.round(200 - hr + 5 * rng.normal()) });
        if (rng.float() < 0.3) events.push({ hours, variable: 'Temp', value: Math.round((36.5 + rng.normal() * 0.6) * 10) / 10 });
        if (rng.float() < 0.2) events.push({ hours, variable: 'Vent', value: sick ? '1' : '0' });
      }
      admissions.push({ id: `a${p}-${a}`, codes, events });
    }
    const death = rng.float() < 1 / (1 + Math.exp(-(base - 95) / 6)) ? 1 : 0;
    out.push({ id: `p${seed}-${p}`, covariates: { age, sex: rng.float() < 0.05 ? null : sex }, labels: { death }, admissions });
  }
  return out;
}

import type { Admission, Measurement, PatientRecord } from '../records/types.ts';
import type { DataConfig } from '../records/dataConfig.ts';
import type { Rng } from '../util/rng.ts';
import { gapHours } from '../records/time.ts';

/**
 * The floor reference: a generator that keeps every field's training marginal and nothing else.
 * Each covariate and label is drawn independently from its training values (missing included);
 * the number of admissions per patient, of codes per admission and of time steps per admission
 * from their training distributions; codes from the code frequencies (without repeats inside an
 * admission); each time gap from the pooled gaps; at each time step every variable appears with
 * its training frequency per time step, and its value is drawn from its pooled training values.
 * A generator that cannot beat this has learned no dependence between fields.
 */
export function sampleIndependentMarginals(
  train: readonly PatientRecord[],
  n: number,
  rng: Rng,
  data: DataConfig,
): PatientRecord[] {
  if (train.length === 0) throw new RangeError('sampleIndependentMarginals: the training set is empty');
  const covValues = new Map<string, (number | string | null)[]>();
  for (const c of data.covariates) covValues.set(c.name, train.map((r) => r.covariates[c.name] ?? null));
  // a label left out of a record (PhysioNet's survival when no death was recorded) stays out as often
  const labelValues = new Map<string, (number | undefined)[]>();
  for (const l of data.labels) labelValues.set(l.name, train.map((r) => r.labels[l.name]));

  const nAdmissions: number[] = [];
  const nCodes: number[] = [];
  const nSteps: number[] = [];
  const codePool: string[] = [];
  const gaps: number[] = [];
  const stepCount = new Map<string, number>();
  let totalSteps = 0;
  const values = new Map<string, (number | string)[]>();
  const order = new Map(data.variables.map((v, i) => [v.name, i] as const));
  for (const r of train) {
    nAdmissions.push(r.admissions.length);
    for (const a of r.admissions) {
      nCodes.push(a.codes.length);
      codePool.push(...a.codes);
      const steps = timeSteps(a.events);
      nSteps.push(steps.length);
      let prev = 0;
      for (const s of steps) {
        gaps.push(gapHours(prev, s.hours));
        prev = s.hours;
        totalSteps++;
        for (const v of new Set(s.events.map((e) => e.variable))) stepCount.set(v, (stepCount.get(v) ?? 0) + 1);
        for (const e of s.events) {
          let pool = values.get(e.variable);
          if (!pool) values.set(e.variable, (pool = []));
          pool.push(e.value);
          if (!order.has(e.variable)) order.set(e.variable, order.size);
        }
      }
    }
  }
  const variables = [...stepCount.keys()].sort((a, b) => order.get(a)! - order.get(b)!);
  const stepProb = variables.map((v) => stepCount.get(v)! / Math.max(1, totalSteps));
  const pick = <T>(a: readonly T[]): T => a[rng.int(a.length)]!;

  const out: PatientRecord[] = [];
  for (let p = 0; p < n; p++) {
    const covariates: PatientRecord['covariates'] = {};
    for (const [name, pool] of covValues) covariates[name] = pick(pool);
    const labels: PatientRecord['labels'] = {};
    for (const [name, pool] of labelValues) {
      const v = pick(pool);
      if (v !== undefined) labels[name] = v;
    }
    const admissions: Admission[] = [];
    const na = Math.max(1, pick(nAdmissions));
    for (let a = 0; a < na; a++) {
      const codes: string[] = [];
      const want = codePool.length ? pick(nCodes) : 0;
      const seen = new Set<string>();
      // rejection keeps codes distinct; the attempt cap stops on a tiny code pool
      for (let tries = 0; codes.length < want && tries < want * 20; tries++) {
        const c = pick(codePool);
        if (!seen.has(c)) {
          seen.add(c);
          codes.push(c);
        }
      }
      const events: Measurement[] = [];
      const steps = variables.length ? pick(nSteps) : 0;
      let hours = 0;
      for (let s = 0; s < steps; s++) {
        hours += pick(gaps);
        const at: string[] = [];
        for (let v = 0; v < variables.length; v++) if (rng.float() < stepProb[v]!) at.push(variables[v]!);
        // a time step holds at least one measurement; draw one by its frequency if none came up
        if (at.length === 0) at.push(drawWeighted(variables, stepProb, rng));
        for (const v of at) events.push({ hours, variable: v, value: pick(values.get(v)!) });
      }
      admissions.push({ id: `m${p}-${a}`, codes, events });
    }
    out.push({ id: `marginal-${p}`, covariates, labels, admissions });
  }
  return out;
}

/** Events grouped by identical time stamps, in time order. */
export function timeSteps(events: readonly Measurement[]): { hours: number; events: Measurement[] }[] {
  const out: { hours: number; events: Measurement[] }[] = [];
  for (const e of events) {
    const last = out[out.length - 1];
    if (last && last.hours === e.hours) last.events.push(e);
    else out.push({ hours: e.hours, events: [e] });
  }
  return out;
}

function drawWeighted(items: string[], w: number[], rng: Rng): string {
  let total = 0;
  for (const x of w) total += x;
  let u = rng.float() * total;
  for (let i = 0; i < items.length; i++) {
    u -= w[i]!;
    if (u < 0) return items[i]!;
  }
  return items[items.length - 1]!;
}

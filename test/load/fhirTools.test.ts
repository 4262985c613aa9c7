import { beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { readDataConfigFile } from '../../src/records/dataConfig.ts';
import type { PatientRecord } from '../../src/records/types.ts';
import { loadSource } from '../../src/sources/index.ts';
import { patientBundle, type TransactionBundle } from '../../src/load/fhir.ts';
import { specsFromDataConfig } from '../../src/load/exportData.ts';
import { variableCodeBook } from '../../src/load/variableCodes.ts';
import { checkProfile, r4Profile } from './fhirProfiles.ts';

/**
 * The FHIR export of real records (the first PhysioNet 2012 patients and the MIMIC-III demo cut)
 * against the tools a FHIR user runs: NLM's UCUM library for every Quantity, HL7's R4 vital-signs
 * profiles (their StructureDefinitions and FHIRPath invariants), and a transaction's idempotency
 * (every entry a conditional create on an identifier it carries).
 */
const ROOT = resolve(import.meta.dirname, '../..');
const ucum = (createRequire(import.meta.url)('@lhncbc/ucum-lhc') as { UcumLhcUtils: { getInstance(): { validateUnitString(c: string): { status: string; ucumCode: string | null } } } }).UcumLhcUtils.getInstance();
type Json = Record<string, any>;

const sets: { name: string; bundles: TransactionBundle[] }[] = [];
beforeAll(async () => {
  for (const [config, root, n] of [['physionet2012', 'data/physionet2012', 8], ['mimic3_demo', 'test/fixtures/mimic3', 2]] as const) {
    const data = { ...(await readDataConfigFile(join(ROOT, 'configs/data', `${config}.yaml`))), root };
    const records: PatientRecord[] = [];
    for await (const r of loadSource(data, (p) => resolve(ROOT, p))) {
      records.push(r);
      if (records.length >= n) break;
    }
    const codes = variableCodeBook(specsFromDataConfig(data));
    sets.push({ name: config, bundles: records.map((r, i) => patientBundle(r, i, codes)) });
  }
});

const observations = (bundles: TransactionBundle[]) => bundles.flatMap((b) => b.entry.map((e) => e.resource as Json)).filter((r) => r['resourceType'] === 'Observation');

describe('FHIR export of real records, checked by the field\'s own tools', () => {
  it('UCUM: every Quantity has system http://unitsofmeasure.org and a code that NLM\'s ucum-lhc validates', () => {
    for (const { name, bundles } of sets) {
      const quantities = observations(bundles).map((o) => o['valueQuantity']).filter(Boolean);
      expect(quantities.length, name).toBeGreaterThan(500);
      const bad = quantities.filter((q) => q.system !== 'http://unitsofmeasure.org' || typeof q.code !== 'string' || ucum.validateUnitString(q.code).status !== 'valid' || typeof q.unit !== 'string');
      expect(bad.slice(0, 3), name).toEqual([]);
    }
  });

  it('LOINC: every variable that has a code gets it, Urine, FiO2, PaO2 and GCS among them', () => {
    const coded = new Map<string, string>();
    for (const { bundles } of sets) for (const o of observations(bundles)) if (o['code'].coding) coded.set(o['code'].text, o['code'].coding[0].code);
    expect(Object.fromEntries(['Urine', 'FiO2', 'PaO2', 'GCS', 'HR', 'Glascow coma scale eye opening'].filter((v) => coded.has(v)).map((v) => [v, coded.get(v)]))).toEqual({
      Urine: '9187-6', FiO2: '3150-0', PaO2: '2703-7', GCS: '9269-2', HR: '8867-4', 'Glascow coma scale eye opening': '9267-6',
    });
    // MechVent (PhysioNet) and capillary refill (MIMIC) are the only variables without one
    const uncoded = new Set<string>();
    for (const { bundles } of sets) for (const o of observations(bundles)) if (!o['code'].coding) uncoded.add(o['code'].text);
    for (const v of uncoded) expect(['MechVent', 'Capillary refill rate']).toContain(v);
  });

  it("HL7's vital-signs profiles: Observations that claim one meet it (40 per profile and data set), and every vital sign claims the profile HL7 defines for its code", () => {
    const fixedCode = new Map<string, string>();
    for (const id of ['heartrate', 'resprate', 'bodytemp', 'bodyweight', 'bodyheight', 'oxygensat']) {
      const sd = r4Profile(id);
      const code = sd.snapshot.element.find((e) => /^Observation\.code\.coding:[^.]+\.code$/.test(e.id))!['fixedCode'] as string;
      fixedCode.set(code, sd.url);
    }
    const seen = new Map<string, number>();
    for (const { name, bundles } of sets) {
      for (const o of observations(bundles)) {
        const profiles: string[] = o['meta']?.profile ?? [];
        const loinc = o['code'].coding?.[0]?.code;
        if (o['valueQuantity'] && fixedCode.has(loinc)) expect(profiles, `${name} ${loinc}`).toEqual([fixedCode.get(loinc)]);
        for (const url of profiles) {
          const id = url.split('/').at(-1)!;
          // the first 40 of each profile and data set: FHIRPath over every invariant is ~3 ms an Observation
          const k = `${name} ${id}`;
          seen.set(k, (seen.get(k) ?? 0) + 1);
          if (seen.get(k)! > 40) continue;
          expect(checkProfile(o, r4Profile(id)), `${name} ${o['code'].text} against ${url}`).toEqual([]);
        }
      }
    }
    // both data sets have heart rate, respiratory rate, temperature and oxygen saturation; PhysioNet weight; systolic BP alone meets the base profile
    const profiles = new Set([...seen.keys()].map((k) => k.split(' ')[1]));
    for (const p of ['heartrate', 'resprate', 'bodytemp', 'oxygensat', 'bodyweight', 'vitalsigns']) expect(profiles, p).toContain(p);
  });

  it('EXPECTED FAILURE - the profile check rejects a heart rate without UCUM, one in a wrong unit, and one without a vital-signs category', () => {
    const o = observations(sets[0]!.bundles).find((x) => x['code'].coding?.[0]?.code === '8867-4')!;
    const hr = r4Profile('heartrate');
    expect(checkProfile(o, hr)).toEqual([]);
    const noUcum = { ...o, valueQuantity: { value: 80, unit: 'bpm' } };
    expect(checkProfile(noUcum, hr)).toEqual(['Observation.value[x]:valueQuantity.system: 0 values, at least 1 required', 'Observation.value[x]:valueQuantity.code: 0 values, at least 1 required']);
    const wrongUnit = { ...o, valueQuantity: { ...o['valueQuantity'], code: '/h' } };
    expect(checkProfile(wrongUnit, hr)).toEqual(['Observation.value[x]:valueQuantity.code: "/h" is not the fixed value "/min"']);
    const { category: _, ...noCategory } = o;
    expect(checkProfile(noCategory, hr)).toContain('Observation.category:VSCat: 0 values, at least 1 required');
  });

  it('idempotent: every entry is a conditional create on an identifier of its own resource, and no two entries share one', () => {
    for (const { name, bundles } of sets) {
      const keys = new Set<string>();
      for (const b of bundles) {
        for (const e of b.entry) {
          expect(e.request.method, name).toBe('POST');
          const m = /^identifier=([^|]+)\|(.+)$/.exec(e.request.ifNoneExist ?? '');
          expect(m, `${name} ${e.resource.resourceType}`).not.toBeNull();
          const ids = (e.resource['identifier'] as { system: string; value: string }[]).map((i) => `${i.system}|${i.value}`);
          expect(ids).toContain(`${m![1]}|${decodeURIComponent(m![2]!)}`);
          expect(keys.has(`${e.resource.resourceType} ${m![0]}`)).toBe(false);
          keys.add(`${e.resource.resourceType} ${m![0]}`);
        }
      }
    }
  });
});

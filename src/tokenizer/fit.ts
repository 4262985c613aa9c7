/**
 * Fitting a tokenizer on the training split: value bins and within-bin quantiles, categorical and
 * label values, the code vocabulary and the vocabulary order (see tokenizer.ts for the layout).
 */
import type { PatientRecord } from '../records/types.ts';
import type { DataConfig } from '../records/dataConfig.ts';
import { dataConfigHash } from '../records/dataConfigHash.ts';
import { tokenizerConfigSchema, type TokenizerConfig } from './config.ts';
import { binCount, binIndex, fitBinSet, fitValueEdges, type BinSet } from './bins.ts';
import { INDEPENDENT, fitSeriesModel } from './series.ts';
import { Tokenizer } from './tokenizer.ts';
import { SPECIAL_IDS, SPECIAL_TOKENS, type Categories, type FittedCovariate, type FittedLabel, type FittedVariable } from './vocabulary.ts';
import { categoryKey, checkCodeSystem, firstDuplicate, listNames, sortedByHours } from './input.ts';
import { gapHours } from '../records/time.ts';
import { SynehrError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';

/** min_step of the first gap bin is never below this (a micro-hour): far below any clock, far above float32's smallest. */
const MIN_GAP_RESOLUTION_HOURS = 1e-6;

/** The smallest gap decoding puts between two time steps of one admission when a bin offers none: one minute. */
export const MIN_STEP_GAP_HOURS = 1 / 60;

/**
 * Fits a tokenizer on `records`, which must be the training split only: value bins, within-bin
 * quantiles, categorical values, label values and the code vocabulary all come from them.
 */
export function fitTokenizer(records: PatientRecord[], data: DataConfig, cfgIn: TokenizerConfig): Tokenizer {
  const cfg = tokenizerConfigSchema.parse(cfgIn);
  checkNames(data);
  if (cfg.gap_edges !== 'fit') {
    checkEdges(cfg.gap_edges, 'tokenizer.gap_edges');
    const tiny = cfg.gap_edges.find((e) => e > 0 && e < MIN_GAP_RESOLUTION_HOURS);
    if (tiny !== undefined) {
      throw new SynehrError('E_CONFIG_VALUE', `tokenizer.gap_edges: edge ${tiny} h is closer to 0 than ${MIN_GAP_RESOLUTION_HOURS} h; gap bins must hold positive gaps`);
    }
  }
  checkEdges(cfg.age_edges, 'tokenizer.age_edges');
  if (cfg.delta_bins > 0 && cfg.strategy !== 'joint') {
    throw new SynehrError('E_CONFIG_VALUE', `tokenizer.delta_bins: ${cfg.delta_bins} needs tokenizer.strategy=joint (relative bins replace joint (variable, bin) tokens), not ${cfg.strategy}`);
  }
  const M = cfg.value_atoms;
  const vocab: string[] = [...SPECIAL_TOKENS];

  // training statistics: values per numeric covariate / label / continuous variable, values seen
  // per categorical one, code counts, and the gaps between time steps
  const covNum = data.covariates.map(() => [] as number[]);
  const covCat = data.covariates.map(() => new Map<string, boolean>()); // value -> was a number
  const covIdx = new Map(data.covariates.map((c, i) => [c.name, i]));
  const labelIdx = new Map(data.labels.map((l, i) => [l.name, i]));
  const labelSeen = data.labels.map(() => [] as number[]);
  const varIdx = new Map(data.variables.map((v, i) => [v.name, i]));
  const varNum = data.variables.map(() => [] as number[]);
  const varCat = data.variables.map(() => new Map<string, boolean>());
  const codeCount = new Map<string, number>();
  const gaps: number[] = [];
  // per continuous variable, each patient's values in time order (admissions in order): the series models' data
  const varSeries = data.variables.map(() => [] as number[][]);
  const covMissing = new Int32Array(data.covariates.length);
  const labelMissing = new Int32Array(data.labels.length);
  let lastHours = -Infinity;

  for (const p of records) {
    const where = `patient ${p.id}`;
    data.covariates.forEach((c, i) => {
      if (p.covariates[c.name] === null || p.covariates[c.name] === undefined) covMissing[i]++;
    });
    data.labels.forEach((l, i) => {
      if (p.labels[l.name] === null || p.labels[l.name] === undefined) labelMissing[i]++;
    });
    const patientSeries = new Map<number, number[]>();
    for (const [key, v] of Object.entries(p.covariates)) {
      const i = covIdx.get(key);
      if (i === undefined) {
        throw new SynehrError('E_INPUT', `${where}: covariate '${key}' is not in data config '${data.name}' (covariates: ${listNames(data.covariates)})`);
      }
      if (v === null || v === undefined) continue;
      const spec = data.covariates[i]!;
      if (spec.type === 'numeric') {
        if (typeof v !== 'number' || !Number.isFinite(v)) {
          throw new SynehrError('E_INPUT', `${where}: covariate '${key}' = ${JSON.stringify(v)} is not a finite number`);
        }
        covNum[i]!.push(v);
      } else {
        covCat[i]!.set(categoryKey(v, () => `${where}: covariate '${key}'`), typeof v === 'number');
      }
    }
    for (const [key, v] of Object.entries(p.labels)) {
      if (v === null || v === undefined) continue;
      const i = labelIdx.get(key);
      if (i === undefined) {
        throw new SynehrError('E_INPUT', `${where}: label '${key}' is not in data config '${data.name}' (labels: ${listNames(data.labels)})`);
      }
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new SynehrError('E_INPUT', `${where}: label '${key}' = ${JSON.stringify(v)} is not a finite number`);
      }
      labelSeen[i]!.push(v);
    }
    if (p.admissions.length === 0) throw new SynehrError('E_INPUT', `${where}: has no admissions (a record needs at least one)`);
    for (const adm of p.admissions) {
      const awhere = `${where}, admission ${adm.id}`;
      for (const code of adm.codes) {
        checkCodeSystem(code, data.code_systems, awhere);
        codeCount.set(code, (codeCount.get(code) ?? 0) + 1);
      }
      const sorted = sortedByHours(adm.events, awhere);
      // gaps between distinct hours, the first from the admission start (as encodeEvents emits them)
      let prev = 0;
      let step = Number.NaN;
      for (let ei = 0; ei < sorted.length; ei++) {
        const e = sorted[ei]!;
        if (e.hours !== step) {
          gaps.push(gapHours(prev, e.hours));
          prev = step = e.hours;
        }
        const vi = varIdx.get(e.variable);
        if (vi === undefined) {
          throw new SynehrError(
            'E_INPUT',
            `${awhere}, event ${ei} (hours ${e.hours}): variable '${e.variable}' is not in data config '${data.name}' (variables: ${listNames(data.variables)})`,
          );
        }
        const spec = data.variables[vi]!;
        if (spec.type === 'continuous') {
          if (typeof e.value !== 'number' || !Number.isFinite(e.value)) {
            throw new SynehrError('E_INPUT', `${awhere}, event ${ei} (hours ${e.hours}): '${e.variable}' = ${JSON.stringify(e.value)} is not a finite number`);
          }
          varNum[vi]!.push(e.value);
          let ser = patientSeries.get(vi);
          if (!ser) patientSeries.set(vi, (ser = []));
          ser.push(e.value);
        } else {
          varCat[vi]!.set(categoryKey(e.value, () => `${awhere}, event ${ei}: '${e.variable}'`), typeof e.value === 'number');
        }
      }
      if (sorted.length > 0) lastHours = Math.max(lastHours, sorted[sorted.length - 1]!.hours);
    }
    for (const [vi, ser] of patientSeries) varSeries[vi]!.push(ser);
  }
  const present = records.length > 0;

  const fitNumeric = (values: number[], edges?: number[], range?: [number, number]): BinSet => {
    if (edges) return fitBinSet(edges, values, M);
    if (values.length === 0) {
      // never observed in training: one bin over the plausible range from the data config (or [0, 0])
      return fitBinSet(range && range[1] > range[0] ? [range[0], range[1]] : [0, 0], [], M);
    }
    return fitBinSet(fitValueEdges(values, cfg.bin_type, cfg.n_bins, cfg.trim_tails, { atomShare: cfg.atom_share, tailGrowth: cfg.tail_growth }), values, M);
  };
  const fitCategories = (declared: string[] | undefined, seen: Map<string, boolean>, what: string): Categories => {
    if (declared && declared.length > 0) {
      for (const v of seen.keys()) {
        if (!declared.includes(v)) {
          throw new SynehrError('E_INPUT', `${what}: training value ${JSON.stringify(v)} is not among the declared values (${declared.join(', ')})`);
        }
      }
      const numeric = seen.size > 0 ? [...seen.values()].every((b) => b) : declared.every(isNumericString);
      return { values: [...declared], numeric };
    }
    const values = [...seen.keys()];
    const numeric = values.length > 0 && [...seen.values()].every((b) => b);
    values.sort(numeric ? (a, b) => Number(a) - Number(b) : undefined);
    return { values, numeric };
  };

  const covariates: FittedCovariate[] = data.covariates.map((spec, i) => {
    const offset = vocab.length;
    if (spec.type === 'numeric') {
      const bins = fitNumeric(covNum[i]!, /^age$/i.test(spec.name) ? cfg.age_edges : undefined, spec.range);
      for (let k = 0; k < binCount(bins); k++) vocab.push(`cov:${spec.name}:b${k}`);
      const missing = vocab.length;
      vocab.push(`cov:${spec.name}:missing`);
      return { name: spec.name, type: 'numeric', bins, offset, missing, required: present && covMissing[i] === 0 };
    }
    const categories = fitCategories(spec.values, covCat[i]!, `covariate '${spec.name}'`);
    categories.values.forEach((v) => vocab.push(`cov:${spec.name}=${v}`));
    const missing = vocab.length;
    vocab.push(`cov:${spec.name}:missing`);
    return { name: spec.name, type: 'categorical', categories, offset, missing, required: present && covMissing[i] === 0 };
  });

  const labels: FittedLabel[] = data.labels.map((spec, i) => {
    const offset = vocab.length;
    const required = present && labelMissing[i] === 0;
    let values: number[];
    const distinct = [...new Set(labelSeen[i]!)];
    if (spec.values && spec.values.length > 0) {
      for (const v of distinct) {
        if (!spec.values.includes(v)) {
          throw new SynehrError('E_INPUT', `label '${spec.name}': training value ${v} is not among the declared values (${spec.values.join(', ')})`);
        }
      }
      values = [...spec.values];
    } else if (distinct.length > cfg.label_max_values) {
      const bins = fitNumeric(labelSeen[i]!);
      for (let k = 0; k < binCount(bins); k++) vocab.push(`label:${spec.name}:b${k}`);
      return { name: spec.name, values: [], bins, offset, required };
    } else values = distinct.sort((a, b) => a - b);
    values.forEach((v) => vocab.push(`label:${spec.name}=${v}`));
    return { name: spec.name, values, offset, required };
  });

  const codeList = [...codeCount.entries()]
    .filter(([, c]) => c >= cfg.code_min_count)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const codes = { offset: vocab.length, values: codeList.map(([c]) => c), counts: codeList.map(([, n]) => n) };
  codes.values.forEach((c) => vocab.push(c));

  // every gap bin must hold positive gaps (a later time step is later), at a resolution float32 keeps:
  // fitted edges closer to 0 than MIN_GAP_RESOLUTION_HOURS are dropped
  const gapEdges =
    cfg.gap_edges !== 'fit'
      ? cfg.gap_edges
      : gaps.length > 0
        ? fitValueEdges(gaps, 'quantile', cfg.gap_bins, cfg.trim_tails, { atomShare: cfg.atom_share, tailGrowth: cfg.tail_growth })
            // on the grid gaps are measured on (gapHours), so a gap and an edge compare the same after rounding
            .map((e) => gapHours(0, e))
            .filter((e, i, all) => i === 0 || (e >= MIN_GAP_RESOLUTION_HOURS && e > all[i - 1]!) || (i === all.length - 1 && e === all[i - 1]!))
        : [0, 1];
  const gapBins = fitBinSet(gapEdges, gaps, M);
  const gapsFitted = { offset: vocab.length, bins: gapBins, min_step: minSteps(gapBins, gaps) };
  for (let k = 0; k < binCount(gapBins); k++) vocab.push(`gap:b${k}`);

  const joint = cfg.strategy === 'joint';
  const variables: FittedVariable[] = data.variables.map((spec, i) => {
    const offset = vocab.length;
    if (spec.type === 'continuous') {
      const bins = fitNumeric(varNum[i]!, undefined, spec.range);
      if (joint) for (let k = 0; k < binCount(bins); k++) vocab.push(`${spec.name}:b${k}`);
      else vocab.push(`var:${spec.name}`);
      const series = cfg.decode === 'smooth' ? fitSeriesModel(varSeries[i]!, bins, new Rng(seriesSeed(spec.name))) : INDEPENDENT;
      const perPatient = () => (records.length > 0 ? varSeries[i]!.reduce((n, ser) => n + ser.length, 0) / records.length : 0);
      const steps = cfg.delta_bins > 0 && (cfg.delta_max_per_patient === null || perPatient() <= cfg.delta_max_per_patient);
      if (!steps) return { name: spec.name, type: 'continuous', bins, series, offset };
      const deltaOffset = vocab.length;
      for (let d = -cfg.delta_bins; d <= cfg.delta_bins; d++) vocab.push(`${spec.name}:d${d < 0 ? '' : '+'}${d}`);
      return { name: spec.name, type: 'continuous', bins, series, offset, delta_offset: deltaOffset };
    }
    const categories = fitCategories(spec.values, varCat[i]!, `variable '${spec.name}'`);
    categories.values.forEach((v) => vocab.push(`${spec.name}=${v}`));
    return { name: spec.name, type: 'categorical', categories, offset };
  });
  let sharedBins: { offset: number; count: number } | null = null;
  if (!joint) {
    const count = Math.max(1, ...variables.map((v) => (v.bins ? binCount(v.bins) : 0)));
    sharedBins = { offset: vocab.length, count };
    for (let k = 0; k < count; k++) vocab.push(`bin:${k}`);
  }

  const dup = firstDuplicate(vocab);
  if (dup !== null) {
    throw new SynehrError('E_CONFIG_VALUE', `data config '${data.name}': two tokens are both named '${dup}' (a code spelled like a variable token?)`);
  }

  return new Tokenizer({
    data_name: data.name,
    data_config_hash: dataConfigHash(data),
    config: cfg,
    special: { ...SPECIAL_IDS },
    vocab,
    covariates,
    labels,
    code_systems: [...data.code_systems],
    codes,
    gaps: gapsFitted,
    variables,
    shared_bins: sharedBins,
    // the latest training event, rounded up to a tenth of a micro-hour: decoded times are sums of
    // gaps measured to 1e-9 h, which can land a few grid steps past the raw hours they came from
    window_hours: data.window_hours ?? (Number.isFinite(lastHours) && lastHours > 0 ? Math.ceil(lastHours * 1e7) / 1e7 : null),
  });
}

/**
 * Per gap bin, the smallest gap a time step after the first can be given: the bin's lower edge when
 * it is above 0 (every gap of the bin is at least that), and for a bin starting at 0 its smallest
 * positive training gap, else a minute or half the bin. The decoder can always give this value, and
 * every real gap of the bin is at least this (an unseen smaller one in bin 0 aside), so a real
 * admission inside the window keeps a sum of these inside it too.
 */
function minSteps(bins: BinSet, gaps: readonly number[]): number[] {
  let smallest = Infinity;
  for (const g of gaps) if (g > 0 && g < smallest && binIndex(bins.edges, g) === 0) smallest = g;
  return bins.edges.slice(0, -1).map((lo, k) => {
    if (lo > 0) return lo;
    const hi = bins.edges[k + 1]!;
    // at least MIN_GAP_RESOLUTION_HOURS: the sampler adds these up in float32
    if (k === 0 && Number.isFinite(smallest)) return Math.max(smallest, Math.min(MIN_GAP_RESOLUTION_HOURS, hi / 2));
    return hi > 0 ? Math.min(MIN_STEP_GAP_HOURS, hi / 2) : MIN_STEP_GAP_HOURS;
  });
}

/** A fixed seed per variable for the series fit's simulation, so refitting gives the same file. */
function seriesSeed(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function isNumericString(s: string): boolean {
  return s.trim() !== '' && Number.isFinite(Number(s));
}

function checkNames(data: DataConfig): void {
  for (const [group, xs] of [
    ['covariates', data.covariates],
    ['labels', data.labels],
    ['variables', data.variables],
  ] as const) {
    const d = firstDuplicate(xs.map((x) => x.name));
    if (d !== null) throw new SynehrError('E_CONFIG_VALUE', `data.${group}: '${d}' is declared twice`);
  }
}

function checkEdges(edges: number[], key: string): void {
  if (edges.length < 2) throw new SynehrError('E_CONFIG_VALUE', `${key}: needs at least 2 edges, got ${JSON.stringify(edges)}`);
  for (let i = 1; i < edges.length; i++) {
    if (!(edges[i]! > edges[i - 1]!)) {
      throw new SynehrError('E_CONFIG_VALUE', `${key}: edges must be strictly ascending, got ${edges[i - 1]} then ${edges[i]}`);
    }
  }
}

/**
 * ICD-9-CM -> ICD-10-CM through the CMS General Equivalence Mappings (2018_I9gem.txt: fixed-width
 * lines `source target flags`, flags = approximate, no map, combination, scenario, choice list).
 *
 * One ICD-9 code becomes:
 *  - no map (flag 2 = 1): nothing; the caller keeps the ICD-9 code or drops it;
 *  - a combination (flag 3 = 1): one target per choice list of the first scenario (together they
 *    say what the ICD-9 code said, e.g. a diabetes complication = diabetes code + complication code);
 *  - otherwise the first listed target (the GEM lists alternatives of a one-to-many in order).
 */
import { readFile } from 'node:fs/promises';
import { inputError } from '../util/errors.ts';

export class IcdGem {
  private constructor(private readonly map: ReadonlyMap<string, readonly string[]>) {}

  get size(): number {
    return this.map.size;
  }

  static async load(path: string): Promise<IcdGem> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      throw inputError(path, undefined, `cannot read the GEM file (${(e as Error).message})`);
    }
    // source -> scenario -> choice list -> first target
    const combos = new Map<string, Map<string, Map<string, string>>>();
    const firsts = new Map<string, string>();
    const noMap = new Set<string>();
    const lines = text.split(/\r?\n/);
    for (let n = 0; n < lines.length; n++) {
      const line = lines[n]!.trim();
      if (line === '') continue;
      const f = line.split(/\s+/);
      if (f.length !== 3 || !/^[01]{3}\d\d$/.test(f[2]!)) throw inputError(path, n + 1, `expected "source target flags" (5 flag digits), got ${JSON.stringify(line)}`);
      const [src, tgt, flags] = f as [string, string, string];
      if (flags[1] === '1') {
        noMap.add(src);
        continue;
      }
      if (flags[2] === '1') {
        let byScenario = combos.get(src);
        if (!byScenario) combos.set(src, (byScenario = new Map()));
        let choices = byScenario.get(flags[3]!);
        if (!choices) byScenario.set(flags[3]!, (choices = new Map()));
        if (!choices.has(flags[4]!)) choices.set(flags[4]!, tgt);
      } else if (!firsts.has(src)) firsts.set(src, tgt);
    }
    const map = new Map<string, readonly string[]>();
    for (const [src, tgt] of firsts) map.set(src, [tgt]);
    for (const [src, byScenario] of combos) {
      const first = [...byScenario.keys()].sort()[0]!;
      const choices = byScenario.get(first)!;
      map.set(src, [...choices.keys()].sort().map((k) => choices.get(k)!));
    }
    for (const src of noMap) if (!map.has(src)) map.set(src, []);
    return new IcdGem(map);
  }

  /** ICD-10-CM codes (no dots) for an ICD-9-CM code (no dots), [] for "no map", undefined if unlisted. */
  map9to10(icd9: string): readonly string[] | undefined {
    return this.map.get(icd9.replace('.', '').trim());
  }
}

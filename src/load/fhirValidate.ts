/**
 * The checks a FHIR R4 server makes of a transaction Bundle before it processes it, for the
 * resource types the FHIR export writes: the Bundle invariants (bdl-2, bdl-3, bdl-4, bdl-7, bdl-8)
 * and each resource's required elements (cardinality 1..1 / 1..*) with their value sets where they
 * are required bindings. Returns one message per problem, naming the entry; [] means valid.
 */

const BUNDLE_TYPES = ['document', 'message', 'transaction', 'transaction-response', 'batch', 'batch-response', 'history', 'searchset', 'collection'];
const HTTP_VERBS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'];
const ENCOUNTER_STATUS = ['planned', 'arrived', 'triaged', 'in-progress', 'onleave', 'finished', 'cancelled', 'entered-in-error', 'unknown'];
const OBSERVATION_STATUS = ['registered', 'preliminary', 'final', 'amended', 'corrected', 'cancelled', 'entered-in-error', 'unknown'];
const EVENT_STATUS = ['preparation', 'in-progress', 'not-done', 'on-hold', 'stopped', 'completed', 'entered-in-error', 'unknown'];
const GENDER = ['male', 'female', 'other', 'unknown'];
// FHIR's dateTime/date regex (R4 datatypes), simplified to what matters: a full date, optional time with zone
const DATE = /^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$/;
const DATE_TIME = /^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01])(T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00)))?)?)?$/;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCodeableConcept(v: unknown): boolean {
  if (!isObject(v)) return false;
  const coding = v['coding'];
  const hasCoding = Array.isArray(coding) && coding.length > 0 && coding.every((c) => isObject(c) && typeof c['code'] === 'string' && typeof c['system'] === 'string');
  return hasCoding || (typeof v['text'] === 'string' && v['text'].length > 0);
}

function isReference(v: unknown): boolean {
  return isObject(v) && typeof v['reference'] === 'string' && v['reference'].length > 0;
}

/** Every { reference } in a resource, for resolution within the Bundle. */
function references(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) for (const x of v) references(x, out);
  else if (isObject(v)) {
    if (typeof v['reference'] === 'string') out.push(v['reference']);
    for (const x of Object.values(v)) references(x, out);
  }
  return out;
}

/** FHIR strings are never empty: paths of the empty ones in a resource. */
function emptyStrings(v: unknown, path: string, out: string[] = []): string[] {
  if (v === '') out.push(path);
  else if (Array.isArray(v)) v.forEach((x, i) => emptyStrings(x, `${path}[${i}]`, out));
  else if (isObject(v)) for (const [k, x] of Object.entries(v)) emptyStrings(x, path ? `${path}.${k}` : k, out);
  return out;
}

function checkResource(r: Json, where: string, problems: string[]): void {
  for (const p of emptyStrings(r, '')) problems.push(`${where} (${String(r['resourceType'])}): ${p} is an empty string; FHIR values are never empty`);
  const need = (ok: boolean, what: string) => {
    if (!ok) problems.push(`${where} (${String(r['resourceType'])}): ${what}`);
  };
  switch (r['resourceType']) {
    case 'Patient':
      need(r['gender'] === undefined || GENDER.includes(String(r['gender'])), `gender ${JSON.stringify(r['gender'])} is not one of ${GENDER.join('|')}`);
      need(r['birthDate'] === undefined || DATE.test(String(r['birthDate'])), `birthDate ${JSON.stringify(r['birthDate'])} is not a FHIR date`);
      need(!(r['deceasedBoolean'] !== undefined && r['deceasedDateTime'] !== undefined), 'deceased[x] given twice');
      break;
    case 'Encounter':
      need(ENCOUNTER_STATUS.includes(String(r['status'])), `status is required, one of ${ENCOUNTER_STATUS.join('|')}; got ${JSON.stringify(r['status'])}`);
      need(isObject(r['class']) && typeof (r['class'] as Json)['code'] === 'string', 'class (a Coding with a code) is required');
      break;
    case 'Condition':
      need(isReference(r['subject']), 'subject (a Reference) is required');
      break;
    case 'Procedure':
      need(EVENT_STATUS.includes(String(r['status'])), `status is required, one of ${EVENT_STATUS.join('|')}; got ${JSON.stringify(r['status'])}`);
      need(isReference(r['subject']), 'subject (a Reference) is required');
      break;
    case 'Observation': {
      need(OBSERVATION_STATUS.includes(String(r['status'])), `status is required, one of ${OBSERVATION_STATUS.join('|')}; got ${JSON.stringify(r['status'])}`);
      need(isCodeableConcept(r['code']), 'code (a CodeableConcept with a coding or text) is required');
      const values = Object.keys(r).filter((k) => k.startsWith('value'));
      need(values.length <= 1, `value[x] given ${values.length} times (${values.join(', ')})`);
      // obs-6: dataAbsentReason SHALL only be present if Observation.value[x] is not present
      need(!(values.length > 0 && r['dataAbsentReason'] !== undefined), 'obs-6: dataAbsentReason with a value');
      const q = r['valueQuantity'];
      if (q !== undefined) need(isObject(q) && typeof q['value'] === 'number' && Number.isFinite(q['value']), 'valueQuantity.value must be a finite decimal');
      if (r['effectiveDateTime'] !== undefined) need(DATE_TIME.test(String(r['effectiveDateTime'])), `effectiveDateTime ${JSON.stringify(r['effectiveDateTime'])} is not a FHIR dateTime`);
      break;
    }
    default:
      problems.push(`${where}: resourceType ${JSON.stringify(r['resourceType'])} is not one the export writes`);
  }
}

export function validateTransactionBundle(bundle: unknown): string[] {
  const problems: string[] = [];
  if (!isObject(bundle) || bundle['resourceType'] !== 'Bundle') return ['not a Bundle (resourceType must be "Bundle")'];
  if (!BUNDLE_TYPES.includes(String(bundle['type']))) problems.push(`Bundle.type ${JSON.stringify(bundle['type'])} is not a Bundle type`);
  if (bundle['type'] !== 'transaction') problems.push(`Bundle.type is ${JSON.stringify(bundle['type'])}; expected "transaction"`);
  if ('total' in bundle) problems.push('bdl-1: total only when a search or history');
  const entries = bundle['entry'];
  if (!Array.isArray(entries)) return [...problems, 'Bundle.entry must be an array'];
  const fullUrls = new Set<string>();
  entries.forEach((e, i) => {
    const where = `entry[${i}]`;
    if (!isObject(e)) {
      problems.push(`${where}: not an object`);
      return;
    }
    if ('search' in e) problems.push(`${where}: bdl-2: entry.search only when a search`);
    if ('response' in e) problems.push(`${where}: bdl-4: entry.response only when a batch-response or transaction-response`);
    const req = e['request'];
    if (!isObject(req)) problems.push(`${where}: bdl-3: entry.request is mandatory for a transaction`);
    else {
      if (!HTTP_VERBS.includes(String(req['method']))) problems.push(`${where}: request.method ${JSON.stringify(req['method'])} is not one of ${HTTP_VERBS.join('|')}`);
      if (typeof req['url'] !== 'string' || req['url'].length === 0) problems.push(`${where}: request.url is required`);
    }
    const fullUrl = e['fullUrl'];
    if (typeof fullUrl !== 'string' || fullUrl.length === 0) problems.push(`${where}: fullUrl is required for a resource created in a transaction`);
    else {
      if (/\/_history\//.test(fullUrl)) problems.push(`${where}: bdl-8: fullUrl ${fullUrl} cannot be a version specific reference`);
      if (fullUrls.has(fullUrl)) problems.push(`${where}: bdl-7: fullUrl ${fullUrl} appears twice`);
      fullUrls.add(fullUrl);
    }
    const res = e['resource'];
    const method = isObject(req) ? req['method'] : undefined;
    if ((method === 'POST' || method === 'PUT') && !isObject(res)) problems.push(`${where}: a ${String(method)} entry needs a resource`);
    if (isObject(res)) {
      if (isObject(req) && typeof req['url'] === 'string' && method === 'POST' && req['url'] !== res['resourceType']) {
        problems.push(`${where}: request.url ${req['url']} does not name the resource type ${String(res['resourceType'])}`);
      }
      checkResource(res, where, problems);
    }
  });
  // urn:uuid references must resolve to an entry of the same Bundle
  entries.forEach((e, i) => {
    if (!isObject(e)) return;
    for (const ref of references(e['resource'])) {
      if (ref.startsWith('urn:') && !fullUrls.has(ref)) problems.push(`entry[${i}]: reference ${ref} does not resolve to a fullUrl in the Bundle`);
    }
  });
  return problems;
}

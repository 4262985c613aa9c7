import type { DataConfig } from '../records/dataConfig.ts';
import type { PatientRecord } from '../records/types.ts';
import { SynehrError } from '../util/errors.ts';
import type { LoadContext } from './types.ts';

// eslint-disable-next-line require-yield
export async function* loadLong(data: DataConfig, _ctx: LoadContext): AsyncGenerator<PatientRecord> {
  throw new SynehrError('E_NOT_IMPLEMENTED', `loader ${data.loader} is being written (issue 3)`);
}

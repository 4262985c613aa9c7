/**
 * The SynEHRgy-style tokenizer: one object that fits in tokenizer.json and encodes a patient to
 * token ids and decodes ids back to a record, under the sequence grammar. Its parts live in their
 * own modules: vocabulary.ts (what each token is), grammar.ts (the automaton), encode.ts,
 * decode.ts (with series.ts for steady per-patient series), file.ts (tokenizer.json), fit.ts.
 */
import type { PatientRecord } from '../records/types.ts';
import type { DataConfig } from '../records/dataConfig.ts';
import { dataConfigHash } from '../records/dataConfigHash.ts';
import { GrammarAutomaton, type AutomatonJSON } from './automaton.ts';
import { buildGrammar, type StateLayout } from './grammar.ts';
import { encodeRecord, type EncodeOptions } from './encode.ts';
import { DecodeTables, decodeIds, decodeRows, type BatchDecodeOptions, type DecodeOptions, type LenientDecode } from './decode.ts';
import { SPECIAL_IDS, Vocabulary, type SpecialIds, type TokenizerParts } from './vocabulary.ts';
import { SynehrError } from '../util/errors.ts';

export * from './vocabulary.ts';
export { emptyEncodeStats, type EncodeStats, type EncodeOptions } from './encode.ts';
export type { DecodeOptions, BatchDecodeOptions, DecodeError, LenientDecode } from './decode.ts';

export class Tokenizer extends Vocabulary {
  readonly special: SpecialIds = SPECIAL_IDS;
  readonly pad = SPECIAL_IDS.pad;
  readonly bos = SPECIAL_IDS.bos;
  readonly eos = SPECIAL_IDS.eos;
  readonly endCovar = SPECIAL_IDS.endCovar;
  readonly endLabel = SPECIAL_IDS.endLabel;
  readonly endCode = SPECIAL_IDS.endCode;
  readonly endTs = SPECIAL_IDS.endTs;
  readonly endAdm = SPECIAL_IDS.endAdm;
  readonly config: TokenizerParts['config'];
  readonly dataName: string;
  readonly dataConfigHash: string;
  readonly codeSystems: string[];
  readonly windowHours: number | null;
  readonly automaton: GrammarAutomaton;
  private readonly states: StateLayout;
  private readonly tables: DecodeTables;

  /** Use fitTokenizer or loadTokenizer. A stored automaton must equal the one the vocabulary implies. */
  constructor(parts: TokenizerParts, storedAutomaton?: AutomatonJSON) {
    super(parts);
    this.config = parts.config;
    this.dataName = parts.data_name;
    this.dataConfigHash = parts.data_config_hash;
    this.codeSystems = parts.code_systems;
    this.windowHours = parts.window_hours;
    const built = buildGrammar(this);
    this.states = built.states;
    if (storedAutomaton) {
      const stored = GrammarAutomaton.fromJSON(storedAutomaton, this.vocab.length, SPECIAL_IDS.pad);
      if (!stored.equals(built.automaton)) {
        throw new SynehrError('E_TOKENIZER_FILE', 'tokenizer: the stored automaton does not match the grammar of its vocabulary (edited or corrupt file)');
      }
      this.automaton = stored;
    } else this.automaton = built.automaton;
    this.tables = new DecodeTables(this);
  }

  /**
   * The token ids of one patient; always a sequence the automaton accepts. Throws SynehrError
   * (E_INPUT) naming the patient, admission and event for input the tokenizer cannot represent.
   */
  encodePatient(p: PatientRecord, opts: EncodeOptions = {}): Int32Array {
    return encodeRecord(this, this.automaton, p, opts, false);
  }

  /**
   * The conditioning prefix of a patient for conditional generation: `<s> cov… </covar>`, and with
   * through = 'labels' (the default) also `label… </label>`. The sampler feeds it, then starts from
   * automaton state `prefixState(through)`. With the labels last only through = 'covariates' exists.
   */
  encodePrefix(p: Pick<PatientRecord, 'covariates' | 'labels'> & { id?: string }, opts: EncodeOptions & { through?: 'covariates' | 'labels' } = {}): Int32Array {
    const through = opts.through ?? 'labels';
    this.checkPrefixThrough(through);
    const ids = encodeRecord(this, this.automaton, { id: p.id ?? 'prefix', covariates: p.covariates, labels: p.labels, admissions: [] }, opts, true);
    return through === 'covariates' ? ids.slice(0, ids.indexOf(SPECIAL_IDS.endCovar) + 1) : ids;
  }

  /** The automaton state after encodePrefix(…, { through }). */
  prefixState(through: 'covariates' | 'labels' = 'labels'): number {
    this.checkPrefixThrough(through);
    return through === 'covariates' ? (this.labelsLast ? this.states.inCodes : this.states.label) : this.states.inCodes;
  }

  private checkPrefixThrough(through: 'covariates' | 'labels'): void {
    if (through === 'labels' && this.labelsLast) {
      throw new SynehrError(
        'E_CONDITION',
        "this tokenizer puts the labels after the last admission (tokenizer.label_position=last), so a condition can fix the covariates only: condition through 'covariates', or refit the tokenizer with label_position=first",
      );
    }
  }

  decode(ids: ArrayLike<number>, opts: DecodeOptions & { mode?: 'strict' }): PatientRecord;
  decode(ids: ArrayLike<number>, opts: DecodeOptions & { mode: 'lenient' }): LenientDecode;
  decode(ids: ArrayLike<number>, opts: DecodeOptions): PatientRecord | LenientDecode {
    const out = decodeIds(this, this.automaton, this.tables, ids, opts);
    return (opts.mode ?? 'strict') === 'lenient' ? out : out.record;
  }

  /**
   * Decodes each row of a [B, T] batch of sampled ids, row-major, as int32 or as the int64 an ONNX
   * graph returns; rows end in <pad>s after </s>. Row b's patient id is `${idPrefix}${firstIndex + b}`.
   */
  decodeBatch(ids: ArrayLike<number> | BigInt64Array, T: number, opts: BatchDecodeOptions & { mode?: 'strict' }): PatientRecord[];
  decodeBatch(ids: ArrayLike<number> | BigInt64Array, T: number, opts: BatchDecodeOptions & { mode: 'lenient' }): LenientDecode[];
  decodeBatch(ids: ArrayLike<number> | BigInt64Array, T: number, opts: BatchDecodeOptions): (PatientRecord | LenientDecode)[] {
    const rows = decodeRows(this, this.automaton, this.tables, ids, T, opts);
    return (opts.mode ?? 'strict') === 'lenient' ? rows : rows.map((r) => r.record);
  }

  /** Throws when `data` is not the data config this tokenizer was fitted for. */
  checkDataConfig(data: DataConfig): void {
    const h = dataConfigHash(data);
    if (h !== this.dataConfigHash) {
      throw new SynehrError(
        'E_TOKENIZER_DATA',
        `tokenizer was fitted for data config '${this.dataName}' (hash ${this.dataConfigHash.slice(0, 12)}), not for '${data.name}' (hash ${h.slice(0, 12)}): refit it with \`synehr tokenize data=${data.name}\``,
      );
    }
  }
}

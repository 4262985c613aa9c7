/**
 * The sequence grammar as a deterministic finite automaton over token ids (DESIGN.md, "Tokenizer
 * and grammar"). Notation: S = number of states, V = vocabulary size.
 *
 * `next` is the dense transition table [S, V] row-major, -1 = forbidden; the sampler masks logits
 * with row `next[state]` and advances the state with it, so it is laid out to be copied into a
 * tensor as is. `distToEnd[s]` is the fewest tokens that take state s to the accepting state,
 * counting the final `</s>` (0 in the accepting state itself); together with the positions left in
 * the context it tells the sampler which tokens still let a sequence close in time.
 *
 * The accepting state (after `</s>`) allows only `<pad>`, back to itself, so padded rows stay valid.
 */
import { SynehrError } from '../util/errors.ts';

/** A run of consecutive token ids [tokenStart, tokenEnd) that all move `state` to `next`. */
export type TransitionRun = [state: number, tokenStart: number, tokenEnd: number, next: number];

export interface AutomatonJSON {
  num_states: number;
  start_state: number;
  end_state: number;
  /** a readable name per state, e.g. "cov[2]:Height", "after_meas[5]:HR" */
  state_names: string[];
  /** the transition table as runs [state, tokenStart, tokenEnd, next]; everything else is -1 */
  transitions: TransitionRun[];
  dist_to_end: number[];
}

export class GrammarAutomaton {
  readonly numStates: number;
  readonly vocabSize: number;
  /** the state before `<s>` */
  readonly startState: number;
  /** the accepting state, after `</s>` */
  readonly endState: number;
  readonly stateNames: readonly string[];
  /** [S, V] row-major, -1 = forbidden */
  readonly next: Int32Array;
  /** [S] fewest tokens to reach `</s>` inclusive; 0 in endState; -1 if it cannot be reached */
  readonly distToEnd: Int32Array;
  private readonly padId: number;

  constructor(args: {
    numStates: number;
    vocabSize: number;
    startState: number;
    endState: number;
    stateNames: string[];
    transitions: TransitionRun[];
    padId: number;
  }) {
    const { numStates: S, vocabSize: V } = args;
    this.numStates = S;
    this.vocabSize = V;
    this.startState = args.startState;
    this.endState = args.endState;
    this.stateNames = args.stateNames;
    this.padId = args.padId;
    if (args.stateNames.length !== S) {
      throw new RangeError(`GrammarAutomaton: ${args.stateNames.length} state names for ${S} states`);
    }
    this.next = new Int32Array(S * V).fill(-1);
    for (const [s, t0, t1, n] of args.transitions) {
      if (!(s >= 0 && s < S && n >= 0 && n < S && t0 >= 0 && t0 <= t1 && t1 <= V)) {
        throw new RangeError(`GrammarAutomaton: transition [${s}, ${t0}, ${t1}, ${n}] is out of range (S=${S}, V=${V})`);
      }
      this.next.fill(n, s * V + t0, s * V + t1);
    }
    this.distToEnd = computeDistToEnd(this.next, S, V, this.endState);
  }

  /** The state after `token` in `state`, or -1 when the grammar forbids it. */
  step(state: number, token: number): number {
    if (state < 0 || state >= this.numStates || token < 0 || token >= this.vocabSize) return -1;
    return this.next[state * this.vocabSize + token]!;
  }

  /** The tokens allowed in `state`, ascending. */
  allowed(state: number): number[] {
    const out: number[] = [];
    const row = state * this.vocabSize;
    for (let t = 0; t < this.vocabSize; t++) if (this.next[row + t]! >= 0) out.push(t);
    return out;
  }

  /**
   * Walks `ids` from the start state. Returns the index of the first forbidden token, ids.length
   * when the sequence stops before `</s>`, or -1 when it is accepted (trailing `<pad>`s allowed).
   */
  firstInvalid(ids: ArrayLike<number>): number {
    let s = this.startState;
    for (let i = 0; i < ids.length; i++) {
      s = this.step(s, ids[i]!);
      if (s < 0) return i;
    }
    return s === this.endState ? -1 : ids.length;
  }

  accepts(ids: ArrayLike<number>): boolean {
    return this.firstInvalid(ids) === -1;
  }

  /** Runs of equal transitions, the compact form stored in tokenizer.json. */
  runs(): TransitionRun[] {
    const out: TransitionRun[] = [];
    const V = this.vocabSize;
    for (let s = 0; s < this.numStates; s++) {
      let t = 0;
      while (t < V) {
        const n = this.next[s * V + t]!;
        let u = t + 1;
        while (u < V && this.next[s * V + u] === n) u++;
        if (n >= 0) out.push([s, t, u, n]);
        t = u;
      }
    }
    return out;
  }

  toJSON(): AutomatonJSON {
    return {
      num_states: this.numStates,
      start_state: this.startState,
      end_state: this.endState,
      state_names: [...this.stateNames],
      transitions: this.runs(),
      dist_to_end: Array.from(this.distToEnd),
    };
  }

  static fromJSON(j: AutomatonJSON, vocabSize: number, padId: number): GrammarAutomaton {
    const a = new GrammarAutomaton({
      numStates: j.num_states,
      vocabSize,
      startState: j.start_state,
      endState: j.end_state,
      stateNames: j.state_names,
      transitions: j.transitions,
      padId,
    });
    for (let s = 0; s < a.numStates; s++) {
      if (a.distToEnd[s] !== j.dist_to_end[s]) {
        throw new SynehrError(
          'E_TOKENIZER_FILE',
          `automaton: stored dist_to_end[${s}] = ${j.dist_to_end[s]} but the stored transitions give ${a.distToEnd[s]}`,
        );
      }
    }
    return a;
  }

  /** True when both automata have the same states and transitions. */
  equals(other: GrammarAutomaton): boolean {
    if (this.numStates !== other.numStates || this.vocabSize !== other.vocabSize) return false;
    if (this.startState !== other.startState || this.endState !== other.endState) return false;
    for (let i = 0; i < this.next.length; i++) if (this.next[i] !== other.next[i]) return false;
    return true;
  }

  get pad(): number {
    return this.padId;
  }
}

/**
 * Fewest tokens from each state to the accepting state, by breadth-first search backwards from it
 * over the reversed transition graph (unit cost per token).
 */
function computeDistToEnd(next: Int32Array, S: number, V: number, end: number): Int32Array {
  // reversed adjacency as lists of predecessor states, deduplicated per (pred, succ) pair
  const preds: number[][] = Array.from({ length: S }, () => []);
  const seen = new Uint8Array(S);
  for (let s = 0; s < S; s++) {
    seen.fill(0);
    for (let t = 0; t < V; t++) {
      const n = next[s * V + t]!;
      if (n >= 0 && !seen[n]) {
        seen[n] = 1;
        preds[n]!.push(s);
      }
    }
  }
  const dist = new Int32Array(S).fill(-1);
  dist[end] = 0;
  const queue = [end];
  for (let head = 0; head < queue.length; head++) {
    const n = queue[head]!;
    for (const p of preds[n]!) {
      if (dist[p] === -1) {
        dist[p] = dist[n]! + 1;
        queue.push(p);
      }
    }
  }
  return dist;
}

/**
 * train.main_label_weight's per-token loss weights (src/train/gptRunner.ts labelTargetWeights,
 * src/cli/commands/train.ts mainLabelWeights): the weight at exactly the main label's value
 * tokens, none at 1 or where the data has no label to weight (the log says so).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mainLabelWeights } from '../../src/cli/commands/train.ts';
import { fitTokenizer } from '../../src/tokenizer/fit.ts';
import { TokenClass } from '../../src/tokenizer/vocabulary.ts';
import { labelTargetWeights } from '../../src/train/gptRunner.ts';
import { cohortArb, tokCfg, toyData } from '../tokenizer/helpers.ts';

const cohort = fc.sample(cohortArb, { numRuns: 1, seed: 21 })[0]!;
const tok = fitTokenizer(cohort, toyData, tokCfg());

describe('labelTargetWeights and mainLabelWeights', () => {
  it('weight the value tokens of the main label and nothing else', () => {
    const logs: string[] = [];
    const w = mainLabelWeights(tok, toyData, 30, (m) => logs.push(m))!;
    expect(w).toHaveLength(tok.vocab.length);
    const death = tok.labelIndex.get('death')!;
    let n = 0;
    w.forEach((x, t) => {
      const isDeath = tok.tokenClass[t] === TokenClass.label && tok.tokenOwner[t] === death;
      expect(x, tok.vocab[t]).toBe(isDeath ? 30 : 1);
      n += isDeath ? 1 : 0;
    });
    // death's two values, and the token of a record without it
    expect(n).toBeGreaterThanOrEqual(2);
    expect(logs.join('\n')).toMatch(new RegExp(`main label 'death' weighs 30 in the training loss \\(its ${n} value tokens`));
    // another label's tokens are 1 there and weighted when named
    const los = labelTargetWeights(tok, 'los', 4);
    expect(Array.from(los).filter((x) => x === 4).length).toBeGreaterThan(0);
    expect(Array.from(los).every((x, t) => x === 1 || (tok.tokenClass[t] === TokenClass.label && tok.tokenOwner[t] === tok.labelIndex.get('los')))).toBe(true);
  });

  it('give nothing at 1 (the training graph of before) or without labels, and say why a label cannot be weighted', () => {
    expect(mainLabelWeights(tok, toyData, 1, () => {})).toBeUndefined();
    // the default's 30 on data without labels: said, and the plain mean
    const logs: string[] = [];
    expect(mainLabelWeights(tok, { ...toyData, labels: [] }, 30, (m) => logs.push(m))).toBeUndefined();
    expect(logs).toEqual(["train: train.main_label_weight=30 weights the main label's tokens, and data=toy has no labels: the loss is the plain mean"]);
    expect(() => labelTargetWeights(tok, 'nope', 2)).toThrow(/no label 'nope' \(it has death, phenotype, los\)/);
  });
});

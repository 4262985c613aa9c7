/**
 * The Hugging Face side of an exported run: the files that make the run directory a complete
 * model folder for `AutoTokenizer` / `pipeline()` (transformers and transformers.js), beside
 * `onnx/model.onnx`, `config.json` and `generation_config.json` (export.ts):
 *
 *   tokenizer.json            a `tokenizers` WordLevel model over synehr's vocabulary: one word per
 *                             token, split on whitespace, each id synehr's own
 *   tokenizer_config.json     PreTrainedTokenizerFast with synehr's <s> </s> <pad>
 *   special_tokens_map.json   the same, and synehr's other special tokens
 *   README.md                 the model card: what the model is, and that records need synehr
 *
 * A token string holding white space (a categorical value such as "Medical ICU") would be split
 * by the pre-tokenizer, so its spaces are written as U+2581 "▁", as SentencePiece writes them.
 */
import type { ModelConfig } from '../model/config.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { SPECIAL_TOKENS } from '../tokenizer/tokenizer.ts';
import { RUN_TOKENIZER_FILE } from '../config/runPaths.ts';
import { SynehrError } from '../util/errors.ts';

/** The HF spelling of a synehr token: white space as "▁". */
export function hfTokenText(token: string): string {
  return token.replace(/\s/g, '\u2581');
}

/** HF token strings by id; every one distinct. */
function hfVocab(tok: Tokenizer): string[] {
  const words = tok.vocab.map(hfTokenText);
  const seen = new Map<string, number>();
  words.forEach((w, id) => {
    const other = seen.get(w);
    if (other !== undefined) {
      throw new SynehrError(
        'E_TOKENIZER_FILE',
        `tokens ${other} ${JSON.stringify(tok.vocab[other])} and ${id} ${JSON.stringify(tok.vocab[id])} are both ${JSON.stringify(w)} with white space as "▁": the Hugging Face tokenizer cannot tell them apart`,
      );
    }
    seen.set(w, id);
  });
  return words;
}

/** tokenizer.json in the `tokenizers` library's serialization (version 1.0). */
export function hfTokenizerJson(tok: Tokenizer): Record<string, unknown> {
  const words = hfVocab(tok);
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((_, id) => ({
      id,
      content: words[id],
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'WhitespaceSplit' },
    post_processor: null,
    decoder: null,
    // no unknown token: text that is not synehr's tokens has no ids (the tokenizers library says so)
    model: { type: 'WordLevel', vocab: Object.fromEntries(words.map((w, id) => [w, id])), unk_token: '<unk>' },
  };
}

/** synehr's special tokens other than <s> </s> <pad>: the section ends (</covar>, </adm>, ...) */
function otherSpecialTokens(tok: Tokenizer, words: string[]): string[] {
  return SPECIAL_TOKENS.map((_, id) => words[id]).filter((_, id) => id !== tok.bos && id !== tok.eos && id !== tok.pad);
}

export function hfTokenizerConfig(tok: Tokenizer, model: ModelConfig): Record<string, unknown> {
  const words = hfVocab(tok);
  return {
    tokenizer_class: 'PreTrainedTokenizerFast',
    bos_token: words[tok.bos],
    eos_token: words[tok.eos],
    pad_token: words[tok.pad],
    unk_token: null,
    additional_special_tokens: otherSpecialTokens(tok, words),
    model_max_length: model.n_ctx,
    clean_up_tokenization_spaces: false,
    added_tokens_decoder: Object.fromEntries(
      SPECIAL_TOKENS.map((_, id) => [String(id), { content: words[id], lstrip: false, normalized: false, rstrip: false, single_word: false, special: true }]),
    ),
  };
}

export function hfSpecialTokensMap(tok: Tokenizer): Record<string, unknown> {
  const words = hfVocab(tok);
  return {
    bos_token: words[tok.bos],
    eos_token: words[tok.eos],
    pad_token: words[tok.pad],
    additional_special_tokens: otherSpecialTokens(tok, words),
  };
}

/**
 * The model card's word on the value memory: tensors and an input that GPT2LMHeadModel does not
 * have, so the folder no longer loads there as it is.
 */
const memoryNote =
  ', plus synehr\'s value memory: the mean of \`transformer.wme.weight\` [V, C]\'s rows at each variable\'s latest value token joins every input embedding, and \`transformer.wmb.weight\` [V] gives each value token a logit bonus by its distance in bins from its variable\'s latest value (\`onnx/model.onnx\` takes the latest value tokens as its \`memory\` input, [batch, sequence, variables], -1 for none); the refit adds \`transformer.wma.weight\`, a value token\'s bonus while its variable has no value (and at every covariate and label value a constant offset that the calibration fits), and \`transformer.wmp.weight\`, a kernel on the distance from the value before the latest (its \`memory_before\` input, alike). Transformers\' GPT2LMHeadModel has neither, so only synehr and the ONNX graph use this model as trained';

/** The model card. `runName` is the folder's name; the numbers are the run's own. */
export function hfModelCard(runName: string, tok: Tokenizer, model: ModelConfig, nParams: number): string {
  const words = hfVocab(tok);
  const example = words.slice(0, Math.min(words.length, 12)).join(' ');
  return `---
library_name: transformers.js
pipeline_tag: text-generation
tags:
  - synehr
  - synthetic-data
  - electronic-health-records
  - gpt2
---

# ${runName}

A GPT-2 model trained by synehr (learn from structured health records, generate synthetic ones) on
structured health records
tokenized as one token sequence per patient: covariates, labels, then per admission its codes
and its time series (time-gap and measurement tokens). It generates synthetic patient records.

| | |
|---|---|
| architecture | GPT-2 (\`GPT2LMHeadModel\`), tied output head${model.value_memory ? memoryNote : ''} |
| layers, heads, width | ${model.n_layer}, ${model.n_head}, ${model.n_embd} |
| context | ${model.n_ctx} tokens |
| vocabulary | ${tok.vocab.length} tokens |
| parameters | ${nParams.toLocaleString('en-US')} |
| files | \`model.safetensors\` (PyTorch names), \`onnx/model.onnx\` (with KV cache), \`config.json\`, \`generation_config.json\`, \`tokenizer.json\` |

## What a token is

Each id is one synehr token, such as \`cov:Age:b3\` (a bin of a covariate), \`ICD9:4019\` (a
code), \`gap:b2\` (a bin of hours since the previous time step) or \`HR:b5\` (a bin of a
measurement). The Hugging Face tokenizer (\`tokenizer.json\`, a WordLevel model) only maps those
token strings to ids and back, separated by spaces (white space inside a token is written "▁").
The first tokens of the vocabulary:

\`\`\`
${example}
\`\`\`

## Decoding records needs synehr

The model is only half of the generator. A valid record follows synehr's grammar (which token
may follow which, how a patient closes within the context), and turning tokens back into values
and hours draws inside each bin from the training distribution. Both live in
\`${RUN_TOKENIZER_FILE}\` and synehr's detokenizer, not in this folder's Hugging Face files.
Sampled freely, with \`pipeline()\` or \`generate()\`, the model produces token strings, not
necessarily valid records. To generate records:

\`\`\`sh
synehr generate model=${runName} n_samples=1000
\`\`\`

which runs \`sampler.onnx\` (the sampling loop with the grammar inside) and writes patient tables.

## Loading

\`\`\`js
import { AutoTokenizer, AutoModelForCausalLM } from '@huggingface/transformers';
const tokenizer = await AutoTokenizer.from_pretrained('${runName}', { local_files_only: true });
const model = await AutoModelForCausalLM.from_pretrained('${runName}', { local_files_only: true, dtype: 'fp32' });
const ids = tokenizer.encode('${words[tok.bos]}');            // [${tok.bos}]
\`\`\`

In Python, \`GPT2LMHeadModel.from_pretrained\` loads \`model.safetensors\` with \`config.json\`,
and \`AutoTokenizer.from_pretrained\` loads \`tokenizer.json\`.

## Privacy

The model was trained on real patients' records. Before sharing it, read the privacy part of
the run's evaluation (\`eval/metrics.json\`, \`eval/report.html\`: membership and attribute
inference, distances to the closest training record).
`;
}

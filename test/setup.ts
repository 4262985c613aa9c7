import fc from 'fast-check';

// A failing property reports its first counterexample at once, with the seed and path that replay
// it, instead of shrinking it: shrinking one of test/tokenizer/tokenizer.test.ts's counterexamples
// ran for over 20 minutes, synchronously, so the test timeout could not fire and the suite hung.
// To shrink one locally, replay it with `{ seed, path }` and `endOnFailure: false`.
fc.configureGlobal({ endOnFailure: true });

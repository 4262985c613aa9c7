import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // fast-check reports a counterexample without shrinking it (test/setup.ts)
    setupFiles: ['test/setup.ts'],
    // ONNX Runtime sessions and spawned CLI processes are heavy: two workers match the two cores.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // expect.poll waits for a browser or a file watcher; under CI's load 1 s (the default) is short
    expect: { poll: { timeout: 10_000 } },
  },
});

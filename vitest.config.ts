import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string) => fileURLToPath(new URL(`./src/${p}`, import.meta.url));

export default defineConfig({
  // The examples import the package by name, as a user would; in tests that is the source.
  resolve: {
    alias: [
      { find: /^dirtyscope$/, replacement: src('index.ts') },
      { find: /^dirtyscope\/model$/, replacement: src('api/model.ts') },
      { find: /^dirtyscope\/checker$/, replacement: src('checker/index.ts') },
      { find: /^dirtyscope\/trace$/, replacement: src('api/trace.ts') },
      { find: /^dirtyscope\/litmus$/, replacement: src('litmus/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // After the run, every skipped suite/test with its reason (test/capability.ts).
    reporters: ['default', './test/skip-reporter.ts'],
  },
});

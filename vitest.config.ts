import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // After the run, every skipped suite/test with its reason (test/capability.ts).
    reporters: ['default', './test/skip-reporter.ts'],
  },
});

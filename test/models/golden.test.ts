/**
 * Golden traces of catalogue counterexamples: the same model, variant and schedule give the same
 * trace, byte for byte, across runs and commits. A change to the kernel model that alters what
 * happens on these schedules shows up here as a diff to review.
 * Regenerate after an intended change: `UPDATE_GOLDEN=1 npx vitest run test/models/golden.test.ts`.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { replay } from '../../src/checker/check.ts';
import { MODELS } from '../../src/models/catalogue.ts';
import { parseTrace, serializeTrace } from '../../src/trace/io.ts';

const DIR = join(dirname(fileURLToPath(import.meta.url)), 'golden');
// Schedules as found (and shrunk) by `dirtyscope check`; see docs/models.md.
const CASES = [
  { model: 'concurrent-wp', variant: 'no-nested-flush', schedule: 'v1:A5B7', property: 'wp-complete' },
  { model: 'fb-defio', variant: 'mainline', schedule: 'v1:A8B5', property: 'no-lost-write' },
  { model: 'vmwgfx-mkwrite', variant: 'mainline', schedule: 'v1:A12B7', property: 'no-lost-write' },
];

describe('golden catalogue traces', () => {
  for (const c of CASES) {
    const file = `${c.model}--${c.variant}.golden.json`;
    it(file, () => {
      const def = MODELS.find((m) => m.name === c.model)!;
      const r = replay(def, c.variant, c.schedule, { trace: true });
      expect(r.verdict).toBe('fail');
      expect(r.property).toBe(c.property);
      const text = serializeTrace(r.trace!);
      const path = join(DIR, file);
      if (process.env.UPDATE_GOLDEN === '1') writeFileSync(path, text);
      expect(existsSync(path), `missing ${file}: run with UPDATE_GOLDEN=1`).toBe(true);
      expect(text).toBe(readFileSync(path, 'utf8'));
      expect(parseTrace(text, file).schedule).toBe(r.schedule);
    });
  }
});

/**
 * Golden traces for fixed toy schedules, compared byte for byte with the canonical serialization.
 * Regenerate after an intended format change: `UPDATE_GOLDEN=1 npx vitest run test/checker/golden.test.ts`
 * (then review the diff).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { replay } from '../../src/checker/check.ts';
import { parseTrace, serializeTrace } from '../../src/trace/io.ts';
import { makeCounter } from './toys.ts';

const DIR = join(dirname(fileURLToPath(import.meta.url)), 'golden');
const CASES: Array<{ file: string; variant: string; schedule: string }> = [
  { file: 'counter-racy-AB2.golden.json', variant: 'racy', schedule: 'v1:AB2' },
  { file: 'counter-locked-AB.golden.json', variant: 'locked', schedule: 'v1:AB' },
];

describe('golden traces', () => {
  for (const c of CASES) {
    it(`${c.file}`, () => {
      const r = replay(makeCounter(2), c.variant, c.schedule, { trace: true });
      const text = serializeTrace(r.trace!);
      const path = join(DIR, c.file);
      if (process.env.UPDATE_GOLDEN === '1') writeFileSync(path, text);
      expect(existsSync(path), `missing ${c.file}: run with UPDATE_GOLDEN=1`).toBe(true);
      expect(text).toBe(readFileSync(path, 'utf8'));
      // The golden file is a valid trace.
      expect(parseTrace(text, c.file).schedule).toBe(r.schedule);
    });
  }
});

import { describe, expect, it } from 'vitest';
import { LineProgress } from '../../src/cli/progress.ts';

function fake() {
  let t = 0;
  const lines: string[] = [];
  const p = new LineProgress(
    'study',
    () => t,
    (l) => lines.push(l),
  );
  return { p, lines, at: (ms: number) => (t = ms) };
}

describe('LineProgress (non-TTY progress lines)', () => {
  it('quiet for the first 2 s, then a line per 10% crossed, at most one per 2 s', () => {
    const { p, lines, at } = fake();
    at(1000);
    p.update(50, 100, 'runs');
    expect(lines).toEqual([]);
    at(2500);
    p.update(55, 100, 'runs');
    p.update(58, 100, 'runs');
    p.update(61, 100, 'runs'); // a new 10% step, but only 0 s after the last line
    at(4600);
    p.update(75, 100, 'runs');
    p.update(100, 100, 'runs');
    expect(lines).toEqual([
      'dirtyscope: study: 55% (55/100 runs, 3 s)\n',
      'dirtyscope: study: 75% (75/100 runs, 5 s)\n',
    ]);
  });

  it('within one 10% step, a line every 10 s; unknown totals every 10 s', () => {
    const { p, lines, at } = fake();
    at(3000);
    p.update(1, 1000, 'runs');
    at(9000);
    p.update(2, 1000, 'runs');
    at(13_001);
    p.update(3, 1000, 'runs');
    expect(lines.length).toBe(2);
    at(30_000);
    p.update(7, 0, 'executions');
    expect(lines[2]).toBe('dirtyscope: study: 7 executions (30 s)\n');
  });
});

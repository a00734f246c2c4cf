/** Human formatting of checker results (src/cli/format/check.ts): pure functions of plain data. */
import { describe, expect, it } from 'vitest';
import { check } from '../../src/checker/check.ts';
import { formatCheck, formatEvent, formatProgress, formatTrace } from '../../src/cli/format/check.ts';
import type { Trace } from '../../src/trace/schema.ts';
import { TraceSink } from '../../src/trace/sink.ts';
import { makeCounter, makeIndependent } from './toys.ts';

describe('formatCheck', () => {
  it('a failure shows property, message, schedule, a replay command and the trace', () => {
    const r = check(makeCounter(2), 'racy');
    const text = formatCheck(r);
    expect(text).toContain('counter/racy: FAIL  no-lost-update');
    expect(text).toContain('counter is 1 after 2 increments');
    expect(text).toContain(`counterexample: ${r.counterexample!.schedule}  (4 steps, 1 preemption)`);
    expect(text).toContain(
      `dirtyscope replay counter --variant racy --schedule ${r.counterexample!.schedule} --trace`,
    );
    expect(text.trimEnd().split('\n').at(-1)).toContain('violation');
  });

  it('pass and incomplete say what was covered', () => {
    expect(formatCheck(check(makeCounter(2), 'locked'))).toMatch(
      /^counter\/locked: PASS {2}every schedule explored/,
    );
    const bounded = check(makeIndependent(2, 2), 'mainline', { reduction: false, preemptionBound: 1 });
    expect(formatCheck(bounded)).toContain('every schedule with at most 1 preemption explored');
    const inc = check(makeIndependent(2, 3), 'mainline', { reduction: false, maxExecutions: 5 });
    const t = formatCheck(inc);
    expect(t).toContain('INCOMPLETE');
    expect(t).toContain('execution budget (5) exhausted');
    expect(t).toContain('every schedule with at most 0 preemptions was explored without a violation');
  });
});

describe('formatTrace / formatEvent / formatProgress', () => {
  const sink = new TraceSink();
  sink.emit({ kind: 'note', text: 'setup' });
  sink.ctx = { task: 'w0', cpu: 0, fn: 'handleMmFault' };
  sink.step = 3;
  sink.emit({ kind: 'fault', mm: 1, addr: 0x7f0000001000, write: true, reason: 'protection' });
  const trace: Trace = {
    version: 1,
    model: 'm',
    variant: 'v',
    schedule: 'v1:',
    setup: { cpus: 1, mms: {}, devices: [], vmas: [], pageSize: 4096 },
    events: sink.events,
  };

  it('hides setup events behind a count and prints addresses in hex', () => {
    const t = formatTrace(trace);
    expect(t).toContain('(1 setup events before the first step not shown)');
    expect(t).not.toContain('setup\n');
    expect(t).toMatch(
      /s3 +w0@cpu0 +handleMmFault +fault +mm=1 addr=0x7f0000001000 write=true reason=protection/,
    );
    expect(formatEvent(sink.events[1]!)).not.toContain('\n');
  });

  it('keeps the last maxEvents events', () => {
    const s = new TraceSink();
    s.ctx = { task: 't', cpu: -1, fn: 'f' };
    for (let i = 0; i < 10; i++) s.emit({ kind: 'note', text: `n${i}` });
    const t = formatTrace({ ...trace, events: s.events }, { maxEvents: 3 });
    expect(t.split('\n')).toEqual([
      '... 7 earlier events (full trace: replay with --trace FILE)',
      expect.stringContaining('text=n7'),
      expect.stringContaining('text=n8'),
      expect.stringContaining('text=n9'),
    ]);
  });

  it('progress line: executions, rate, elapsed', () => {
    expect(formatProgress({ executions: 12345, pruned: 0, elapsedMs: 2000 })).toBe(
      'checking: 12,345 executions, 6,173/s, 2.0 s',
    );
  });
});

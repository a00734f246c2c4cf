import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WorkloadInputError } from '../../src/workload/errors.ts';
import { createBatch, OP_STORE, OP_SYNC } from '../../src/workload/generators.ts';
import {
  BUILTIN_SCENARIOS,
  bufferBases,
  bufferOf,
  loadScenario,
  parseScenario,
  parseScenarioText,
  type Scenario,
  ScenarioError,
  scenarioBaseDir,
  scenarioBatches,
  scenarioGenerator,
  totalPages,
} from '../../src/workload/scenario.ts';

const base = (): Record<string, unknown> => structuredClone(BUILTIN_SCENARIOS['coherent-gpu']) as never;

/** `base()` with `path` (dot-separated) set to `value` (undefined deletes). */
function withField(path: string, value: unknown): unknown {
  const s = base();
  const keys = path.split('.');
  let o: Record<string, unknown> = s;
  for (const k of keys.slice(0, -1)) {
    if (o[k] === undefined) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  const last = keys[keys.length - 1]!;
  if (value === undefined) delete o[last];
  else o[last] = value;
  return s;
}

const errorOf = (json: unknown): string => {
  try {
    parseScenario(json);
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    expect(e).toBeInstanceOf(WorkloadInputError);
    return (e as Error).message;
  }
  throw new Error('expected a ScenarioError');
};

describe('built-in scenarios', () => {
  it('there are four and each validates against the schema', () => {
    expect(Object.keys(BUILTIN_SCENARIOS).sort()).toEqual([
      'coherent-gpu',
      'framebuffer',
      'phase-change',
      'sparse-large',
    ]);
    for (const [name, s] of Object.entries(BUILTIN_SCENARIOS)) {
      expect(s.name).toBe(name);
      expect(parseScenario(JSON.parse(JSON.stringify(s)))).toEqual(s);
    }
  });

  it('each generates exactly its stores, all inside the page space, deterministically', () => {
    for (const s of Object.values(BUILTIN_SCENARIOS)) {
      const w = s.workload;
      if (w.pattern === 'trace') continue;
      const pages = totalPages(s);
      const run = () => {
        const g = scenarioGenerator(s);
        const b = createBatch(8192);
        let stores = 0;
        let outside = 0;
        let h = 0;
        for (let n = g.next(b); n > 0; n = g.next(b))
          for (let i = 0; i < n; i++) {
            if (b.kind[i] === OP_STORE) stores++;
            if (b.page[i]! >= pages) outside++;
            h = (Math.imul(h, 31) + b.page[i]! + b.cpu[i]! * 7 + b.offset[i]!) | 0;
          }
        return { stores, outside, h };
      };
      const a = run();
      expect(a.stores, s.name).toBe(w.stores);
      expect(a.outside, s.name).toBe(0);
      expect(run().h, s.name).toBe(a.h);
    }
  });

  it('loadScenario returns a copy of a built-in', () => {
    const s = loadScenario('framebuffer');
    expect(s).toEqual(BUILTIN_SCENARIOS.framebuffer);
    s.seed = 99;
    expect(BUILTIN_SCENARIOS.framebuffer!.seed).not.toBe(99);
  });

  it('the framebuffer built-in sizes its buffer from the screen', () => {
    expect(BUILTIN_SCENARIOS.framebuffer!.buffers[0]!.pages).toBe(2025); // 1920*1080*4/4096
  });
});

describe('scenario schema errors name the field', () => {
  const cases: [string, unknown, string][] = [
    ['workload.stores', 0, 'scenario.workload.stores: expected an integer in [1, 1000000000]'],
    ['workload.stores', 1.5, 'scenario.workload.stores: expected an integer in [1, 1000000000]'],
    ['workload.stores', '10', 'scenario.workload.stores: expected an integer in [1, 1000000000]'],
    ['workload.syncEvery', -1, 'scenario.workload.syncEvery: expected an integer >= 0'],
    ['workload.hotFraction', 0, 'scenario.workload.hotFraction: expected a number in (0, 1]'],
    ['workload.hotProbability', 2, 'scenario.workload.hotProbability: expected a number in [0, 1]'],
    ['workload.pattern', 'spiral', 'scenario.workload.pattern: invalid discriminator value'],
    ['workload.extra', 1, 'scenario.workload.extra: unknown field'],
    ['version', 2, 'scenario.version: expected 1'],
    ['name', '', 'scenario.name: expected a non-empty string'],
    ['seed', -1, 'scenario.seed: expected an integer in [0, 4294967295]'],
    ['machine.cpus', 0, 'scenario.machine.cpus: expected an integer in [1, 256]'],
    ['workload.stores', 1_000_000_001, 'scenario.workload.stores: expected an integer in [1, 1000000000]'],
    ['machine.tlbEntries', 0, 'scenario.machine.tlbEntries: expected an integer in [1, 65536]'],
    ['machine.tlbEntries', 2 ** 40, 'scenario.machine.tlbEntries: expected an integer in [1, 65536]'],
    ['buffers', [], 'scenario.buffers: expected at least one buffer'],
    ['buffers.1.pages', 0, 'scenario.buffers.1.pages: expected an integer in [1, 67108864]'],
    ['buffers.0.method', 'dirtybit', 'scenario.buffers.0.method: invalid option'],
    ['buffers.1.name', 'vertices', 'scenario.buffers.1.name: duplicate buffer name "vertices"'],
    ['consumer', 'printer', 'scenario.consumer: invalid option'],
    ['costs.wpFaultNs', -5, 'scenario.costs.wpFaultNs: expected a finite number in [0, 1000000000000]'],
    ['costs.wpFault', 5, 'scenario.costs.wpFault: unknown field'],
    ['deferredIoDelayMs', -1, 'scenario.deferredIoDelayMs: expected a number in [0, 86400000]'],
    ['deferredIoDelayMs', 1e300, 'scenario.deferredIoDelayMs: expected a number in [0, 86400000]'],
    ['machine', undefined, 'scenario.machine: missing (expected object)'],
  ];
  for (const [path, value, msg] of cases)
    it(`${path} = ${JSON.stringify(value)}`, () => {
      const m = errorOf(withField(path, value));
      expect(m.startsWith(msg), m).toBe(true);
      if (process.env.SHOW_MESSAGES) console.log(m);
      expect(m.includes('\n')).toBe(false);
    });

  it('pattern parameters are checked against the page space', () => {
    const s = base();
    s.workload = { pattern: 'sparse', pagesPerPhase: 5000, stores: 10, syncEvery: 0 };
    expect(errorOf(s)).toBe("scenario.workload.pagesPerPhase: expected at most 2120 (the workload's pages)");
    s.workload = { pattern: 'sequential', start: 2000, length: 200, stores: 10, syncEvery: 0 };
    expect(errorOf(s)).toBe('scenario.workload.length: expected at most 120 (pages after start)');
    s.workload = {
      pattern: 'phases',
      phases: [
        { pattern: 'rectangles', width: 4000, height: 4000, bpp: 4, rectWidth: 1, rectHeight: 1, stores: 5 },
      ],
      stores: 10,
      syncEvery: 0,
    };
    expect(errorOf(s)).toMatch(/^scenario\.workload\.phases\.0: a 4000x4000x4 framebuffer needs 15625 pages/);
    s.workload = {
      pattern: 'rectangles',
      width: 10,
      height: 10,
      bpp: 4,
      rectWidth: 11,
      rectHeight: 1,
      stores: 1,
      syncEvery: 0,
    };
    expect(errorOf(s)).toBe('scenario.workload.rectWidth: expected at most width (10)');
    s.workload = {
      pattern: 'phases',
      phases: [{ pattern: 'sparse', pagesPerPhase: 1 }],
      stores: 1,
      syncEvery: 0,
    };
    expect(errorOf(s)).toBe('scenario.workload.phases.0.stores: expected an integer in [1, 1000000000]');
  });

  it('random junk never escapes as anything but a one-line ScenarioError', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (j) => {
        const m = errorOf(j);
        expect(m.startsWith('scenario')).toBe(true);
        expect(m.includes('\n')).toBe(false);
      }),
    );
  });

  it('file loading: bad JSON and missing files are one-line errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scn-'));
    const f = join(dir, 's.json');
    writeFileSync(f, '{"version": 1,');
    expect(() => loadScenario(f)).toThrow(
      new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not valid JSON`),
    );
    expect(() => loadScenario(join(dir, 'nope.json'))).toThrow(
      /cannot read \(ENOENT\); built-in scenarios: coherent-gpu/,
    );
    writeFileSync(f, JSON.stringify(BUILTIN_SCENARIOS['sparse-large']));
    expect(loadScenario(f)).toEqual(BUILTIN_SCENARIOS['sparse-large']);
    expect(() => parseScenarioText('[]')).toThrow(ScenarioError);
  });

  it('a trace workload validates but is not generated', () => {
    const s = parseScenario(withField('workload', { pattern: 'trace', file: 't.jsonl' })) as Scenario;
    expect(() => scenarioGenerator(s)).toThrow(/trace workload is replayed/);
  });
});

describe('page space helpers', () => {
  it('bufferOf inverts bufferBases', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 8 }), (sizes) => {
        const s = base() as unknown as Scenario;
        s.buffers = sizes.map((pages, i) => ({ name: `b${i}`, pages }));
        const bases = bufferBases(s);
        expect(bases[sizes.length]).toBe(totalPages(s));
        for (let b = 0; b < sizes.length; b++)
          for (let p = bases[b]!; p < bases[b + 1]!; p++) expect(bufferOf(bases, p)).toBe(b);
      }),
    );
  });
});

describe('scenarioBatches', () => {
  const collect = async (s: Scenario, dir?: string) => {
    const rows: number[][] = [];
    for await (const b of scenarioBatches(s, createBatch(64), dir))
      for (let i = 0; i < b.length; i++)
        rows.push([b.kind[i]!, b.cpu[i]!, b.page[i]!, b.offset[i]!, b.value[i]!]);
    return rows;
  };

  it("a generated scenario yields exactly its generator's ops", async () => {
    const s = structuredClone(BUILTIN_SCENARIOS['sparse-large']!);
    s.workload = { pattern: 'sparse', pagesPerPhase: 4, stores: 300, syncEvery: 100 };
    const rows = await collect(s);
    expect(rows.filter((r) => r[0] === OP_STORE).length).toBe(300);
    expect(rows.filter((r) => r[0] === OP_SYNC).length).toBe(3);
    const g = scenarioGenerator(s);
    const b = createBatch(1000);
    const n = g.next(b);
    expect(rows.map((r) => r[2])).toEqual(Array.from(b.page.subarray(0, n)));
  });

  it('a trace scenario replays its file relative to the scenario, within the scenario limits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scn-trace-'));
    writeFileSync(
      join(dir, 't.jsonl'),
      '{"version":1}\n{"op":"store","cpu":1,"page":5,"offset":8,"value":3}\n{"op":"sync"}\n',
    );
    const f = join(dir, 's.json');
    const s = withField('workload', { pattern: 'trace', file: 't.jsonl' }) as Scenario;
    writeFileSync(f, JSON.stringify(s));
    const loaded = loadScenario(f);
    expect(scenarioBaseDir(f)).toBe(dir);
    expect(scenarioBaseDir('framebuffer')).toBe(process.cwd());
    expect(await collect(loaded, scenarioBaseDir(f))).toEqual([
      [OP_STORE, 1, 5, 8, 3],
      [OP_SYNC, 0, 0, 0, 0],
    ]);
    writeFileSync(
      join(dir, 't.jsonl'),
      '{"version":1}\n{"op":"store","cpu":2,"page":5,"offset":8,"value":3}\n',
    );
    await expect(collect(loaded, dir)).rejects.toThrow(
      't.jsonl:2: field "cpu": expected an integer in [0, 1], got 2',
    );
  });
});

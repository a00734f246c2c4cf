import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Trace } from '../../src/trace/schema.ts';
import { buildGallery, type GalleryEntry } from '../../web/scripts/gallery-lib.ts';
import { renderGallery } from '../../web/src/gallery.ts';
import { validateTrace } from '../../web/src/trace-io.ts';
import { replayNaive, TraceModel } from '../../web/src/viewmodel.ts';
import { makeCounter, trivial } from '../checker/toys.ts';

const SEED_INDEX = new URL('../../web/public/gallery/index.json', import.meta.url);

describe('gallery', () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('generates a loadable counterexample with a two-line story per failing variant, keeping hand-made entries', () => {
    dir = mkdtempSync(join(tmpdir(), 'dirtyscope-gallery-'));
    const hand: GalleryEntry = { file: 'seed.json', title: 'seed', story: 'a\nb', source: 'hand-made' };
    const stale: GalleryEntry = { file: 'old--gone.json', title: 'old', story: 'a\nb', source: 'checker' };
    writeFileSync(join(dir, 'index.json'), JSON.stringify([hand, stale]));
    writeFileSync(join(dir, 'old--gone.json'), '{}');
    const counter = makeCounter();
    const failing = counter.variants.filter((v) => v.expected.verdict === 'fail');
    expect(failing.length).toBeGreaterThan(0);
    const r = buildGallery([counter, trivial], { dir, timeMs: 10_000, strategy: 'dfs' });
    expect(r.attempted).toBe(true);
    expect(r.generated.map((g) => g.variant)).toEqual(failing.map((v) => v.name).sort());
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as GalleryEntry[];
    expect(index[0]).toEqual(hand);
    expect(index.map((e) => e.file)).not.toContain('old--gone.json');
    for (const e of index.slice(1)) {
      expect(e.story.split('\n')).toHaveLength(2);
      const trace = validateTrace(JSON.parse(readFileSync(join(dir, e.file), 'utf8'))) as Trace;
      const m = new TraceModel(trace);
      // The trace ends in the violation the story names, and the view marks it.
      expect(m.index.firstViolation?.property).toBe(e.property);
      expect(m.stateAt(m.index.firstViolation!.seq).violationHere).not.toBeNull();
    }
    // Deterministic: a second run writes the same index.
    const before = readFileSync(join(dir, 'index.json'), 'utf8');
    buildGallery([counter], { dir, timeMs: 10_000, strategy: 'dfs' });
    expect(readFileSync(join(dir, 'index.json'), 'utf8')).toBe(before);
  });

  it('does nothing without a failing variant', () => {
    dir = mkdtempSync(join(tmpdir(), 'dirtyscope-gallery-'));
    writeFileSync(join(dir, 'index.json'), '[]');
    expect(buildGallery([trivial], { dir, timeMs: 1000, strategy: 'dfs' }).attempted).toBe(false);
    expect(readFileSync(join(dir, 'index.json'), 'utf8')).toBe('[]');
  });

  it('every shipped gallery trace is valid, and snapshot stepping matches naive replay on it', () => {
    const index = JSON.parse(readFileSync(SEED_INDEX, 'utf8')) as GalleryEntry[];
    for (const e of index) {
      const trace = validateTrace(JSON.parse(readFileSync(new URL(e.file, SEED_INDEX), 'utf8')));
      const m = new TraceModel(trace, { snapshotEvery: 5 });
      for (let k = trace.events.length - 1; k >= -1; k--)
        expect(m.stateAt(k), `${e.file} @${k}`).toEqual(replayNaive(trace, k));
      expect(m.index.firstViolation, e.file).not.toBeNull();
      expect(e.story.split('\n'), e.file).toHaveLength(2);
    }
  });

  it('the shipped index renders one item per entry with two story lines, and escapes text', () => {
    const index = JSON.parse(readFileSync(SEED_INDEX, 'utf8')) as GalleryEntry[];
    const html = renderGallery(index);
    expect(html.match(/<li>/g)).toHaveLength(index.length);
    expect(html.match(/<p>/g)).toHaveLength(2 * index.length);
    expect(renderGallery([{ file: 'x.json', title: '<b>', story: 'a&b\nc' }])).toContain('&lt;b&gt;');
  });
});

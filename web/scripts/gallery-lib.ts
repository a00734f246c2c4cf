/**
 * Gallery generation (used by build-gallery.ts; separate so it can be tested with toy models):
 * for every model variant expected to fail, run the checker and write the shrunk, traced
 * counterexample into the gallery directory with a two-line story. Deterministic output.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { check, type ModelDef, type Strategy } from '../../src/checker/index.ts';

export interface GalleryEntry {
  file: string;
  title: string;
  /** Two lines separated by "\n": what the variant changes, and what the checker found. */
  story: string;
  model?: string;
  variant?: string;
  property?: string;
  /** "hand-made" entries survive regeneration; "checker" entries are replaced. */
  source?: 'checker' | 'hand-made';
}

export interface BuildGalleryOptions {
  dir: string;
  timeMs: number;
  strategy: Strategy;
  dryRun?: boolean;
  log?: (line: string) => void;
}

export interface BuildGalleryResult {
  generated: GalleryEntry[];
  kept: GalleryEntry[];
  skipped: string[];
  /** False when no model variant is expected to fail (nothing was attempted). */
  attempted: boolean;
}

/** First sentence of a description, for the story's first line. */
export function firstSentence(s: string): string {
  const m = /^(.+?[.!?])(\s|$)/.exec(s.trim());
  return (m ? m[1]! : s.trim()).replace(/\s+/g, ' ');
}

/**
 * Format the written JSON the way the repository's `biome check .` expects, so regenerating the
 * gallery never leaves lint errors behind. Best effort: without biome the files stay valid JSON.
 */
function formatJson(files: string[]): void {
  let bin: string;
  try {
    bin = createRequire(import.meta.url).resolve('@biomejs/biome/bin/biome');
  } catch {
    return;
  }
  spawnSync(process.execPath, [bin, 'format', '--write', ...files], { stdio: 'ignore' });
}

/** End a message with a full stop if it has no final punctuation. */
function sentence(s: string): string {
  const t = s.trim();
  return t === '' || /[.!?)]$/.test(t) ? t : `${t}.`;
}

export function buildGallery(models: readonly ModelDef[], o: BuildGalleryOptions): BuildGalleryResult {
  const log = o.log ?? (() => {});
  const indexFile = join(o.dir, 'index.json');
  let old: GalleryEntry[] = [];
  try {
    old = JSON.parse(readFileSync(indexFile, 'utf8')) as GalleryEntry[];
  } catch {
    old = [];
  }
  const kept = old.filter((e) => e.source === 'hand-made');
  const candidates = models.flatMap((m) =>
    m.variants.filter((v) => v.expected.verdict === 'fail').map((v) => ({ m, v })),
  );
  if (candidates.length === 0) return { generated: [], kept, skipped: [], attempted: false };

  const generated: GalleryEntry[] = [];
  const skipped: string[] = [];
  for (const { m, v } of candidates) {
    const r = check(m, v.name, { strategy: o.strategy, timeMs: o.timeMs, shrink: true });
    const cx = r.counterexample;
    if (r.verdict !== 'fail' || !cx) {
      skipped.push(`${m.name}/${v.name}`);
      log(`${m.name}/${v.name}: no counterexample (${r.verdict}${r.reason ? `: ${r.reason}` : ''}); skipped`);
      continue;
    }
    const file = `${m.name}--${v.name}.json`.replace(/[^A-Za-z0-9._-]/g, '_');
    if (!o.dryRun) writeFileSync(join(o.dir, file), `${JSON.stringify(cx.trace)}\n`);
    generated.push({
      file,
      title: `${m.name} / ${v.name}`,
      story: `${firstSentence(v.description)}\nThe checker found a ${cx.steps}-step schedule (${cx.preemptions} preemption${cx.preemptions === 1 ? '' : 's'}) that violates ${r.property ?? '?'}: ${sentence(r.message ?? '')}`,
      model: m.name,
      variant: v.name,
      ...(r.property !== undefined ? { property: r.property } : {}),
      source: 'checker',
    });
    log(`${m.name}/${v.name}: ${cx.steps} steps -> ${file}`);
  }
  generated.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  if (!o.dryRun) {
    // Drop files of checker entries that are gone.
    const keep = new Set([...kept, ...generated].map((e) => e.file));
    for (const e of old)
      if (e.source !== 'hand-made' && !keep.has(e.file)) {
        try {
          unlinkSync(join(o.dir, e.file));
        } catch {
          // already gone
        }
      }
    writeFileSync(indexFile, `${JSON.stringify([...kept, ...generated], null, 2)}\n`);
    formatJson([indexFile, ...generated.map((g) => join(o.dir, g.file))]);
  }
  return { generated, kept, skipped, attempted: true };
}

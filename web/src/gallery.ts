/**
 * The gallery page: web/public/gallery/index.json lists counterexample traces
 * (`[{file, title, story}]`, story = two lines separated by "\n"), written by
 * web/scripts/build-gallery.ts from the checker, plus a hand-made seed.
 */
import { esc } from './render.ts';

export interface GalleryEntry {
  /** File name inside gallery/. */
  file: string;
  title: string;
  /** Two lines: what happens, and why it is a bug. */
  story: string;
  model?: string;
  variant?: string;
  property?: string;
}

export function renderGallery(index: unknown): string {
  if (!Array.isArray(index) || index.length === 0) return '<li>No counterexample in the gallery yet.</li>';
  return (index as GalleryEntry[])
    .filter((g) => typeof g?.file === 'string' && typeof g.title === 'string')
    .map((g) => {
      const href = `?trace=${encodeURIComponent(`gallery/${g.file}`)}`;
      const lines = String(g.story ?? '')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => `<p>${esc(l)}</p>`)
        .join('');
      const prop = g.property ? ` <span class="dim">(${esc(g.property)})</span>` : '';
      return `<li><h3><a href="${esc(href)}">${esc(g.title)}</a>${prop}</h3>${lines}</li>`;
    })
    .join('');
}

/**
 * Fill the visualizer's gallery (web/public/gallery/) with the checker's counterexamples for
 * every catalogue variant expected to fail (see gallery-lib.ts). Hand-made entries are kept.
 *
 *   npx tsx web/scripts/build-gallery.ts [--time-ms N] [--strategy dfs|random|pct] [--dry-run]
 *
 * With an empty catalogue it generates nothing, says so on stderr, and leaves the gallery alone.
 */
import { fileURLToPath } from 'node:url';
import { STRATEGIES, type Strategy } from '../../src/checker/index.ts';
import { MODELS } from '../../src/models/catalogue.ts';
import { buildGallery } from './gallery-lib.ts';

const args = process.argv.slice(2);
function opt(name: string, dflt: string): string {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
}
const timeMs = Number(opt('--time-ms', '20000'));
const strategy = opt('--strategy', 'dfs') as Strategy;
if (!(timeMs > 0) || !STRATEGIES.includes(strategy)) {
  process.stderr.write('build-gallery: --time-ms must be positive and --strategy one of dfs, random, pct\n');
  process.exit(2);
}
const log = (s: string) => process.stderr.write(`build-gallery: ${s}\n`);
const r = buildGallery(MODELS, {
  dir: fileURLToPath(new URL('../public/gallery/', import.meta.url)),
  timeMs,
  strategy,
  dryRun: args.includes('--dry-run'),
  log,
});
if (!r.attempted)
  log(
    `the model catalogue (src/models/catalogue.ts) has no variant expected to fail yet; nothing generated, ${r.kept.length} hand-made entr${r.kept.length === 1 ? 'y' : 'ies'} kept`,
  );
else
  log(
    `${r.generated.length} generated, ${r.kept.length} hand-made, ${r.skipped.length} without counterexample`,
  );

/**
 * `dirtyscope study crossover [--json] [--out DIR] [--quick]`: sweep region size x dirty fraction
 * x access pattern, report the cheaper tracking method per cell and the regret of vmwgfx's
 * switching heuristic, and write DIR/crossover.svg (and DIR/crossover.json).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { type CrossoverStudy, crossoverStudy, crossoverSvg } from '../workload/study.ts';
import { EXIT_OK, UsageError } from './errors.ts';
import { formatStudy } from './format/run.ts';
import { cliIo, setExitCode, out as writeOut } from './io.ts';
import { checkOutputDir, writeFileAtomic } from './outputs.ts';
import { LineProgress } from './progress.ts';

export const STUDIES = ['crossover'] as const;
/** The files `--out DIR` receives. */
export const STUDY_FILES = ['crossover.svg', 'crossover.json'] as const;

export function runStudyCommand(
  name: string,
  a: { json?: boolean; out?: string; quick?: boolean },
  progress?: (done: number, total: number) => void,
): { stdout: string; exitCode: number; study: CrossoverStudy } {
  if (name !== 'crossover') throw new UsageError(`unknown study '${name}' (studies: ${STUDIES.join(', ')})`);
  if (a.out !== undefined) checkOutputDir(a.out, '--out', STUDY_FILES);
  const st = crossoverStudy(
    progress === undefined ? { quick: a.quick === true } : { quick: a.quick === true, onProgress: progress },
  );
  let plot: string | null = null;
  if (a.out !== undefined) {
    try {
      mkdirSync(a.out, { recursive: true });
    } catch (e) {
      throw new UsageError(
        `--out ${a.out}: cannot create (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
      );
    }
    plot = join(a.out, 'crossover.svg');
    writeFileAtomic(plot, crossoverSvg(st), '--out');
    writeFileAtomic(join(a.out, 'crossover.json'), `${JSON.stringify(st, null, 1)}\n`, '--out');
  }
  const stdout = a.json === true ? `${JSON.stringify(st)}\n` : formatStudy(st, plot);
  return { stdout, exitCode: EXIT_OK, study: st };
}

export function register(program: Command): void {
  program
    .command('study')
    .description('studies over the model: crossover (mkwrite vs pagetable, heuristic regret)')
    .argument('<name>', 'study name: crossover')
    .option('--out <dir>', 'write crossover.svg and crossover.json into DIR')
    .option('--quick', 'a smaller grid (seconds instead of minutes)')
    .option('--json', 'print the study as one JSON document')
    .action((name: string, a: { json?: boolean; out?: string; quick?: boolean }) => {
      let bar: SingleBar | null = null;
      const progress = cliIo().stderrIsTTY
        ? (done: number, total: number) => {
            if (bar === null) {
              bar = new SingleBar({
                stream: cliIo().stderrStream ?? process.stderr,
                format: 'study [{bar}] {value}/{total} runs',
                clearOnComplete: true,
              });
              bar.start(total, 0);
            }
            bar.update(done);
          }
        : (() => {
            const lp = new LineProgress('study');
            return (done: number, total: number) => lp.update(done, total, 'runs');
          })();
      try {
        const out = runStudyCommand(name, a, progress);
        (bar as SingleBar | null)?.stop();
        writeOut(out.stdout);
        setExitCode(out.exitCode);
      } finally {
        (bar as SingleBar | null)?.stop();
      }
    });
}

/**
 * A folder of litmus files as a regression suite (like herd7's litmus tests in the kernel's
 * tools/memory-model): every variant of every file is checked and its verdict compared with the
 * one the file expects. A mismatch fails the suite: a different verdict or property, or an
 * `incomplete` (budget exhausted, or a sampling strategy) where a failure was expected. An
 * `incomplete` where a pass was expected is `unconfirmed`: shown, but not a mismatch.
 */
import { stat } from 'node:fs/promises';
import { type CheckOptions, check } from '../checker/check.ts';
import { litmusModel } from './build.ts';
import { listLitmusFiles, readLitmusFile } from './load.ts';
import { LitmusFormatError } from './schema.ts';

export interface SuiteRow {
  file: string;
  model: string;
  variant: string;
  expected: { verdict: 'pass' | 'fail'; property?: string };
  verdict: 'pass' | 'fail' | 'incomplete';
  property?: string;
  executions: number;
  elapsedMs: number;
  /** ok: verdict (and, for a failure, property) as expected; see the module comment. */
  status: 'ok' | 'mismatch' | 'unconfirmed';
}

/** Files to run: each argument is a litmus file or a folder of them. */
export async function collectLitmusFiles(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    let isDir: boolean;
    try {
      isDir = (await stat(p)).isDirectory();
    } catch (e) {
      throw new LitmusFormatError(
        `cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
    if (!isDir) out.push(p);
    else {
      const files = await listLitmusFiles(p);
      if (files.length === 0) throw new LitmusFormatError(`${p}: no *.litmus.json files`);
      out.push(...files);
    }
  }
  return out;
}

/**
 * Check every variant of every file (all files are validated first, so a bad file fails before
 * any checking). `opts` applies to every check; a file's `checkDefaults.preemptionBound` is used
 * for dfs unless `opts` sets one.
 */
export async function runLitmusSuite(
  files: readonly string[],
  opts: CheckOptions = {},
  onRow?: (row: SuiteRow) => void,
): Promise<SuiteRow[]> {
  const parsed = [];
  for (const f of files) parsed.push({ file: f, l: await readLitmusFile(f) });
  const rows: SuiteRow[] = [];
  for (const { file, l } of parsed) {
    const def = litmusModel(l);
    for (const v of l.variants) {
      const bound = l.checkDefaults?.preemptionBound;
      const strategy = opts.strategy ?? 'dfs';
      const r = check(def, v.name, {
        ...(bound !== undefined && strategy === 'dfs' ? { preemptionBound: bound } : {}),
        ...opts,
      });
      const status =
        r.verdict === 'incomplete' && v.expect.verdict === 'pass'
          ? 'unconfirmed'
          : r.verdict === v.expect.verdict &&
              (v.expect.verdict === 'pass' || r.property === v.expect.property)
            ? 'ok'
            : 'mismatch';
      const row: SuiteRow = {
        file,
        model: l.name,
        variant: v.name,
        expected:
          v.expect.property === undefined
            ? { verdict: v.expect.verdict }
            : { ...v.expect, property: v.expect.property },
        verdict: r.verdict,
        ...(r.property === undefined ? {} : { property: r.property }),
        executions: r.executions,
        elapsedMs: r.elapsedMs,
        status,
      };
      rows.push(row);
      onRow?.(row);
    }
  }
  return rows;
}

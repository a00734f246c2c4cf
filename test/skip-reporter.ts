/**
 * A vitest reporter that lists, after the run, every skipped suite and test with its title (a
 * capability skip carries its reason in the title, see test/capability.ts), so `npm test` says
 * what did not run and why instead of only "7 skipped". A skipped suite is listed once, not each
 * of its tests.
 */
import type { Reporter, TestCase, TestModule, TestSuite } from 'vitest/node';

type Node = TestCase | TestSuite;

function title(n: Node): string {
  const parts: string[] = [];
  let cur: Node | TestModule = n;
  while (cur.type !== 'module') {
    parts.unshift(cur.name);
    cur = cur.parent;
  }
  return `${cur.moduleId.replace(`${process.cwd()}/`, '')} > ${parts.join(' > ')}`;
}

function skipped(n: Node): boolean {
  return n.type === 'suite' ? n.state() === 'skipped' : n.result().state === 'skipped';
}

export function skippedTitles(modules: readonly TestModule[]): string[] {
  const out: string[] = [];
  const walk = (children: Iterable<Node>) => {
    for (const c of children) {
      if (skipped(c)) out.push(`${c.type === 'suite' ? 'suite' : 'test'}: ${title(c)}`);
      else if (c.type === 'suite') walk(c.children);
    }
  };
  for (const m of modules) walk(m.children);
  return out;
}

export default class SkipReporter implements Reporter {
  onTestRunEnd(modules: readonly TestModule[]): void {
    const lines = skippedTitles(modules);
    if (lines.length === 0) return;
    process.stdout.write(`\nSKIPPED (${lines.length}):\n${lines.map((l) => `  SKIP ${l}`).join('\n')}\n`);
  }
}

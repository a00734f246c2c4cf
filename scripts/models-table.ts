import { check } from '../src/checker/check.ts';
import { MODELS } from '../src/models/catalogue.ts';

const rows: string[] = [
  '| model | variant | expected | found | executions | ms | counterexample |',
  '|---|---|---|---|---|---|---|',
];
for (const m of MODELS)
  for (const v of m.variants) {
    const b = m.checkDefaults?.preemptionBound;
    const r = check(m, v.name, { ...(b === undefined ? {} : { preemptionBound: b }) });
    rows.push(
      `| ${m.name} | ${v.name} | ${v.expected.verdict}${v.expected.property ? ` ${v.expected.property}` : ''} | ${r.verdict}${r.property ? ` ${r.property}` : ''}${b !== undefined ? ` (bound ${b})` : ''} | ${r.executions} | ${Math.round(r.elapsedMs)} | ${r.counterexample ? `\`${r.counterexample.schedule}\`` : ''} |`,
    );
  }
console.log(rows.join('\n'));

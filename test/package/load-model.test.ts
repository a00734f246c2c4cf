/**
 * `dirtyscope check FILE` with a bad model module or litmus file: one line on stderr naming the
 * file and the problem, exit 2, nothing on stdout, never a stack trace. And a good module loads
 * as the model it exports (default or `model`).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { isModelPath, loadModelFile, ModelLoadError } from '../../src/api/load.ts';
import { check } from '../../src/checker/check.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'dirtyscope-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MODEL_API = JSON.stringify(join(ROOT, 'src/api/model.ts'));
const toy = (exportLine: string) => `import { defineModel, World } from ${MODEL_API};
const def = defineModel({
  name: 'toy',
  description: 'one writer, nothing to check',
  variants: [{ name: 'mainline', description: 'x', expected: { verdict: 'pass' } }],
  create(_v, { trace }) {
    const w = new World(1, trace);
    w.spawn('t', 0, (function* () { yield undefined; })());
    return w.instance(() => null);
  },
});
${exportLine}
`;

/** A valid litmus document with `over` merged in. */
function litmus(over: Record<string, unknown>): string {
  return JSON.stringify({
    litmus: 1,
    name: 'x',
    description: '',
    machine: {
      cpus: 2,
      driver: { pages: 1, tracking: 'mkwrite' },
      mappings: [{ name: 'A', pages: 1, shared: true, write: true }],
    },
    tasks: [{ name: 't', cpu: 0, steps: [{ op: 'store', mapping: 'A', page: 0 }] }],
    variants: [{ name: 'mainline', expect: { verdict: 'pass' } }],
    ...over,
  });
}

function file(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

const bad: Array<[string, string, string, RegExp]> = [
  ['missing file', 'nope.ts', '', /nope\.ts: no such file/],
  ['no model export', 'none.ts', 'export const x = 1;\n', /exports no model/],
  [
    'wrong shape',
    'shape.ts',
    "export default { name: 'm', description: 'd', variants: [], create() {} };\n",
    /not a ModelDef at variants/,
  ],
  [
    'create is not a function',
    'create.ts',
    "export const model = { name: 'm', description: 'd', variants: [{ name: 'v', description: '', expected: { verdict: 'pass' } }] };\n",
    /not a ModelDef at create/,
  ],
  [
    'throws while loading',
    'throws.ts',
    "throw new Error('boom at load');\n",
    /loading the module failed: boom at load/,
  ],
  ['syntax error', 'syntax.mjs', 'export default {;\n', /loading the module failed: /],
  ['not a model file type', 'model.txt', 'hello\n', /not a model module/],
  ['litmus: missing field', 'a.litmus.json', '{"litmus":1}', /a\.litmus\.json: name: expected a name/],
  [
    'litmus: unknown step',
    'u.litmus.json',
    litmus({ tasks: [{ name: 't', cpu: 0, steps: [{ op: 'jump' }] }] }),
    /u\.litmus\.json: tasks\.0\.steps\.0\.op: expected a step with "op" one of/,
  ],
  ['litmus: unknown field', 'f.litmus.json', litmus({ bogus: 1 }), /f\.litmus\.json: bogus: unknown field$/],
  [
    'litmus: a step names a missing mapping',
    'g.litmus.json',
    litmus({ tasks: [{ name: 't', cpu: 0, steps: [{ op: 'store', mapping: 'B', page: 0 }] }] }),
    /g\.litmus\.json: tasks\.0\.steps\.0: no mapping named "B"$/,
  ],
  ['litmus: not JSON', 'b.litmus.json', '{', /b\.litmus\.json: not valid JSON/],
];

describe('loadModelFile', () => {
  it('tells model paths from catalogue names', () => {
    expect(['wp-vs-writer', 'mkwrite-window'].map(isModelPath)).toEqual([false, false]);
    expect(['./m.ts', 'm.js', 'x/y', 'a.litmus.json'].map(isModelPath)).toEqual([true, true, true, true]);
  });

  it('loads the default export and the `model` export, and the result checks', async () => {
    for (const [name, line] of [
      ['d.ts', 'export default def;'],
      ['n.mts', 'export const model = def;'],
    ] as const) {
      const def = await loadModelFile(file(name, toy(line)));
      expect(def.name).toBe('toy');
      expect(check(def, 'mainline').verdict).toBe('pass');
    }
  });

  for (const [what, name, text, msg] of bad)
    it(`${what}: one-line ModelLoadError`, async () => {
      const f = name === 'nope.ts' ? join(dir, name) : file(name, text);
      const e = await loadModelFile(f).then(
        () => null,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(ModelLoadError);
      expect((e as Error).message).toMatch(msg);
      expect((e as Error).message).not.toContain('\n');
    });

  it('a create() that throws is a one-line error naming the file and variant', async () => {
    const def = await loadModelFile(
      file('boom.ts', toy('export default { ...def, create() { throw new Error("no such page"); } };')),
    );
    expect(() => def.create('mainline', { trace: false })).toThrow(
      /boom\.ts: create\('mainline'\) threw: no such page/,
    );
  });
});

describe('dirtyscope check with a bad file', () => {
  it('prints one line on stderr, nothing on stdout, and exits 2', () => {
    const files = [
      join(dir, 'nope.ts'),
      file('shape2.ts', "export default { name: 'm' };\n"),
      file('throws2.ts', "throw new Error('boom');\n"),
      file('boom2.ts', toy('export default { ...def, create() { throw new Error("bad setup"); } };')),
      file('c.litmus.json', '{"litmus":2}'),
    ];
    for (const f of files) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'check', f], {
        cwd: ROOT,
        encoding: 'utf8',
      });
      expect(r.status, `${f}: ${r.stderr}`).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(/^dirtyscope: /);
    }
  });
});

/**
 * The public API is what package.json `exports` names, and it is enough to write the catalogue:
 * every name a catalogue model (src/models) imports from outside src/models must be exported by
 * a public entry point. The test lists any that are not (the catalogue is not yet rewritten to
 * import from the entry points themselves; it may only use names they export). Oracle: the
 * TypeScript compiler's own view of each module's exports and of the catalogue's imports.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  exports: Record<string, string | { types: string; default: string }>;
  bin: Record<string, string>;
  files: string[];
  dependencies: Record<string, string>;
};

/** `./dist/x/y.js` -> `src/x/y.ts` */
const sourceOf = (dist: string) => dist.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts');
const entries = Object.entries(pkg.exports).filter(([k]) => k !== './package.json') as [
  string,
  { types: string; default: string },
][];

describe('package.json', () => {
  it('every export has types and JS built from an existing source module', () => {
    expect(entries.map(([k]) => k)).toEqual(['.', './model', './checker', './trace', './litmus']);
    for (const [k, e] of entries) {
      expect(e.types, k).toBe(e.default.replace(/\.js$/, '.d.ts'));
      expect(existsSync(join(ROOT, sourceOf(e.default))), `${k} -> ${sourceOf(e.default)}`).toBe(true);
    }
  });

  it('runtime dependencies exclude tsx and the build/test tools', () => {
    for (const d of ['tsx', 'typescript', 'vitest', 'vite', '@biomejs/biome', 'fast-check'])
      expect(pkg.dependencies[d], d).toBeUndefined();
  });
});

describe('the catalogue uses only exported API', () => {
  const opts: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    allowImportingTsExtensions: true,
    noEmit: true,
    strict: true,
    skipLibCheck: true,
    types: ['node'],
  };
  const entryFiles = entries.map(([, e]) => join(ROOT, sourceOf(e.default)));
  const modelDir = join(ROOT, 'src', 'models');
  const modelFiles = readdirSync(modelDir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(modelDir, f));
  const program = ts.createProgram([...entryFiles, ...modelFiles], opts);
  const checker = program.getTypeChecker();

  const exported = new Set<string>();
  for (const f of entryFiles) {
    const sym = checker.getSymbolAtLocation(program.getSourceFile(f)!)!;
    for (const s of checker.getExportsOfModule(sym)) exported.add(s.name);
  }

  /** `name (from module)` for every imported name a catalogue file takes from outside src/models. */
  function importsOf(file: string): string[] {
    const sf = program.getSourceFile(file)!;
    const out: string[] = [];
    const visit = (n: ts.Node): void => {
      if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
        const from = n.moduleSpecifier.text;
        const b = n.importClause?.namedBindings;
        if (!from.startsWith('./') && b !== undefined) {
          if (ts.isNamespaceImport(b)) out.push(`* (${from})`);
          else for (const e of b.elements) out.push(`${(e.propertyName ?? e.name).text} (${from})`);
        }
      }
      if (
        ts.isImportTypeNode(n) &&
        ts.isLiteralTypeNode(n.argument) &&
        ts.isStringLiteral(n.argument.literal)
      ) {
        const from = n.argument.literal.text;
        if (!from.startsWith('./') && n.qualifier !== undefined)
          out.push(`${ts.isIdentifier(n.qualifier) ? n.qualifier.text : n.qualifier.right.text} (${from})`);
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
    return out;
  }

  it('finds the public exports and the catalogue imports (sanity of the oracle)', () => {
    expect(exported.has('World')).toBe(true);
    expect(exported.has('ModelDef')).toBe(true);
    expect(modelFiles.flatMap(importsOf).length).toBeGreaterThan(20);
  });

  it('lists no catalogue import of a non-exported name', () => {
    const missing = [...new Set(modelFiles.flatMap(importsOf))]
      .filter((x) => !exported.has(x.split(' ')[0]!))
      .sort();
    if (missing.length > 0)
      process.stderr.write(`catalogue imports not in the public API:\n  ${missing.join('\n  ')}\n`);
    expect(missing, 'export these from src/api/model.ts (or stop using them)').toEqual([]);
  });
});

/** `dirtyscope list [--json]`: the models of the catalogue, their variants and expected verdicts. */
import type { Command } from 'commander';
import type { ModelDef } from '../checker/model.ts';
import { MODELS } from '../models/catalogue.ts';
import type { CommandOutput } from './cmd-check.ts';
import { EXIT_OK } from './errors.ts';
import { formatList, type ListResult } from './format/check.ts';
import { setExitCode, out as writeOut } from './io.ts';

export function listCatalogue(catalogue: readonly ModelDef[]): ListResult {
  return {
    models: catalogue.map((m) => ({
      name: m.name,
      description: m.description,
      variants: m.variants.map((v) => ({
        name: v.name,
        description: v.description,
        expected:
          v.expected.property === undefined
            ? { verdict: v.expected.verdict }
            : { verdict: v.expected.verdict, property: v.expected.property },
      })),
    })),
  };
}

export function runListCommand(catalogue: readonly ModelDef[], args: { json?: boolean }): CommandOutput {
  const r = listCatalogue(catalogue);
  return { stdout: args.json === true ? `${JSON.stringify(r)}\n` : formatList(r), exitCode: EXIT_OK };
}

export function register(program: Command): void {
  program
    .command('list')
    .description('list the checkable models, their variants and expected verdicts')
    .option('--json', 'print the catalogue as one JSON document')
    .action((args: { json?: boolean }) => {
      const out = runListCommand(MODELS, args);
      writeOut(out.stdout);
      setExitCode(out.exitCode);
    });
}

#!/usr/bin/env node
/**
 * dirtyscope CLI: thin. Parse -> call -> format. Each command lives in its own `cmd-*.ts` and
 * registers itself on the commander program; all human formatting lives under `format/`.
 */
import { Command, CommanderError } from 'commander';
import { register as registerCheck } from './cmd-check.ts';
import { register as registerDemo } from './cmd-demo.ts';
import { register as registerKernel } from './cmd-kernel.ts';
import { register as registerKernelDiff } from './cmd-kernel-diff.ts';
import { register as registerList } from './cmd-list.ts';
import { register as registerLitmus } from './cmd-litmus.ts';
import { register as registerReplay } from './cmd-replay.ts';
import { register as registerRun } from './cmd-run.ts';
import { register as registerServe } from './cmd-serve.ts';
import { register as registerStudy } from './cmd-study.ts';
import { EXIT_BAD_INPUT, EXIT_SKIP, SkipError, UsageError } from './errors.ts';

const program = new Command();
program
  .name('dirtyscope')
  .description('An executable, bit-accurate model of Linux shared-mapping dirty tracking')
  .version('0.1.0')
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

// Command registrations (one line each; keep sorted).
registerCheck(program);
registerDemo(program);
registerKernel(program);
registerKernelDiff(program);
registerList(program);
registerLitmus(program);
registerReplay(program);
registerRun(program);
registerServe(program);
registerStudy(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') process.exit(0);
    if (e.code === 'commander.help') process.exit(0);
    process.exit(EXIT_BAD_INPUT);
  }
  if (e instanceof UsageError) {
    process.stderr.write(`dirtyscope: ${e.message}\n`);
    process.exit(EXIT_BAD_INPUT);
  }
  if (e instanceof SkipError) {
    process.stdout.write(`SKIP: ${e.message}\n`);
    process.exit(EXIT_SKIP);
  }
  throw e;
}

#!/usr/bin/env node
/**
 * dirtyscope CLI: thin. Parse -> call -> format. Each command lives in its own `cmd-*.ts` and
 * registers itself on the commander program; all human formatting lives under `format/`.
 *
 * `main(argv, io)` runs one command line in-process and resolves to its exit code (the fuzz suite
 * calls it hundreds of times); run as a program (or imported by the `dirtyscope` bin), this module
 * calls it on process.argv. Every failure ends as one stderr line: bad input exit 2, a missing
 * capability `SKIP: reason` exit 3, an internal error exit 70 (stack only with DIRTYSCOPE_DEBUG=1).
 */
import { realpathSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { register as registerCheck } from './cmd-check.ts';
import { register as registerDemo } from './cmd-demo.ts';
import { register as registerKernel } from './cmd-kernel.ts';
import { register as registerKernelDiff } from './cmd-kernel-diff.ts';
import { register as registerLab } from './cmd-lab.ts';
import { register as registerList } from './cmd-list.ts';
import { register as registerLitmus } from './cmd-litmus.ts';
import { register as registerReplay } from './cmd-replay.ts';
import { register as registerRun } from './cmd-run.ts';
import { register as registerServe } from './cmd-serve.ts';
import { register as registerStudy } from './cmd-study.ts';
import { EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_SKIP, oneLine, SkipError, UsageError } from './errors.ts';
import { type CliIo, err, out, processIo, setExitCode, withIo } from './io.ts';

function program(): Command {
  const p = new Command();
  p.name('dirtyscope')
    .description('An executable, bit-accurate model of Linux shared-mapping dirty tracking')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => out(s),
      writeErr: (s) => err(s),
      // commander's own errors quote the user's words, which may hold line breaks: keep one line.
      outputError: (s, write) => write(`${oneLine(s)}\n`),
    });

  // Command registrations (one line each; keep sorted).
  registerCheck(p);
  registerDemo(p);
  registerKernel(p);
  registerKernelDiff(p);
  registerLab(p);
  registerList(p);
  registerLitmus(p);
  registerReplay(p);
  registerRun(p);
  registerServe(p);
  registerStudy(p);
  return p;
}

/** Maps what a command threw to its one stderr (or SKIP stdout) line and exit code. */
function report(e: unknown): void {
  if (e instanceof CommanderError) {
    // commander has already printed its one-line message through writeErr.
    const ok =
      e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help';
    setExitCode(ok ? 0 : EXIT_BAD_INPUT);
    return;
  }
  if (e instanceof UsageError) {
    err(`dirtyscope: ${oneLine(e.message)}\n`);
    setExitCode(EXIT_BAD_INPUT);
    return;
  }
  if (e instanceof SkipError) {
    out(`SKIP: ${oneLine(e.message)}\n`);
    setExitCode(EXIT_SKIP);
    return;
  }
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  err(`dirtyscope: internal error: ${oneLine(msg)} (set DIRTYSCOPE_DEBUG=1 for the stack)\n`);
  if (process.env.DIRTYSCOPE_DEBUG === '1' && e instanceof Error && e.stack) err(`${e.stack}\n`);
  setExitCode(EXIT_INTERNAL);
}

/** Runs one command line (`argv` without node and script) and resolves to its exit code. */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  // A command that still sets process.exitCode (instead of setExitCode) is honoured too.
  const saved = process.exitCode;
  process.exitCode = undefined;
  try {
    const code = await withIo(io, async () => {
      try {
        await program().parseAsync([...argv], { from: 'user' });
      } catch (e) {
        report(e);
      }
    });
    const legacy = Number(process.exitCode ?? 0);
    return code !== 0 ? code : legacy;
  } finally {
    process.exitCode = saved;
  }
}

/** This module is the process entry: run directly (tsx/node) or through the `dirtyscope` bin. */
function isEntry(): boolean {
  const a = process.argv[1];
  if (a === undefined) return false;
  let p: string;
  try {
    p = realpathSync(resolve(a));
  } catch {
    return false;
  }
  return p === fileURLToPath(import.meta.url) || /^dirtyscope(\.[cm]?js)?$/.test(basename(p));
}

if (isEntry()) {
  process.exitCode = await main(process.argv.slice(2));
}

#!/usr/bin/env node
// The `dirtyscope` command. It imports the built CLI (dist/cli/main.js) into THIS process: no
// child process, so signals, exit codes and stdio are the CLI's own (a SIGTERM stops the CLI).
//
// In a checkout (src/ present) whose dist/ is missing or older than a source file, it runs the
// sources instead through tsx's in-process loader (a devDependency), so an edit is never shadowed
// by a stale build. An installed package has no src/ and never needs tsx.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = new URL('..', import.meta.url);
const built = new URL('dist/cli/main.js', root);
const srcDir = new URL('src/', root);

/** Newest mtime (ms) of any file under `dir`. */
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

function useSources() {
  if (!existsSync(srcDir)) return false;
  if (!existsSync(built)) return true;
  return newest(fileURLToPath(srcDir)) > statSync(built).mtimeMs;
}

if (useSources()) {
  let tsx;
  try {
    tsx = await import('tsx/esm/api');
  } catch {
    tsx = undefined;
  }
  if (tsx !== undefined) {
    tsx.register();
    await import(new URL('src/cli/main.ts', root).href);
  } else if (existsSync(built)) {
    process.stderr.write('dirtyscope: note: dist/ is older than src/ (run `npm run build`)\n');
    await import(built.href);
  } else {
    process.stderr.write('dirtyscope: dist/ is not built and tsx is not installed: run `npm run build`\n');
    process.exit(2);
  }
} else {
  await import(built.href);
}

/**
 * The few cases that need a real process: the CLI's entry sets the process exit code and prints
 * one stderr line (spawned through tsx, as `npm start` runs it); and `serve`'s request checks
 * (DNS rebinding: the Host header must name this server), on a server started in-process.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostAllowed, type RunningServer, startServer } from '../../src/cli/cmd-serve.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const FIXTURE = new URL('../fixtures/wp-no-flush.trace.json', import.meta.url).pathname;

function cli(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('the CLI as a process', () => {
  for (const args of [
    ['run', '/dev/zero'],
    ['run', 'constructor'],
    ['serve', '--port', '0', '--spec', '/nonexistent.md'],
    ['check', 'wp-vs-writer', '--strategy', 'pct', '--pct-depth', '9007199254740991'],
  ])
    it(`${args.join(' ')}: exit 2, one stderr line naming the problem`, () => {
      const r = cli(args);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/^dirtyscope: [^\n]+\n$/);
      expect(r.out).toBe('');
    });
});

describe('serve: Host header (DNS rebinding)', () => {
  it('accepts IP literals, localhost and the --host name (any port); refuses other names', () => {
    for (const h of ['127.0.0.1:5178', '127.0.0.1', 'localhost:80', 'LOCALHOST', '[::1]:5178', '10.0.0.7:1'])
      expect(hostAllowed(h, '127.0.0.1'), h).toBe(true);
    expect(hostAllowed('myhost.lan:5178', 'myhost.lan')).toBe(true);
    for (const h of [
      'evil.example',
      'evil.example:5178',
      'localhost.evil.example',
      '',
      undefined,
      'a:b:c',
      '127.0.0.1:x',
    ])
      expect(hostAllowed(h, '127.0.0.1'), String(h)).toBe(false);
  });

  let srv: RunningServer;
  // A stand-in app directory (with index.html, so nothing is built): only traces are fetched here.
  const dist = mkdtempSync(join(tmpdir(), 'dirtyscope-dist-'));
  writeFileSync(join(dist, 'index.html'), '<!doctype html><title>stand-in</title>');
  beforeAll(async () => {
    srv = await startServer({ port: 0, host: '127.0.0.1', traces: [FIXTURE], dist, rebuild: false });
  });
  afterAll(async () => {
    await srv?.close();
    rmSync(dist, { recursive: true, force: true });
  });

  const get = (path: string, host: string) =>
    new Promise<number>((ok, fail) => {
      const req = request({ host: '127.0.0.1', port: srv.port, path, headers: { host } }, (res) => {
        res.resume();
        ok(res.statusCode ?? 0);
      });
      req.on('error', fail);
      req.end();
    });

  it('a trace is served to Host 127.0.0.1 and localhost, refused (421) to evil.example', async () => {
    expect(await get('/', `127.0.0.1:${srv.port}`)).toBe(200);
    expect(await get('/traces/0.json', `127.0.0.1:${srv.port}`)).toBe(200);
    expect(await get('/traces/0.json', `localhost:${srv.port}`)).toBe(200);
    expect(await get('/traces/0.json', 'evil.example')).toBe(421);
    expect(await get('/traces/index.json', `evil.example:${srv.port}`)).toBe(421);
  });
});

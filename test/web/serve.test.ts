/** `dirtyscope serve`: routes, trace validation and the exit-code contract (no browser needed). */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../../src/cli/cmd-serve.ts';
import { UsageError } from '../../src/cli/errors.ts';

const FIXTURE = new URL('../fixtures/wp-no-flush.trace.json', import.meta.url).pathname;
const BIN = new URL('../../bin/dirtyscope.js', import.meta.url).pathname;

function get(url: string, rawPath?: string): Promise<{ status: number; type: string; body: string }> {
  const u = new URL(url);
  return new Promise((ok, fail) => {
    const req = request(
      { host: u.hostname, port: u.port, path: rawPath ?? u.pathname, method: 'GET' },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () =>
          ok({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }),
        );
      },
    );
    req.on('error', fail);
    req.end();
  });
}

describe('serve routes', () => {
  let dir = '';
  let srv: RunningServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dirtyscope-serve-'));
    const dist = join(dir, 'dist');
    mkdirSync(join(dist, 'assets'), { recursive: true });
    writeFileSync(join(dist, 'index.html'), '<!doctype html><title>t</title>');
    writeFileSync(join(dist, 'assets', 'a.js'), 'export {};');
    writeFileSync(join(dir, 'secret.txt'), 'secret');
    srv = await startServer({ port: 0, host: '127.0.0.1', traces: [FIXTURE, FIXTURE], dist });
  });

  afterAll(async () => {
    await srv?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists the command-line traces and serves each one verbatim', async () => {
    expect(srv.built).toBe(false);
    const idx = await get(`${srv.url}traces/index.json`);
    expect(idx.status).toBe(200);
    expect(JSON.parse(idx.body)).toEqual([
      { id: 0, name: 'wp-no-flush.trace.json', url: 'traces/0.json' },
      { id: 1, name: 'wp-no-flush.trace.json', url: 'traces/1.json' },
    ]);
    const t = await get(`${srv.url}traces/1.json`);
    expect(t.type).toMatch(/^application\/json/);
    expect(t.body).toBe(readFileSync(FIXTURE, 'utf8'));
    expect((await get(`${srv.url}traces/2.json`)).status).toBe(404);
  });

  it('serves the app from dist with content types and never outside it', async () => {
    const root = await get(srv.url);
    expect(root.status).toBe(200);
    expect(root.type).toMatch(/^text\/html/);
    expect((await get(`${srv.url}assets/a.js`)).type).toMatch(/^text\/javascript/);
    expect((await get(`${srv.url}nope.js`)).status).toBe(404);
    for (const p of ['/../secret.txt', '/..%2fsecret.txt', '/assets/..%2f..%2fsecret.txt']) {
      const r = await get(srv.url, p);
      expect(r.status, p).toBeGreaterThanOrEqual(400);
      expect(r.body).not.toContain('secret');
    }
  });

  it('refuses a port that is already taken with a usage error', async () => {
    await expect(
      startServer({ port: srv.port, host: '127.0.0.1', traces: [], dist: join(dir, 'dist') }),
    ).rejects.toThrow(UsageError);
  });
});

describe('serve input errors (exit 2, one line)', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'dirtyscope-serve-bad-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const cases: Array<[string, string, RegExp]> = [
    ['not-json.json', '{"version": 1,', /not valid JSON/],
    ['wrong-version.json', '{"version": 9, "events": [], "setup": {}}', /version 9, expected 1/],
    ['no-events.json', '{"version": 1, "setup": {}}', /no "events" array/],
  ];
  for (const [name, body, msg] of cases)
    it(name, async () => {
      const f = join(dir, name);
      writeFileSync(f, body);
      await expect(startServer({ port: 0, host: '127.0.0.1', traces: [f], dist: dir })).rejects.toThrow(msg);
    });

  it('the CLI prints one line and exits 2 for a bad trace file and a bad port', () => {
    const f = join(dir, 'bad.json');
    writeFileSync(f, '[]');
    for (const args of [
      ['serve', f],
      ['serve', join(dir, 'missing.json')],
      ['serve', '--port', 'x'],
    ]) {
      const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    }
  });
});

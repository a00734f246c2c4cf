/**
 * `dirtyscope serve [--port P] [--host H] [TRACE.json ...]`: serve the built visualizer (web/dist)
 * over node:http, building it first if it is missing. Traces named on the command line are
 * checked up front (a bad one is a one-line error, exit 2), listed at /traces/index.json and
 * served at /traces/N.json; the app opens the first one. The behavioural spec is served at
 * /spec/kernel-spec.md when found, so the "spec §N" links work offline.
 */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { TRACE_VERSION } from '../trace/schema.ts';
import { readInputFile } from '../workload/files.ts';
import { UsageError } from './errors.ts';
import { formatServeStarted, type ServeStarted } from './format/serve.ts';
import { err, out as writeOut } from './io.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const WEB_ROOT = join(REPO, 'web');
export const WEB_DIST = join(WEB_ROOT, 'dist');
const DEFAULT_SPEC = resolve(REPO, '..', 'shared', 'spec', 'kernel-spec.md');

const TYPES: ReadonlyMap<string, string> = new Map([
  ['.html', 'text/html; charset=utf-8'],
  ['.js', 'text/javascript; charset=utf-8'],
  ['.css', 'text/css; charset=utf-8'],
  ['.json', 'application/json; charset=utf-8'],
  ['.svg', 'image/svg+xml'],
  ['.png', 'image/png'],
  ['.md', 'text/markdown; charset=utf-8'],
  ['.txt', 'text/plain; charset=utf-8'],
]);
const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

/** Largest trace file served (a long counterexample trace is a few MiB). */
export const MAX_SERVED_TRACE_BYTES = 64 * 1024 * 1024;
/** Largest spec file served. */
export const MAX_SPEC_BYTES = 16 * 1024 * 1024;

/** Addresses that listen on every interface. */
const ANY_HOST = new Set(['0.0.0.0', '::', '[::]']);

/**
 * The Host header names this server: an IP literal (v4 or bracketed v6), `localhost`, or the
 * name given to --host, with any port. Anything else is refused, so a web page on another
 * origin that rebinds its DNS name to this address cannot read the traces (DNS rebinding).
 */
export function hostAllowed(header: string | undefined, listenHost: string): boolean {
  if (header === undefined || header === '') return false;
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(header);
  if (m === null) return false;
  const name = m[1]!.toLowerCase();
  if (name.startsWith('[')) return true;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return true;
  return name === 'localhost' || name === listenHost.toLowerCase();
}

/** Build web/ into `outDir` with Vite (a dev dependency, loaded only when needed). */
export async function buildWeb(outDir = WEB_DIST): Promise<void> {
  const vite = await import('vite');
  await vite.build({
    configFile: join(WEB_ROOT, 'vite.config.ts'),
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true },
  });
}

/** Check a trace file's envelope; returns its text or throws UsageError naming the problem. */
export async function readTraceFile(file: string): Promise<string> {
  let text: string;
  try {
    text = readInputFile(file, 'trace', MAX_SERVED_TRACE_BYTES);
  } catch (e) {
    throw new UsageError(`cannot read ${(e as Error).message}`);
  }
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`trace ${file} is not valid JSON: ${(e as Error).message}`);
  }
  const t = x as { version?: unknown; events?: unknown; setup?: unknown };
  if (typeof x !== 'object' || x === null) throw new UsageError(`trace ${file} is not a JSON object`);
  if (t.version !== TRACE_VERSION)
    throw new UsageError(`trace ${file} has version ${JSON.stringify(t.version)}, expected ${TRACE_VERSION}`);
  if (!Array.isArray(t.events)) throw new UsageError(`trace ${file} has no "events" array`);
  if (typeof t.setup !== 'object' || t.setup === null) throw new UsageError(`trace ${file} has no "setup"`);
  return text;
}

export interface ServeOptions {
  port: number;
  host: string;
  traces: string[];
  /** Directory with the built app (default web/dist; built if missing). */
  dist?: string;
  /** Spec markdown to serve at /spec/kernel-spec.md (default ../shared/spec/kernel-spec.md if present). */
  spec?: string;
  /** Rebuild even if the app is already built. */
  rebuild?: boolean;
}

export interface RunningServer extends ServeStarted {
  server: Server;
  close(): Promise<void>;
}

function send(
  res: import('node:http').ServerResponse,
  code: number,
  type: string,
  body: string | Buffer,
): void {
  res.writeHead(code, {
    'content-type': type,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(body);
}

/** Start the server (resolves once listening). Used by the command, the e2e test and the bench. */
export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  if (opts.host.trim() === '')
    throw new UsageError(
      '--host is empty; give an address (default 127.0.0.1), or 0.0.0.0 to listen on every interface',
    );
  let spec: Buffer | null = null;
  if (opts.spec !== undefined) {
    try {
      spec = Buffer.from(readInputFile(opts.spec, '--spec', MAX_SPEC_BYTES), 'utf8');
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  } else if (existsSync(DEFAULT_SPEC)) {
    try {
      spec = Buffer.from(readInputFile(DEFAULT_SPEC, 'spec', MAX_SPEC_BYTES), 'utf8');
    } catch {
      spec = null; // the default spec is optional: the links then say it is not available
    }
  }
  const texts: string[] = [];
  for (const f of opts.traces) texts.push(await readTraceFile(f));
  const dist = resolve(opts.dist ?? WEB_DIST);
  let built = false;
  if (opts.rebuild || !existsSync(join(dist, 'index.html'))) {
    await buildWeb(dist);
    built = true;
  }
  const list = opts.traces.map((f, id) => ({ id, name: basename(f), url: `traces/${id}.json` }));
  const index = JSON.stringify(list);

  const server = createServer((req, res) => {
    void (async () => {
      if (!hostAllowed(req.headers.host, opts.host))
        return send(res, 421, TEXT, 'unknown Host header (use localhost or the address itself)\n');
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, TEXT, 'method not allowed\n');
      let path: string;
      try {
        path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      } catch {
        return send(res, 400, TEXT, 'bad request\n');
      }
      if (path === '/traces/index.json') return send(res, 200, JSON_TYPE, index);
      const m = /^\/traces\/(\d+)\.json$/.exec(path);
      if (m) {
        const t = texts[Number(m[1])];
        return t === undefined ? send(res, 404, TEXT, 'no such trace\n') : send(res, 200, JSON_TYPE, t);
      }
      if (path === '/spec/kernel-spec.md') {
        if (spec === null) return send(res, 404, TEXT, 'spec not available (pass --spec FILE)\n');
        return send(res, 200, TEXT, spec);
      }
      // Static files from dist; never outside it.
      const rel = normalize(path === '/' ? '/index.html' : path).replace(/^([/\\])+/, '');
      const file = resolve(dist, rel);
      if (file !== dist && !file.startsWith(dist + sep)) return send(res, 403, TEXT, 'forbidden\n');
      try {
        const st = await stat(file);
        if (!st.isFile()) throw new Error('not a file');
        return send(res, 200, TYPES.get(extname(file)) ?? 'application/octet-stream', await readFile(file));
      } catch {
        return send(res, 404, TEXT, 'not found\n');
      }
    })().catch(() => {
      if (!res.headersSent) send(res, 500, TEXT, 'internal error\n');
      else res.destroy();
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(
        e.code === 'EADDRINUSE'
          ? new UsageError(`port ${opts.port} on ${opts.host} is in use; pick another with --port`)
          : e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND'
            ? new UsageError(`cannot listen on host ${opts.host}`)
            : e,
      ),
    );
    server.listen(opts.port, opts.host, ok);
  });
  const port = (server.address() as AddressInfo).port;
  const hostPart = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${hostPart}:${port}/`,
    host: opts.host,
    port,
    traces: list,
    built,
    server,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

function parsePort(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw new UsageError(`--port must be an integer 0..65535, got "${v}"`);
  return n;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('serve the web visualizer on 127.0.0.1 and open the given traces in it')
    .argument('[traces...]', 'trace JSON files to list and open')
    .option('--port <port>', 'TCP port (0 = any free port)', parsePort, 5178)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--spec <file>', 'behavioural spec served for the "spec §N" links')
    .option('--build', 'rebuild web/dist before serving (default: only when it is missing)')
    .option('--json', 'print one JSON document describing the server, then keep serving')
    .action(
      async (
        traces: string[],
        o: { port: number; host: string; spec?: string; build?: boolean; json?: boolean },
      ) => {
        if (ANY_HOST.has(o.host.trim()))
          err(
            `dirtyscope: warning: listening on every interface (${o.host}): anyone who can reach this machine can read the served traces\n`,
          );
        const s = await startServer({
          port: o.port,
          host: o.host,
          traces,
          rebuild: o.build === true,
          ...(o.spec !== undefined ? { spec: o.spec } : {}),
        });
        const info: ServeStarted = {
          url: s.url,
          host: s.host,
          port: s.port,
          traces: s.traces,
          built: s.built,
        };
        writeOut(o.json ? `${JSON.stringify(info)}\n` : formatServeStarted(info));
        const stop = () => void s.close().then(() => process.exit(0));
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        await new Promise<void>(() => {});
      },
    );
}

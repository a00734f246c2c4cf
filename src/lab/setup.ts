/**
 * `dirtyscope lab setup`: make the lab ready on this machine, idempotently. Installs what it
 * needs from Debian's packages (qemu-system-x86, linux-image-amd64 with the matching
 * linux-headers-amd64, busybox-static, gcc, make, debootstrap, zstd, cpio), registers Debian
 * stable's kernel in the lab cache, builds the guest (module, agent, initramfs) for it, and for
 * the newer kernel fetches Debian unstable's by `apt-get download` + `dpkg-deb -x` into the cache
 * and builds its module in a sid chroot (lab/scripts/fetch-sid-kernel.sh). A second run only
 * checks and rebuilds what is stale.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { labDir, labKernels, labSourceDir, labSourceHash } from './paths.ts';

export type SetupWhich = 'stable' | 'sid' | 'all';

export interface SetupStep {
  step: string;
  ok: boolean;
  ms: number;
  detail: string;
}

export interface SetupResult {
  ok: boolean;
  /** A capability this machine lacks (no apt-get, not root): SKIP, not failure. */
  skip: string | null;
  steps: SetupStep[];
}

const PACKAGES: Array<[string, string]> = [
  ['qemu-system-x86', '/usr/bin/qemu-system-x86_64'],
  ['busybox-static', '/bin/busybox'],
  ['gcc', '/usr/bin/gcc'],
  ['make', '/usr/bin/make'],
  ['debootstrap', '/usr/sbin/debootstrap'],
  ['zstd', '/usr/bin/zstd'],
  ['cpio', '/usr/bin/cpio'],
  ['kmod', '/usr/bin/kmod'],
  ['libc6-dev', '/usr/lib/x86_64-linux-gnu/libc.a'],
];

function run(cmd: string, args: string[], log: (s: string) => void, env?: NodeJS.ProcessEnv) {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', ...env },
    maxBuffer: 64 * 1024 * 1024,
  });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  for (const line of out.split('\n')) if (/^(==>|\[|KVER=|step|error|ERROR)/.test(line)) log(`    ${line}`);
  return { ok: r.status === 0, out, status: r.status };
}

/** Stable kernels: /boot/vmlinuz-<kver> with a kbuild tree for the same version. */
export function stableKernels(): Array<{ kver: string; image: string; kbuild: string }> {
  if (!existsSync('/boot')) return [];
  const out: Array<{ kver: string; image: string; kbuild: string }> = [];
  for (const f of readdirSync('/boot')) {
    const m = /^vmlinuz-(.+)$/.exec(f);
    if (m === null) continue;
    const kver = m[1]!;
    for (const kb of [`/lib/modules/${kver}/build`, `/usr/src/linux-headers-${kver}`])
      if (existsSync(join(kb, 'Makefile'))) {
        out.push({ kver, image: join('/boot', f), kbuild: kb });
        break;
      }
  }
  return out;
}

function writeJsonAtomic(path: string, v: unknown): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(v, null, 2)}\n`);
  renameSync(tmp, path);
}

export function labSetup(which: SetupWhich, log: (s: string) => void): SetupResult {
  const steps: SetupStep[] = [];
  const step = (name: string, f: () => { ok: boolean; detail: string }): boolean => {
    log(`lab setup: ${name} ...`);
    const t = performance.now();
    const r = f();
    const s = { step: name, ok: r.ok, ms: Math.round(performance.now() - t), detail: r.detail };
    steps.push(s);
    log(`lab setup: ${name}: ${r.ok ? 'ok' : 'FAILED'} (${(s.ms / 1000).toFixed(1)} s) ${r.detail}`);
    return r.ok;
  };
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return {
      ok: false,
      skip: `the lab needs an x86-64 Linux host (this is ${process.platform}/${process.arch})`,
      steps,
    };
  const missing = PACKAGES.filter(([, f]) => !existsSync(f)).map(([p]) => p);
  const needStable = which !== 'sid' && stableKernels().length === 0;
  if (needStable) missing.push('linux-image-amd64', 'linux-headers-amd64');
  if (missing.length > 0) {
    const hasApt = existsSync('/usr/bin/apt-get');
    const root = typeof process.getuid === 'function' && process.getuid() === 0;
    if (!hasApt || !root)
      return {
        ok: false,
        skip: `missing ${missing.join(', ')} and cannot install them (${hasApt ? 'not root' : 'no apt-get'})`,
        steps,
      };
    const ok = step(`install ${missing.join(' ')}`, () => {
      let r = run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], log);
      if (!r.ok) {
        run('apt-get', ['update', '-q'], log);
        r = run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], log);
      }
      return { ok: r.ok, detail: r.ok ? '' : r.out.trim().split('\n').slice(-3).join(' | ') };
    });
    if (!ok) return { ok: false, skip: null, steps };
  }
  const cache = labDir();
  mkdirSync(join(cache, 'kernels'), { recursive: true });
  const hash = labSourceHash();
  const buildGuest = (kver: string, kbuild: string, chroot?: string): boolean => {
    const k = labKernels().find((x) => x.kver === kver);
    if (k?.fresh === true && k.hasGuest) {
      steps.push({ step: `guest for ${kver}`, ok: true, ms: 0, detail: 'up to date' });
      log(`lab setup: guest for ${kver}: up to date`);
      return true;
    }
    return step(`build guest for ${kver}`, () => {
      // The Q3 guest program (kernel-independent, static): build-guest.sh ships it if present.
      mkdirSync(join(cache, 'guest'), { recursive: true });
      const fb = run(
        'gcc',
        [
          '-static',
          '-O2',
          '-Wall',
          '-Wextra',
          '-o',
          join(cache, 'guest', 'fbtest'),
          join(labSourceDir(), 'agent', 'fbtest.c'),
        ],
        log,
      );
      if (!fb.ok) return { ok: false, detail: `fbtest: ${fb.out.trim().split('\n').slice(-3).join(' | ')}` };
      const args = [join(labSourceDir(), 'scripts', 'build-guest.sh'), kver, kbuild, cache];
      if (chroot !== undefined) args.push(chroot);
      const r = run('bash', args, log);
      if (r.ok) {
        const gdir = join(cache, 'guest', kver);
        // Merge: build-guest.sh keeps its own keys (srcHash, virtio, fb) in the same file.
        const bj = join(gdir, 'build.json');
        let prev: Record<string, unknown> = {};
        try {
          prev = JSON.parse(readFileSync(bj, 'utf8')) as Record<string, unknown>;
        } catch {
          prev = {};
        }
        if (existsSync(gdir)) writeJsonAtomic(bj, { ...prev, hash, kver });
      }
      return { ok: r.ok, detail: r.ok ? '' : r.out.trim().split('\n').slice(-5).join(' | ') };
    });
  };
  let allOk = true;
  if (which !== 'sid') {
    const st = stableKernels();
    if (st.length === 0) {
      steps.push({ step: 'stable kernel', ok: false, ms: 0, detail: 'no /boot/vmlinuz-* with its headers' });
      allOk = false;
    }
    for (const s of st) {
      const kdir = join(cache, 'kernels', s.kver);
      mkdirSync(kdir, { recursive: true });
      if (!existsSync(join(kdir, 'kernel'))) {
        copyFileSync(s.image, join(kdir, 'kernel.tmp'));
        renameSync(join(kdir, 'kernel.tmp'), join(kdir, 'kernel'));
      }
      writeJsonAtomic(join(kdir, 'meta.json'), { kver: s.kver, kbuild: s.kbuild, source: 'debian-stable' });
      allOk = buildGuest(s.kver, s.kbuild) && allOk;
    }
  }
  if (which !== 'stable') {
    let kver = '';
    const ok = step('Debian unstable kernel (fetch, sid chroot for modules)', () => {
      const r = run('bash', [join(labSourceDir(), 'scripts', 'fetch-sid-kernel.sh'), cache], log);
      const m = /^KVER=(\S+)/m.exec(r.out);
      if (m !== null) kver = m[1]!;
      return {
        ok: r.ok && kver !== '',
        detail: r.ok ? kver : r.out.trim().split('\n').slice(-5).join(' | '),
      };
    });
    if (ok) {
      const meta = JSON.parse(readFileSync(join(cache, 'kernels', kver, 'meta.json'), 'utf8')) as {
        kbuild: string;
        chroot?: string;
      };
      allOk = buildGuest(kver, meta.kbuild, meta.chroot) && allOk;
    } else allOk = false;
  }
  return { ok: allOk, skip: null, steps };
}

/**
 * Where the lab keeps what it builds (never in git): the kernels it boots, the guest images
 * built for each, and what `lab status` reports. Layout: lab/PROTOCOL.md "Files and the cache".
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The lab cache: $DIRTYSCOPE_LAB_DIR, else $XDG_CACHE_HOME/dirtyscope/lab, else ~/.cache/dirtyscope/lab. */
export function labDir(): string {
  const env = process.env.DIRTYSCOPE_LAB_DIR;
  if (env !== undefined && env !== '') return resolve(env);
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.cache'), 'dirtyscope', 'lab');
}

/** The repository's `lab/` folder (guest sources and scripts). */
export function labSourceDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'lab');
}

export interface KernelMeta {
  kver: string;
  kbuild: string;
  chroot?: string;
  source: string;
}

/** A kernel the lab knows, with what is ready for it. */
export interface LabKernel {
  kver: string;
  meta: KernelMeta;
  kernel: string;
  initramfs: string;
  /** Kernel image present. */
  hasKernel: boolean;
  /** Guest image built (module + agent + initramfs). */
  hasGuest: boolean;
  /** The guest image was built from the current lab/ sources. */
  fresh: boolean;
  /** Data channel the guest image supports besides ttyS1 (build-guest.sh's build.json). */
  virtio: 'modules' | 'builtin' | 'none';
  /** Major.minor as numbers, for `--kernel 6.1` / `7.x` selection and feature gates. */
  major: number;
  minor: number;
}

/** Hash of every file under lab/ that goes into a guest image (module, agent, init, scripts). */
export function labSourceHash(): string {
  const h = createHash('sha256');
  const root = labSourceDir();
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (/\.(c|h|sh)$|^Kbuild|^Makefile|^init$/.test(name)) {
        h.update(p.slice(root.length));
        h.update(readFileSync(p));
      }
    }
  };
  if (existsSync(root)) walk(root);
  return h.digest('hex').slice(0, 16);
}

function versionOf(kver: string): { major: number; minor: number } {
  const m = /^(\d+)\.(\d+)/.exec(kver);
  return m === null ? { major: 0, minor: 0 } : { major: Number(m[1]), minor: Number(m[2]) };
}

/** Every kernel registered in the cache, oldest version first. */
export function labKernels(): LabKernel[] {
  const dir = join(labDir(), 'kernels');
  if (!existsSync(dir)) return [];
  const hash = labSourceHash();
  const out: LabKernel[] = [];
  for (const kver of readdirSync(dir)) {
    const metaPath = join(dir, kver, 'meta.json');
    if (!existsSync(metaPath)) continue;
    let meta: KernelMeta;
    try {
      meta = JSON.parse(readFileSync(metaPath, 'utf8')) as KernelMeta;
    } catch {
      continue;
    }
    const kernel = join(dir, kver, 'kernel');
    const gdir = join(labDir(), 'guest', kver);
    const initramfs = join(gdir, 'initramfs.cpio.gz');
    let fresh = false;
    let virtio: LabKernel['virtio'] = 'none';
    try {
      const b = JSON.parse(readFileSync(join(gdir, 'build.json'), 'utf8')) as {
        hash?: string;
        virtio?: string;
      };
      fresh = b.hash === hash;
      if (b.virtio === 'modules' || b.virtio === 'builtin') virtio = b.virtio;
    } catch {
      fresh = false;
    }
    out.push({
      kver,
      meta,
      kernel,
      initramfs,
      hasKernel: existsSync(kernel),
      hasGuest: existsSync(initramfs),
      fresh,
      virtio,
      ...versionOf(kver),
    });
  }
  return out.sort((a, b) => a.major - b.major || a.minor - b.minor || a.kver.localeCompare(b.kver));
}

/**
 * Pick a kernel: `6.1` (major.minor prefix), `7.x` (any of that major, newest), a full version,
 * or undefined (the oldest ready one: Debian stable's).
 */
export function selectKernel(kernels: LabKernel[], want: string | undefined): LabKernel | null {
  const ready = kernels.filter((k) => k.hasKernel && k.hasGuest);
  if (want === undefined) return ready[0] ?? null;
  const exact = ready.find((k) => k.kver === want);
  if (exact) return exact;
  const mx = /^(\d+)\.x$/.exec(want);
  if (mx !== null) return ready.filter((k) => k.major === Number(mx[1])).at(-1) ?? null;
  const mm = /^(\d+)\.(\d+)$/.exec(want);
  if (mm !== null)
    return ready.filter((k) => k.major === Number(mm[1]) && k.minor === Number(mm[2])).at(-1) ?? null;
  return null;
}

/** A kernel-selector argument is well formed (bad input otherwise). */
export function validKernelSelector(s: string): boolean {
  return /^(\d+\.x|\d+\.\d+|\d+\.\d+[\w.+~-]*)$/.test(s) && s.length <= 64;
}

/** qemu-system-x86_64, if installed. */
export function qemuPath(): string | null {
  for (const p of ['/usr/bin/qemu-system-x86_64', '/usr/local/bin/qemu-system-x86_64'])
    if (existsSync(p)) return p;
  return null;
}

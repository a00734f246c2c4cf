/**
 * Capability probe for the real-kernel backend. Never throws and never pretends: either every
 * piece the backend needs was exercised once on a tiny memfd mapping (`ok: true`), or the result
 * is a SKIP naming the stage that failed and why.
 *
 * Setting the environment variable DIRTYSCOPE_KERNEL_SKIP=<why> forces a SKIP (stage `forced`),
 * to exercise the SKIP path on a capable machine.
 *
 * Stages, in order: platform (linux, x64/arm64) -> thp (shmem THP not forced: regions use
 * MADV_NOHUGEPAGE, which `force` overrides) -> libc (koffi loads libc.so.6) -> userfaultfd
 * (syscall with UFFD_USER_MODE_ONLY; EPERM when vm.unprivileged_userfaultfd=0 and unprivileged,
 * ENOSYS when not compiled in) -> features (UFFDIO_API answers; WP_ASYNC, WP_UNPOPULATED,
 * WP_HUGETLBFS_SHMEM all present) -> register (UFFDIO_REGISTER MODE_WP on a memfd mapping) ->
 * pagemap_scan (PAGEMAP_SCAN with WP_MATCHING reports a written page; ENOTTY/EINVAL on kernels
 * before 6.7).
 */
import { readFileSync } from 'node:fs';
import { arch, platform, release } from 'node:os';
import {
  getLibc,
  LibcUnavailableError,
  MAP_SHARED,
  MFD_CLOEXEC,
  PROT_READ,
  PROT_WRITE,
  SyscallError,
} from './libc.ts';
import { openPagemap, PAGE_IS_WRITTEN, PM_SCAN_WP_MATCHING, pagemapScan, ScanVec } from './pagemap-scan.ts';
import {
  REQUIRED_FEATURE_NAMES,
  REQUIRED_FEATURES,
  UFFDIO_REGISTER_MODE_WP,
  UFFDIO_WRITEPROTECT_MODE_WP,
  uffdApi,
  uffdOpen,
  uffdRegister,
  uffdWriteprotect,
} from './uffd.ts';

/** Where the probe stopped. */
export type ProbeStage =
  | 'forced'
  | 'platform'
  | 'thp'
  | 'libc'
  | 'userfaultfd'
  | 'features'
  | 'register'
  | 'pagemap_scan';

/** Facts gathered on the way (present as far as the probe got). */
export interface ProbeFacts {
  platform: string;
  arch: string;
  release: string;
  pageSize?: number;
  /** /proc/sys/vm/unprivileged_userfaultfd, if readable. */
  unprivilegedUserfaultfd?: string;
  /** Feature bits UFFDIO_API reported, hex. */
  uffdFeatures?: string;
  /** /sys/kernel/mm/transparent_hugepage/shmem_enabled (the selected value), if readable. */
  shmemThp?: string;
  /** Names of the required features the kernel lacks. */
  missingFeatures?: string[];
}

/** Probe result: usable, or a SKIP with its reason. */
export type ProbeResult =
  | { ok: true; facts: ProbeFacts }
  | { ok: false; stage: ProbeStage; reason: string; facts: ProbeFacts };

function readSysctl(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

let cached: ProbeResult | null = null;

/** Run the probe (cached after the first call in a process; `fresh` re-runs it). */
export function probeKernel(fresh = false): ProbeResult {
  if (cached === null || fresh) cached = runProbe();
  return cached;
}

function runProbe(): ProbeResult {
  const facts: ProbeFacts = { platform: platform(), arch: arch(), release: release() };
  const skip = (stage: ProbeStage, reason: string): ProbeResult => ({ ok: false, stage, reason, facts });
  const forced = process.env.DIRTYSCOPE_KERNEL_SKIP;
  if (forced) return skip('forced', `DIRTYSCOPE_KERNEL_SKIP is set: ${forced}`);
  if (platform() !== 'linux') return skip('platform', `not Linux (platform ${platform()})`);
  const thp = readSysctl('/sys/kernel/mm/transparent_hugepage/shmem_enabled');
  const sel = thp === undefined ? undefined : /\[(\w+)\]/.exec(thp)?.[1];
  if (sel !== undefined) facts.shmemThp = sel;
  if (sel === 'force') {
    return skip('thp', 'shmem_enabled=force: memfd pages may be huge, which the tracking contract excludes');
  }
  let libc: ReturnType<typeof getLibc>;
  try {
    libc = getLibc();
  } catch (e) {
    if (e instanceof LibcUnavailableError) return skip('libc', e.message);
    return skip('libc', `loading libc failed: ${(e as Error).message}`);
  }
  facts.pageSize = libc.pageSize;
  const unpriv = readSysctl('/proc/sys/vm/unprivileged_userfaultfd');
  if (unpriv !== undefined) facts.unprivilegedUserfaultfd = unpriv;

  const errText = (e: unknown): string => (e instanceof SyscallError ? e.code : (e as Error).message);
  const fds: number[] = [];
  const maps: [number, number][] = [];
  let vec: ScanVec | null = null;
  try {
    // 1. userfaultfd itself
    let uffd: number;
    try {
      uffd = uffdOpen();
      fds.push(uffd);
    } catch (e) {
      const code = errText(e);
      const why =
        code === 'EPERM'
          ? 'userfaultfd refused (EPERM): vm.unprivileged_userfaultfd=0 and no CAP_SYS_PTRACE'
          : code === 'ENOSYS'
            ? 'userfaultfd syscall not available (ENOSYS): kernel built without CONFIG_USERFAULTFD'
            : code === 'EINVAL'
              ? 'userfaultfd rejected UFFD_USER_MODE_ONLY (EINVAL): kernel older than 5.11'
              : `userfaultfd failed: ${code}`;
      return skip('userfaultfd', why);
    }
    // 2. features: ask with 0 to learn every supported bit
    let features: bigint;
    try {
      features = uffdApi(uffd, 0).features;
    } catch (e) {
      return skip('features', `UFFDIO_API failed: ${errText(e)}`);
    }
    facts.uffdFeatures = `0x${features.toString(16)}`;
    const missing: string[] = [];
    for (const [bit, name] of Object.entries(REQUIRED_FEATURE_NAMES)) {
      if ((features & BigInt(bit)) === 0n) missing.push(name);
    }
    facts.missingFeatures = missing;
    if (missing.length > 0) return skip('features', `userfaultfd lacks ${missing.join(', ')}`);

    // 3. register a memfd mapping for WP with the features on
    const ps = libc.pageSize;
    const len = 4 * ps;
    let base: number;
    let uffd2: number;
    try {
      const memfd = libc.memfdCreate('dirtyscope-probe', MFD_CLOEXEC);
      fds.push(memfd);
      libc.ftruncate(memfd, len);
      base = libc.mmap(0, len, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
      maps.push([base, len]);
      uffd2 = uffdOpen();
      fds.push(uffd2);
      uffdApi(uffd2, REQUIRED_FEATURES);
      uffdRegister(uffd2, base, len, UFFDIO_REGISTER_MODE_WP);
      uffdWriteprotect(uffd2, base, len, UFFDIO_WRITEPROTECT_MODE_WP);
    } catch (e) {
      return skip('register', `uffd-wp registration of a memfd mapping failed: ${errText(e)}`);
    }

    // 4. PAGEMAP_SCAN: one store, one scan with WP_MATCHING, one page reported
    try {
      const pm = openPagemap();
      fds.push(pm);
      new Uint8Array(libc.view(base + ps, 1))[0] = 1;
      vec = new ScanVec(4);
      const arg = {
        flags: PM_SCAN_WP_MATCHING,
        start: base,
        end: base + len,
        vecLen: 4,
        maxPages: 0,
        categoryInverted: 0,
        categoryMask: PAGE_IS_WRITTEN,
        categoryAnyofMask: 0,
        returnMask: PAGE_IS_WRITTEN,
      };
      const r = pagemapScan(pm, arg, vec.address);
      const reg = r.nRegions === 1 ? vec.region(0) : null;
      if (reg === null || reg.start !== base + ps || reg.end !== base + 2 * ps) {
        return skip(
          'pagemap_scan',
          `PAGEMAP_SCAN did not report the one written page (got ${r.nRegions} regions)`,
        );
      }
    } catch (e) {
      const code = errText(e);
      const why =
        code === 'ENOTTY' || code === 'EINVAL'
          ? `PAGEMAP_SCAN ioctl not supported (${code}): kernel older than 6.7`
          : `PAGEMAP_SCAN failed: ${code}`;
      return skip('pagemap_scan', why);
    }
    return { ok: true, facts };
  } finally {
    vec?.close();
    for (const [a, l] of maps) libc.munmap(a, l);
    for (const fd of fds.reverse()) libc.close(fd);
  }
}

/** One-line SKIP reason for a failed probe (`stage: reason`), or null when usable. */
export function skipReason(r: ProbeResult): string | null {
  return r.ok ? null : `${r.stage}: ${r.reason}`;
}

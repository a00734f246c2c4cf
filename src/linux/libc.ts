/**
 * Thin koffi bindings to the few libc entry points the real-kernel backend needs: memfd, mmap and
 * friends, ioctl, and the raw `syscall` used for userfaultfd. No native build step: koffi loads
 * `libc.so.6` at run time.
 *
 * Every wrapper returns the plain result on success and throws {@link SyscallError} (with the
 * errno number and its symbolic name) on failure, so callers never see -1. Addresses are plain JS
 * numbers: user-space addresses on x86-64 and arm64 are below 2^47, well inside 2^53.
 *
 * Loading is lazy ({@link getLibc}): importing this module never touches koffi, so a machine
 * without glibc (or without Linux) can still import it and get a clean {@link LibcUnavailableError}
 * that the capability probe turns into a SKIP.
 */
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';

// Values from the Linux uapi headers (asm-generic/mman-common.h, asm-generic/mman.h,
// linux/memfd.h, asm-generic/fcntl.h); identical on x86-64 and arm64.
/** `PROT_NONE` (asm-generic/mman-common.h). */
export const PROT_NONE = 0x0;
/** `PROT_READ` (asm-generic/mman-common.h). */
export const PROT_READ = 0x1;
/** `PROT_WRITE` (asm-generic/mman-common.h). */
export const PROT_WRITE = 0x2;
/** `MAP_SHARED` (linux/mman.h). */
export const MAP_SHARED = 0x01;
/** `MAP_PRIVATE` (linux/mman.h). */
export const MAP_PRIVATE = 0x02;
/** `MAP_FIXED` (asm-generic/mman-common.h). */
export const MAP_FIXED = 0x10;
/** `MAP_ANONYMOUS` (asm-generic/mman-common.h). */
export const MAP_ANONYMOUS = 0x20;
/** `MAP_NORESERVE` (asm-generic/mman.h). */
export const MAP_NORESERVE = 0x4000;
/** `MAP_POPULATE` (asm-generic/mman.h). */
export const MAP_POPULATE = 0x8000;
/** `MAP_FIXED_NOREPLACE` (asm-generic/mman-common.h, Linux 4.17+). */
export const MAP_FIXED_NOREPLACE = 0x100000;
/** `MADV_DONTNEED` (asm-generic/mman-common.h). */
export const MADV_DONTNEED = 4;
/** `MADV_NOHUGEPAGE` (asm-generic/mman-common.h). */
export const MADV_NOHUGEPAGE = 15;
/** `MFD_CLOEXEC` (linux/memfd.h). */
export const MFD_CLOEXEC = 0x1;
/** `O_RDONLY` (asm-generic/fcntl.h). */
export const O_RDONLY = 0;
/** `O_NONBLOCK` (asm-generic/fcntl.h, octal 04000). */
export const O_NONBLOCK = 0o4000;
/** `O_CLOEXEC` (asm-generic/fcntl.h, octal 02000000). */
export const O_CLOEXEC = 0o2000000;
/** `RUSAGE_THREAD` (linux/resource.h). */
const RUSAGE_THREAD = 1;
/** `sizeof(struct rusage)` on LP64 (2 timevals + 14 longs). */
const SIZEOF_RUSAGE = 144;
/** Offset of `ru_minflt` in `struct rusage` on LP64 (`ru_majflt` follows). */
const RU_MINFLT_OFFSET = 64;
/** `_SC_PAGESIZE` (glibc bits/confname.h). */
const SC_PAGESIZE = 30;

/**
 * `__NR_userfaultfd` per architecture: arch/x86/entry/syscalls/syscall_64.tbl (323) and the
 * generic table used by arm64, include/uapi/asm-generic/unistd.h (282).
 */
export const NR_USERFAULTFD: Readonly<Record<string, number>> = { x64: 323, arm64: 282 };
/** `__NR_perf_event_open` per architecture (same tables as {@link NR_USERFAULTFD}). */
export const NR_PERF_EVENT_OPEN: Readonly<Record<string, number>> = { x64: 298, arm64: 241 };

/** A libc call returned -1; `errno` is the number, `code` its symbolic name (e.g. `EINVAL`). */
export class SyscallError extends Error {
  readonly call: string;
  readonly errno: number;
  readonly code: string;
  constructor(call: string, errno: number) {
    const code = errnoName(errno);
    super(`${call} failed: ${code} (errno ${errno})`);
    this.call = call;
    this.errno = errno;
    this.code = code;
  }
}

/** libc (or koffi) cannot be loaded on this machine: not Linux, not glibc, not a supported CPU. */
export class LibcUnavailableError extends Error {}

// koffi's types are `any`-heavy; we confine them to this module.
// biome-ignore lint/suspicious/noExplicitAny: FFI boundary, narrowed by the typed wrappers below
type Fn = (...args: any[]) => any;
interface KoffiLike {
  load(path: string): { func(decl: string): Fn };
  errno(): number;
  view(ptr: number, len: number): ArrayBuffer;
  os: { errno: Record<string, number> };
}

let errnoNames: Map<number, string> | null = null;

/** Symbolic name of an errno number (`EINVAL`), or `E<n>` if unknown. */
export function errnoName(n: number): string {
  if (errnoNames === null) {
    errnoNames = new Map();
    try {
      const k = loadKoffi();
      for (const [name, num] of Object.entries(k.os.errno))
        if (!errnoNames.has(num)) errnoNames.set(num, name);
    } catch {
      // koffi unavailable: fall through to numeric names
    }
  }
  return errnoNames.get(n) ?? `E${n}`;
}

let koffiMod: KoffiLike | null = null;
function loadKoffi(): KoffiLike {
  if (koffiMod === null) {
    const req = createRequire(import.meta.url);
    koffiMod = req('koffi') as KoffiLike;
  }
  return koffiMod;
}

/** The typed libc surface. All sizes and offsets are byte counts; addresses are numbers. */
export interface Libc {
  readonly pageSize: number;
  memfdCreate(name: string, flags: number): number;
  ftruncate(fd: number, length: number): void;
  /** Returns the mapped address. */
  mmap(addr: number, length: number, prot: number, flags: number, fd: number, offset: number): number;
  munmap(addr: number, length: number): void;
  mprotect(addr: number, length: number, prot: number): void;
  madvise(addr: number, length: number, advice: number): void;
  close(fd: number): void;
  open(path: string, flags: number): number;
  /**
   * `ioctl(fd, request, arg)` with `arg` a pointer to the given buffer (or NULL). Returns the
   * non-negative result; throws {@link SyscallError} on -1.
   */
  ioctl(fd: number, request: number, arg: ArrayBufferView | null): number;
  /** `syscall(__NR_userfaultfd, flags)`; returns the new fd. */
  userfaultfd(flags: number): number;
  /**
   * Page faults taken so far by the calling thread: `ru_minflt + ru_majflt` of
   * `getrusage(RUSAGE_THREAD)` (the kernel counts a fault once it is handled, user or kernel mode,
   * a retried fault as major). Reuses one buffer: no allocation between two calls.
   */
  threadFaults(): number;
  /**
   * `syscall(__NR_perf_event_open, attr, pid, cpu, group_fd, flags)`; returns the new fd.
   * Throws SyscallError (ENOSYS where the architecture's number is unknown).
   */
  perfEventOpen(attr: Uint8Array, pid: number, cpu: number, groupFd: number, flags: number): number;
  /** `pread(fd, buf, buf.length, offset)`; returns the bytes read. */
  pread(fd: number, buf: Uint8Array, offset: number): number;
  /**
   * An ArrayBuffer over `length` bytes of process memory at `addr`, without copy: stores into a
   * typed array over it are real CPU stores to that memory (koffi external buffer). Accessing it
   * after the memory is unmapped crashes the process, so callers guard every access.
   */
  view(addr: number, length: number): ArrayBuffer;
}

let libcInst: Libc | null = null;

/** Load libc through koffi (once). Throws {@link LibcUnavailableError} if that is impossible. */
export function getLibc(): Libc {
  if (libcInst !== null) return libcInst;
  if (platform() !== 'linux') throw new LibcUnavailableError(`platform is ${platform()}, not linux`);
  const nrUffd = NR_USERFAULTFD[arch()];
  if (nrUffd === undefined)
    throw new LibcUnavailableError(`no userfaultfd syscall number known for ${arch()}`);
  let k: KoffiLike;
  let lib: { func(decl: string): Fn };
  try {
    k = loadKoffi();
    lib = k.load('libc.so.6');
  } catch (e) {
    throw new LibcUnavailableError(`cannot load libc.so.6 through koffi: ${(e as Error).message}`);
  }
  const memfd_create = lib.func('int memfd_create(const char *name, unsigned int flags)');
  const ftruncate = lib.func('int ftruncate(int fd, int64_t length)');
  // intptr_t so that MAP_FAILED comes back as -1 rather than a 2^64-1 bigint
  const mmap = lib.func(
    'intptr_t mmap(uintptr_t addr, size_t length, int prot, int flags, int fd, int64_t off)',
  );
  const munmap = lib.func('int munmap(uintptr_t addr, size_t length)');
  const mprotect = lib.func('int mprotect(uintptr_t addr, size_t length, int prot)');
  const madvise = lib.func('int madvise(uintptr_t addr, size_t length, int advice)');
  const close = lib.func('int close(int fd)');
  const open = lib.func('int open(const char *path, int flags, ...)');
  const ioctl = lib.func('int ioctl(int fd, unsigned long request, ...)');
  const syscall = lib.func('long syscall(long number, ...)');
  const sysconf = lib.func('long sysconf(int name)');
  const getrusage = lib.func('int getrusage(int who, _Out_ uint8_t *usage)');
  const pread = lib.func('intptr_t pread(int fd, _Out_ uint8_t *buf, size_t count, int64_t offset)');
  // struct rusage: two struct timeval (32 bytes), then 14 longs; ru_minflt is the 5th long
  // (offset 64), ru_majflt the 6th (offset 72)
  const rusage = new Uint8Array(SIZEOF_RUSAGE);
  const rusageView = new DataView(rusage.buffer);

  const check = (call: string, r: number | bigint): number => {
    const n = Number(r);
    if (n === -1) throw new SyscallError(call, k.errno());
    return n;
  };
  const pageSize = Number(sysconf(SC_PAGESIZE));

  libcInst = {
    pageSize,
    memfdCreate: (name, flags) => check('memfd_create', memfd_create(name, flags)),
    ftruncate: (fd, length) => {
      check('ftruncate', ftruncate(fd, length));
    },
    mmap: (addr, length, prot, flags, fd, offset) =>
      check('mmap', mmap(addr, length, prot, flags, fd, offset)),
    munmap: (addr, length) => {
      check('munmap', munmap(addr, length));
    },
    mprotect: (addr, length, prot) => {
      check('mprotect', mprotect(addr, length, prot));
    },
    madvise: (addr, length, advice) => {
      check('madvise', madvise(addr, length, advice));
    },
    close: (fd) => {
      check('close', close(fd));
    },
    open: (path, flags) => check('open', open(path, flags, 'int', 0)),
    ioctl: (fd, request, arg) => check('ioctl', ioctl(fd, request, 'void *', arg)),
    userfaultfd: (flags) => check('userfaultfd', syscall(nrUffd, 'int', flags)),
    threadFaults: () => {
      check('getrusage', getrusage(RUSAGE_THREAD, rusage));
      // u32 halves: no BigInt allocated between the two reads around an operation
      const v = rusageView;
      const o = RU_MINFLT_OFFSET;
      return (
        v.getUint32(o, true) +
        v.getUint32(o + 4, true) * 4294967296 +
        v.getUint32(o + 8, true) +
        v.getUint32(o + 12, true) * 4294967296
      );
    },
    perfEventOpen: (attr, pid, cpu, groupFd, flags) => {
      const nr = NR_PERF_EVENT_OPEN[arch()];
      if (nr === undefined) throw new SyscallError('perf_event_open', 38);
      return check(
        'perf_event_open',
        syscall(nr, 'void *', attr, 'int', pid, 'int', cpu, 'int', groupFd, 'unsigned long', flags),
      );
    },
    pread: (fd, buf, offset) => check('pread', pread(fd, buf, buf.length, offset)),
    view: (addr, length) => k.view(addr, length),
  };
  return libcInst;
}

/**
 * userfaultfd write-protect (spec §10.1): open a userfaultfd, negotiate the API features, register
 * a range in write-protect mode, and set/clear write-protection with UFFDIO_WRITEPROTECT. With
 * UFFD_FEATURE_WP_ASYNC the kernel never sends a message: a write to a protected page just clears
 * the page's uffd-wp bit, which PAGEMAP_SCAN then reports as "written".
 *
 * Every constant names the uapi header (include/uapi/linux/userfaultfd.h unless stated) it comes
 * from; ioctl numbers are computed with the generic `_IOC` encoding instead of being pasted.
 */
import { getLibc, O_CLOEXEC, O_NONBLOCK } from './libc.ts';

// --- ioctl number encoding (include/uapi/asm-generic/ioctl.h; x86-64 and arm64 use the generic one)
const IOC_NRBITS = 8;
const IOC_TYPEBITS = 8;
const IOC_SIZEBITS = 14;
const IOC_NRSHIFT = 0;
const IOC_TYPESHIFT = IOC_NRSHIFT + IOC_NRBITS;
const IOC_SIZESHIFT = IOC_TYPESHIFT + IOC_TYPEBITS;
const IOC_DIRSHIFT = IOC_SIZESHIFT + IOC_SIZEBITS;
/** `_IOC_WRITE` (asm-generic/ioctl.h). */
export const IOC_WRITE = 1;
/** `_IOC_READ` (asm-generic/ioctl.h). */
export const IOC_READ = 2;

/** `_IOC(dir, type, nr, size)`; returned as an unsigned 32-bit number. */
export function ioc(dir: number, type: number, nr: number, size: number): number {
  if (size >= 1 << IOC_SIZEBITS) throw new RangeError(`ioctl size ${size} does not fit`);
  return (
    ((dir << IOC_DIRSHIFT) | (size << IOC_SIZESHIFT) | (type << IOC_TYPESHIFT) | (nr << IOC_NRSHIFT)) >>> 0
  );
}
/** `_IOWR(type, nr, size)`. */
export const iowr = (type: number, nr: number, size: number): number =>
  ioc(IOC_READ | IOC_WRITE, type, nr, size);
/** `_IOR(type, nr, size)`. */
export const ior = (type: number, nr: number, size: number): number => ioc(IOC_READ, type, nr, size);

// --- userfaultfd uapi
/** `UFFD_API`: the only API version. */
export const UFFD_API = 0xaa;
/** `UFFDIO`: the ioctl type byte. */
const UFFDIO = 0xaa;
/** `UFFD_USER_MODE_ONLY` (linux/userfaultfd.h, 5.11+): only user-mode faults; allowed unprivileged. */
export const UFFD_USER_MODE_ONLY = 1;

/** `UFFD_FEATURE_PAGEFAULT_FLAG_WP`. */
export const UFFD_FEATURE_PAGEFAULT_FLAG_WP = 1 << 0;
/** `UFFD_FEATURE_EVENT_FORK`. */
export const UFFD_FEATURE_EVENT_FORK = 1 << 1;
/** `UFFD_FEATURE_WP_HUGETLBFS_SHMEM`: write-protect works on shmem (memfd) and hugetlbfs. */
export const UFFD_FEATURE_WP_HUGETLBFS_SHMEM = 1 << 12;
/** `UFFD_FEATURE_WP_UNPOPULATED`: WP on empty PTEs installs markers (anon too). */
export const UFFD_FEATURE_WP_UNPOPULATED = 1 << 13;
/** `UFFD_FEATURE_WP_ASYNC`: a write to a protected page resolves itself, no message. */
export const UFFD_FEATURE_WP_ASYNC = 1 << 15;
/** The features the tracking backend needs (spec §10.3: what pagemap_ioctl.c requires). */
export const REQUIRED_FEATURES =
  UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED | UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
/** Names of the required feature bits, for SKIP messages. */
export const REQUIRED_FEATURE_NAMES: Readonly<Record<number, string>> = {
  [UFFD_FEATURE_WP_ASYNC]: 'UFFD_FEATURE_WP_ASYNC',
  [UFFD_FEATURE_WP_UNPOPULATED]: 'UFFD_FEATURE_WP_UNPOPULATED',
  [UFFD_FEATURE_WP_HUGETLBFS_SHMEM]: 'UFFD_FEATURE_WP_HUGETLBFS_SHMEM',
};

/** `UFFDIO_REGISTER_MODE_MISSING`. */
export const UFFDIO_REGISTER_MODE_MISSING = 1 << 0;
/** `UFFDIO_REGISTER_MODE_WP`. */
export const UFFDIO_REGISTER_MODE_WP = 1 << 1;
/** `UFFDIO_WRITEPROTECT_MODE_WP`: set protection (mode 0 clears it). */
export const UFFDIO_WRITEPROTECT_MODE_WP = 1 << 0;
/** `UFFDIO_WRITEPROTECT_MODE_DONTWAKE`. */
export const UFFDIO_WRITEPROTECT_MODE_DONTWAKE = 1 << 1;

/** `struct uffdio_api { __u64 api, features, ioctls; }` = 24 bytes. */
const SIZEOF_UFFDIO_API = 24;
/** `struct uffdio_range { __u64 start, len; }` = 16 bytes. */
const SIZEOF_UFFDIO_RANGE = 16;
/** `struct uffdio_register { struct uffdio_range range; __u64 mode, ioctls; }` = 32 bytes. */
const SIZEOF_UFFDIO_REGISTER = 32;
/** `struct uffdio_writeprotect { struct uffdio_range range; __u64 mode; }` = 24 bytes. */
const SIZEOF_UFFDIO_WRITEPROTECT = 24;

/** `UFFDIO_API = _IOWR(UFFDIO, _UFFDIO_API=0x3F, struct uffdio_api)` = 0xc018aa3f. */
export const UFFDIO_API = iowr(UFFDIO, 0x3f, SIZEOF_UFFDIO_API);
/** `UFFDIO_REGISTER = _IOWR(UFFDIO, _UFFDIO_REGISTER=0x00, struct uffdio_register)` = 0xc020aa00. */
export const UFFDIO_REGISTER = iowr(UFFDIO, 0x00, SIZEOF_UFFDIO_REGISTER);
/** `UFFDIO_UNREGISTER = _IOR(UFFDIO, _UFFDIO_UNREGISTER=0x01, struct uffdio_range)` = 0x8010aa01. */
export const UFFDIO_UNREGISTER = ior(UFFDIO, 0x01, SIZEOF_UFFDIO_RANGE);
/** `UFFDIO_WRITEPROTECT = _IOWR(UFFDIO, _UFFDIO_WRITEPROTECT=0x06, struct uffdio_writeprotect)` = 0xc018aa06. */
export const UFFDIO_WRITEPROTECT = iowr(UFFDIO, 0x06, SIZEOF_UFFDIO_WRITEPROTECT);

/** Open a userfaultfd (`O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY`). Throws SyscallError. */
export function uffdOpen(flags = O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY): number {
  return getLibc().userfaultfd(flags);
}

/** Result of the UFFDIO_API handshake. */
export interface UffdApiResult {
  /** Feature bits the kernel reports (all it supports when 0 was requested). */
  features: bigint;
  /** Bitmask of ioctls available on the fd (bit n = ioctl nr n). */
  ioctls: bigint;
}

/**
 * UFFDIO_API handshake requesting `features`. Allowed once per fd. When `features` is 0 the
 * kernel answers with every feature it supports; when a requested feature is unknown it fails
 * with EINVAL.
 */
export function uffdApi(fd: number, features: number | bigint): UffdApiResult {
  const buf = new BigUint64Array([BigInt(UFFD_API), BigInt(features), 0n]);
  getLibc().ioctl(fd, UFFDIO_API, buf);
  return { features: buf[1]!, ioctls: buf[2]! };
}

/** UFFDIO_REGISTER `[start, start+len)` with `mode`; returns the ioctls available on the range. */
export function uffdRegister(fd: number, start: number, len: number, mode = UFFDIO_REGISTER_MODE_WP): bigint {
  const buf = new BigUint64Array([BigInt(start), BigInt(len), BigInt(mode), 0n]);
  getLibc().ioctl(fd, UFFDIO_REGISTER, buf);
  return buf[3]!;
}

/** UFFDIO_UNREGISTER `[start, start+len)`. */
export function uffdUnregister(fd: number, start: number, len: number): void {
  getLibc().ioctl(fd, UFFDIO_UNREGISTER, new BigUint64Array([BigInt(start), BigInt(len)]));
}

// One reusable argument block: UFFDIO_WRITEPROTECT is called in loops by the benchmark.
const wpArg = new BigUint64Array(3);

/**
 * UFFDIO_WRITEPROTECT `[start, start+len)`: mode {@link UFFDIO_WRITEPROTECT_MODE_WP} protects,
 * mode 0 un-protects (and wakes waiters unless DONTWAKE).
 */
export function uffdWriteprotect(fd: number, start: number, len: number, mode: number): void {
  wpArg[0] = BigInt(start);
  wpArg[1] = BigInt(len);
  wpArg[2] = BigInt(mode);
  getLibc().ioctl(fd, UFFDIO_WRITEPROTECT, wpArg);
}

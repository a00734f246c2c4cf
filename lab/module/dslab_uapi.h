/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * dirtyscope lab: ioctl interface of the dslab test driver, shared by the module
 * (lab/module/dslab.c) and the guest agent (lab/agent/agent.c). Private to the lab:
 * the host never sees it (it speaks lab/PROTOCOL.md to the agent).
 */
#ifndef DSLAB_UAPI_H
#define DSLAB_UAPI_H

#include <linux/types.h>
#include <linux/ioctl.h>

/* Pages per device. Bitmaps are arrays of DSLAB_WORDS 64-bit words, bit i = page i. */
#define DSLAB_NPAGES 64
#define DSLAB_WORDS ((DSLAB_NPAGES + 63) / 64)

#define DSLAB_DEV_PFN 0
#define DSLAB_DEV_PAGE 1
#define DSLAB_NDEVS 2

struct dslab_info {
	__u64 npages;
	__u64 wrprotect;	/* 1 if mapping_wrprotect_range is available */
};

struct dslab_range {		/* wp: first, nr; wrprotect: first = pgoff, nr */
	__u64 first;
	__u64 nr;
	__u64 ret;		/* out: the helper's return value */
};

struct dslab_clean {
	__u64 first;
	__u64 nr;
	__u64 bpgoff;
	__u64 start;		/* in/out */
	__u64 end;		/* in/out */
	__u64 ret;		/* out */
	__u64 cbits[DSLAB_WORDS];	/* out: the device's clean bitmap after the call */
};

struct dslab_bits {
	__u64 clear;		/* in: 1 = clear bitmaps and counters after reading */
	__u64 mbits[DSLAB_WORDS];
	__u64 cbits[DSLAB_WORDS];
	__u64 mk;		/* mkwrite callbacks */
	__u64 flt;		/* driver .fault callbacks */
};

/* Counters of both devices (no clearing): what a worker samples around an op. */
struct dslab_counts {
	__u64 mk[DSLAB_NDEVS];
	__u64 flt[DSLAB_NDEVS];
};

#define DSLAB_SCAN_CONSUME 0
#define DSLAB_SCAN_FIX 1

struct dslab_scan {
	__u64 first;
	__u64 nr;
	__u64 mode;
	__u64 ret;		/* out: pages consumed */
	__u64 bits[DSLAB_WORDS];	/* out: pages consumed */
};

struct dslab_verify {
	__u64 stale[DSLAB_WORDS];
};

struct dslab_pte {
	__u64 addr;		/* in: user address in the caller's mm */
	__u64 present;		/* out: 1 if a PTE table exists and the entry is not none */
	__u64 pte;		/* out: raw entry */
};

#define DSLAB_IOC_MAGIC 'D'
#define DSLAB_IOC_INFO _IOR(DSLAB_IOC_MAGIC, 0x00, struct dslab_info)
#define DSLAB_IOC_WP _IOWR(DSLAB_IOC_MAGIC, 0x01, struct dslab_range)
#define DSLAB_IOC_CLEAN _IOWR(DSLAB_IOC_MAGIC, 0x02, struct dslab_clean)
#define DSLAB_IOC_WRPROTECT _IOWR(DSLAB_IOC_MAGIC, 0x03, struct dslab_range)
#define DSLAB_IOC_BITS _IOWR(DSLAB_IOC_MAGIC, 0x04, struct dslab_bits)
#define DSLAB_IOC_COUNTS _IOR(DSLAB_IOC_MAGIC, 0x05, struct dslab_counts)
#define DSLAB_IOC_DELAY _IOW(DSLAB_IOC_MAGIC, 0x06, __u64)
#define DSLAB_IOC_SCAN _IOWR(DSLAB_IOC_MAGIC, 0x07, struct dslab_scan)
#define DSLAB_IOC_VERIFY _IOR(DSLAB_IOC_MAGIC, 0x08, struct dslab_verify)
#define DSLAB_IOC_RESET _IO(DSLAB_IOC_MAGIC, 0x09)
#define DSLAB_IOC_PTE _IOWR(DSLAB_IOC_MAGIC, 0x0a, struct dslab_pte)

#endif

// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * fbtest: the fbdev deferred I/O experiment (quirk Q3) on dslab_fb.ko, run in the lab guest
 * (static; the agent runs it as /bin/fbtest through the `run` op).
 *
 *   fbtest [armed|control] [runs] [hold_us] [page]
 *
 * Each run, on a fresh MAP_SHARED mapping of /dev/fbN:
 *  1. store `a` to page k (first touch: the page is queued), fsync (the deferred work runs now:
 *     page k's PTE is write-protected and the shadow holds `a`);
 *  2. armed mode: arm a one-shot hold on the next page_mkwrite of page k: at most hold_us
 *     (default 10 deferred delays), ended early by the module once a deferred_io call completes;
 *  3. a helper process pinned to CPU 0 stores `b` to another page j (it schedules the deferred
 *     work from CPU 0, so the worker runs there) and keeps CPU 0 busy in user space; right after,
 *     this process, pinned to CPU 1, stores `c` to page k: a write fault on the write-protected
 *     PTE, page_mkwrite queues page k and (armed) returns hold_us late, so the deferred work
 *     runs while the PTE is still read-only;
 *  4. waits 10 deferred delays + 100 ms with no further store, then reads the shadow screen.
 * The shadow of page k must hold `c`; if it holds anything else the write was lost (stale).
 * Per-run lines first; the last line is the summary (key=value words):
 *   q3=reproduced|not-reproduced mode= kver= runs= stale= shadow= fb= expect= j_ok=
 *   defio_calls= mkwrite_calls= held= window_defio= busy_at_release= probe= hold_us= delay_us= fbcon=
 * Exit 0 when the runs completed, 2 on bad arguments, 3 when the device or 2 CPUs are missing.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SYSDIR "/sys/bus/platform/devices/dslab_fb"
#define PG 4096UL

struct shared {
	volatile int go, jdone, adone;
};

static void skip(const char *why)
{
	printf("q3=skip reason=%s\n", why);
	exit(3);
}

static int sysread(const char *name, char *buf, size_t len)
{
	char path[256];
	snprintf(path, sizeof path, SYSDIR "/%s", name);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return 0;
}

static int syswrite(const char *name, const char *fmt, ...)
{
	char path[256], val[64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(val, sizeof val, fmt, ap);
	va_end(ap);
	snprintf(path, sizeof path, SYSDIR "/%s", name);
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, val, strlen(val));
	close(fd);
	return n < 0 ? -1 : 0;
}

/* value of "key=" in a line of key=value words, as a long (or -1) */
static long keyval(const char *line, const char *key)
{
	char k[64];
	snprintf(k, sizeof k, "%s=", key);
	for (const char *p = line; (p = strstr(p, k)); p++)
		if (p == line || p[-1] == ' ')
			return strtol(p + strlen(k), NULL, 10);
	return -1;
}

static void keystr(const char *line, const char *key, char *out, size_t len)
{
	char k[64];
	snprintf(k, sizeof k, "%s=", key);
	const char *p = strstr(line, k);
	out[0] = 0;
	if (!p)
		return;
	p += strlen(k);
	size_t n = strcspn(p, " \n");
	if (n >= len)
		n = len - 1;
	memcpy(out, p, n);
	out[n] = 0;
}

static void peek(long page, long *fbv, long *shv)
{
	char buf[256];
	*fbv = *shv = -1;
	if (syswrite("peek", "%ld", page) || sysread("peek", buf, sizeof buf))
		return;
	*fbv = keyval(buf, "fb");
	*shv = keyval(buf, "shadow");
}

static void pin(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	sched_setaffinity(0, sizeof s, &s);
}

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* spin until *flag or timeout (us); 0 when the flag was seen */
static int spin(volatile int *flag, double timeout_us)
{
	double t0 = now_us();
	while (!*flag)
		if (now_us() - t0 > timeout_us)
			return -1;
	return 0;
}

/* unbind fbcon (the framebuffer console draws into every framebuffer it is bound to) */
static const char *unbind_fbcon(void)
{
	DIR *d = opendir("/sys/class/vtconsole");
	const char *res = "none";
	struct dirent *e;
	if (!d)
		return res;
	while ((e = readdir(d))) {
		char path[300], name[128] = "", bind[8] = "";
		if (strncmp(e->d_name, "vtcon", 5))
			continue;
		snprintf(path, sizeof path, "/sys/class/vtconsole/%s/name", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(name, sizeof name, f))
			name[0] = 0;
		fclose(f);
		if (!strstr(name, "frame buffer"))
			continue;
		snprintf(path, sizeof path, "/sys/class/vtconsole/%s/bind", e->d_name);
		f = fopen(path, "r+");
		if (!f) {
			res = "failed";
			continue;
		}
		if (fgets(bind, sizeof bind, f) && bind[0] == '1') {
			rewind(f);
			res = fputs("0", f) >= 0 && fflush(f) == 0 ? "unbound" : "failed";
		} else if (strcmp(res, "failed"))
			res = "unbound";
		fclose(f);
	}
	closedir(d);
	return res;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "armed";
	int armed;
	if (!strcmp(mode, "armed"))
		armed = 1;
	else if (!strcmp(mode, "control"))
		armed = 0;
	else {
		fprintf(stderr, "fbtest: mode must be armed or control, got '%s'\n", mode);
		return 2;
	}
	long runs = argc > 2 ? strtol(argv[2], NULL, 10) : 5;
	long hold_us = argc > 3 ? strtol(argv[3], NULL, 10) : 0;
	long k = argc > 4 ? strtol(argv[4], NULL, 10) : 3;
	if (runs < 1 || runs > 1000 || hold_us < 0 || hold_us > 2000000 || k < 0) {
		fprintf(stderr, "fbtest: bad runs/hold_us/page\n");
		return 2;
	}

	char cnt[512], probe[64], kver[80];
	struct utsname u;
	if (uname(&u) == 0)
		snprintf(kver, sizeof kver, "%s", u.release);
	else
		strcpy(kver, "unknown");
	if (sysread("counters", cnt, sizeof cnt))
		skip("no-dslab_fb");
	long fbn = keyval(cnt, "fb"), npages = keyval(cnt, "npages");
	long delay_us = keyval(cnt, "delay_jiffies") * 1000000L / keyval(cnt, "hz");
	keystr(cnt, "probe", probe, sizeof probe);
	long j = k + 4 < npages ? k + 4 : 0;
	if (k >= npages || j == k) {
		fprintf(stderr, "fbtest: page %ld out of range (npages=%ld)\n", k, npages);
		return 2;
	}
	if (hold_us == 0)
		hold_us = 10 * delay_us;
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		skip("needs-2-cpus");
	if (armed && strcmp(probe, "none") == 0)
		skip("no-kretprobe");
	const char *fbcon = unbind_fbcon();

	char dev[32];
	snprintf(dev, sizeof dev, "/dev/fb%ld", fbn);
	int fd = open(dev, O_RDWR);
	if (fd < 0)
		skip("cannot-open-fb");
	struct shared *sh = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		skip("mmap-anon");
	syswrite("reset", "1");
	pin(1);

	long stale = 0, j_ok = 0, shv = -1, fbv = -1, c = 0;
	for (long r = 0; r < runs; r++) {
		unsigned char a = 1 + (r * 7) % 240, b = a + 5, cc = a + 9;
		c = cc;
		volatile unsigned char *m =
			mmap(NULL, npages * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED) {
			printf("fbtest: mmap %s: %s\n", dev, strerror(errno));
			return 1;
		}
		m[k * PG] = a; /* first touch: page k queued */
		fsync(fd);     /* deferred work now: page k write-protected, shadow = a */
		long pfb, psh;
		peek(k, &pfb, &psh);
		if (armed && syswrite("arm", "%ld %ld", k, hold_us)) {
			printf("fbtest: arm failed: %s\n", strerror(errno));
			return 1;
		}
		sh->go = sh->jdone = sh->adone = 0;
		pid_t pid = fork();
		if (pid == 0) {
			pin(0);
			spin(&sh->go, 2e6);
			m[j * PG] = b; /* schedules the deferred work from CPU 0 */
			sh->jdone = 1;
			spin(&sh->adone, 5e6 + 4.0 * hold_us); /* keep CPU 0 busy in user space */
			_exit(0);
		}
		sh->go = 1;
		spin(&sh->jdone, 2e6);
		double t0 = now_us();
		m[k * PG] = cc; /* write fault: page_mkwrite (held when armed), then the PTE */
		double store_us = now_us() - t0;
		sh->adone = 1;
		waitpid(pid, NULL, 0);
		usleep(10 * delay_us + 100000); /* well past the deferred delay, no further store */
		long jfb, jsh;
		peek(j, &jfb, &jsh);
		peek(k, &fbv, &shv);
		sysread("counters", cnt, sizeof cnt);
		int st = shv != cc;
		stale += st;
		j_ok += jsh == b;
		printf("run=%ld prep_shadow=%ld a=%u b=%u c=%u k_fb=%ld k_shadow=%ld j_shadow=%ld stale=%d "
		       "store_us=%.0f last_window=%ld\n",
		       r, psh, a, b, cc, fbv, shv, jsh, st, store_us, keyval(cnt, "last_window"));
		munmap((void *)m, npages * PG);
	}
	sysread("counters", cnt, sizeof cnt);
	printf("q3=%s mode=%s kver=%s runs=%ld stale=%ld shadow=%ld fb=%ld expect=%ld j_ok=%ld "
	       "defio_calls=%ld mkwrite_calls=%ld held=%ld window_defio=%ld busy_at_release=%ld probe=%s "
	       "hold_us=%ld "
	       "delay_us=%ld fbcon=%s\n",
	       stale ? "reproduced" : "not-reproduced", mode, kver, runs, stale, shv, fbv, c, j_ok,
	       keyval(cnt, "defio_calls"), keyval(cnt, "mkwrite_calls"), keyval(cnt, "held"),
	       keyval(cnt, "window_defio"), keyval(cnt, "busy_at_release"), probe, hold_us, delay_us, fbcon);
	return 0;
}

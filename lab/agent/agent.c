// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * dirtyscope lab guest agent (/agent in the initramfs), the guest end of lab/PROTOCOL.md.
 *
 * The root process reads request lines from the data serial port and writes one reply
 * line per request, in order. Root ops run here; worker ops are forwarded over a pipe
 * pair to worker process p (forked from the root) and answered by it. Workers lock
 * their memory (mlockall) right after fork so the only page faults an op takes are
 * the ones the op itself causes on the device mappings.
 *
 * Build: gcc -static -O2 -Wall -Wextra -pthread -I lab/module -o agent lab/agent/agent.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "dslab_uapi.h"

#define PAGE 4096UL
#define MAX_LINE 4096
#define MAX_KV 16
#define NWORKERS 8
#define NSLOTS 16
#define RUN_TIMEOUT_MS 30000
#define MAX_DELAY_US 10000000ULL

static const char *const dev_path[DSLAB_NDEVS] = { "/dev/dslab_pfn", "/dev/dslab_page" };
static int dev_fd[DSLAB_NDEVS] = { -1, -1 };
static int mod_ok;
static unsigned long npages = DSLAB_NPAGES;

/* ---------------------------------------------------------------- output buffer */

struct out {
	char buf[MAX_LINE * 2];
	size_t len;
};

static void outf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->len >= sizeof(o->buf) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, sizeof(o->buf) - o->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	o->len += (size_t)n;
	if (o->len > sizeof(o->buf) - 1)
		o->len = sizeof(o->buf) - 1;
}

static void out_bits(struct out *o, const char *key, const __u64 *words)
{
	static const char hex[] = "0123456789abcdef";
	unsigned long ndig = (npages + 3) / 4, i;

	outf(o, " %s=", key);
	for (i = 0; i < ndig; i++) {
		unsigned v = (unsigned)((words[i / 16] >> (4 * (i % 16))) & 0xf);

		outf(o, "%c", hex[v]);
	}
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---------------------------------------------------------------- request parsing */

struct kv {
	char *k;
	char *v;
};

struct req {
	char *op;
	struct kv kv[MAX_KV];
	int nkv;
};

/* Splits "op k=v k=v" in place. Returns NULL or a one-word error. */
static const char *parse_req(char *s, struct req *r)
{
	char *save = NULL, *tok;

	r->op = NULL;
	r->nkv = 0;
	for (tok = strtok_r(s, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char *eq;
		int i;

		if (!r->op) {
			r->op = tok;
			continue;
		}
		eq = strchr(tok, '=');
		if (!eq || eq == tok)
			return "bad_token";
		*eq = 0;
		for (i = 0; i < r->nkv; i++)
			if (!strcmp(r->kv[i].k, tok))
				return "dup_key";
		if (r->nkv == MAX_KV)
			return "too_many_keys";
		r->kv[r->nkv].k = tok;
		r->kv[r->nkv].v = eq + 1;
		r->nkv++;
	}
	if (!r->op)
		return "no_op";
	return NULL;
}

/* Every key of r must appear in the space-separated list allowed. */
static int keys_allowed(const struct req *r, const char *allowed)
{
	int i;

	for (i = 0; i < r->nkv; i++) {
		const char *p = allowed;
		size_t kl = strlen(r->kv[i].k);
		int found = 0;

		while (*p) {
			size_t l = strcspn(p, " ");

			if (l == kl && !strncmp(p, r->kv[i].k, l)) {
				found = 1;
				break;
			}
			p += l;
			while (*p == ' ')
				p++;
		}
		if (!found)
			return 0;
	}
	return 1;
}

static const char *get_str(const struct req *r, const char *k)
{
	int i;

	for (i = 0; i < r->nkv; i++)
		if (!strcmp(r->kv[i].k, k))
			return r->kv[i].v;
	return NULL;
}

static int parse_dec(const char *s, __u64 *v)
{
	__u64 x = 0;

	if (!*s || strlen(s) > 20)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (x > (UINT64_MAX - (__u64)(*s - '0')) / 10)
			return -1;
		x = x * 10 + (__u64)(*s - '0');
	}
	*v = x;
	return 0;
}

/* The error word for a bad request, in a static buffer. */
static char errword[64];

static int get_u64(const struct req *r, const char *k, __u64 lo, __u64 hi, __u64 *v)
{
	const char *s = get_str(r, k);

	if (!s) {
		snprintf(errword, sizeof(errword), "missing_%s", k);
		return -1;
	}
	if (parse_dec(s, v) || *v < lo || *v > hi) {
		snprintf(errword, sizeof(errword), "bad_%s", k);
		return -1;
	}
	return 0;
}

/* Index of s in the NULL-terminated list names, or -1 (errword set). */
static int get_enum(const struct req *r, const char *k, const char *const *names)
{
	const char *s = get_str(r, k);
	int i;

	if (!s) {
		snprintf(errword, sizeof(errword), "missing_%s", k);
		return -1;
	}
	for (i = 0; names[i]; i++)
		if (!strcmp(s, names[i]))
			return i;
	snprintf(errword, sizeof(errword), "bad_%s", k);
	return -1;
}

static const char *const dev_names[] = { "pfn", "page", NULL };
static const char *const mode_names[] = { "consume", "fix", NULL };

/* ---------------------------------------------------------------- CPU placement */

/*
 * The root and its workers all run on CPU 0: a request handed from one to the other
 * then wakes a task on the same CPU instead of a halted vCPU (slow under TCG on a
 * loaded host), and their mms stay off the other CPU's TLB (no flush IPIs). The race
 * thread and programs run by `run` may use every CPU.
 */
static void pin_cpu0(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void unpin(void)
{
	cpu_set_t set;
	int i;

	CPU_ZERO(&set);
	for (i = 0; i < CPU_SETSIZE; i++)
		CPU_SET(i, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* ---------------------------------------------------------------- worker side */

struct slot {
	unsigned char *addr;
	__u64 n;
	int used;
};

static struct slot slots[NSLOTS];

static __thread sigjmp_buf *guard_env;
static __thread volatile int guard_sig;

static void on_fatal(int sig)
{
	if (guard_env) {
		guard_sig = sig;
		siglongjmp(*guard_env, 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* A one-byte store or load guarded against SIGSEGV/SIGBUS: 0 or the signal number. */
static int guarded_access(volatile unsigned char *p, int store, unsigned char v, unsigned char *got)
{
	sigjmp_buf env;

	guard_sig = 0;
	if (sigsetjmp(env, 1) == 0) {
		guard_env = &env;
		if (store)
			*p = v;
		else
			*got = *p;
		guard_env = NULL;
		return 0;
	}
	guard_env = NULL;
	return guard_sig ? guard_sig : SIGSEGV;
}

static const char *sig_name(int sig)
{
	return sig == SIGBUS ? "BUS" : sig == SIGSEGV ? "SEGV" : "OTHER";
}

static __u64 faults_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (__u64)ru.ru_minflt + (__u64)ru.ru_majflt;
}

static void counts_now(struct dslab_counts *c)
{
	memset(c, 0, sizeof(*c));
	if (dev_fd[0] >= 0)
		ioctl(dev_fd[0], DSLAB_IOC_COUNTS, c);
}

struct race_arg {
	volatile unsigned char *p;
	unsigned char v;
	int sig;
};

static void *race_store(void *a)
{
	struct race_arg *ra = a;

	unpin();
	ra->sig = guarded_access(ra->p, 1, ra->v, NULL);
	return NULL;
}

/* The race thread's stack lives in .bss, so mlockall has already populated it. */
static char race_stack[256 * 1024] __attribute__((aligned(4096)));

static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	int err;

	pthread_attr_init(&attr);
	pthread_attr_setstack(&attr, race_stack, sizeof(race_stack));
	err = pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return -err;
}

static void sleep_us(__u64 us)
{
	struct timespec ts = { .tv_sec = (time_t)(us / 1000000), .tv_nsec = (long)(us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Resolves slot m and a page range inside it; errword set on failure. */
static struct slot *get_slot(const struct req *r, __u64 *m)
{
	if (get_u64(r, "m", 0, NSLOTS - 1, m))
		return NULL;
	if (!slots[*m].used) {
		snprintf(errword, sizeof(errword), "empty_slot");
		return NULL;
	}
	return &slots[*m];
}

static const int prot_vals[] = { PROT_READ, PROT_READ | PROT_WRITE, PROT_NONE };
static const char *const prot_names[] = { "r", "rw", "none", NULL };

/* Runs one worker op; the reply (without id) goes to o. */
static void worker_op(char *line, struct out *o)
{
	struct req r;
	const char *err = parse_req(line, &r);
	struct dslab_counts c0, c1;
	__u64 f0, f1, m, off, n, page, v;
	long ret = 0;
	struct slot *s;
	int d, i, sig = 0;
	struct out extra = { .len = 0 };

	if (err) {
		outf(o, "-22 msg=%s", err);
		return;
	}
	counts_now(&c0);
	f0 = faults_now();
	errword[0] = 0;

	if (!strcmp(r.op, "mmap")) {
		int share, prot, fdm, fd;
		static const char *const share_names[] = { "s", "p", NULL };
		static const char *const fd_names[] = { "rw", "ro", NULL };
		void *a;

		if (!keys_allowed(&r, "p m d off n share prot fd"))
			goto bad_key;
		if (get_u64(&r, "m", 0, NSLOTS - 1, &m) || (d = get_enum(&r, "d", dev_names)) < 0 ||
		    get_u64(&r, "off", 0, 1 << 20, &off) || get_u64(&r, "n", 0, 1 << 20, &n) ||
		    (share = get_enum(&r, "share", share_names)) < 0 ||
		    (prot = get_enum(&r, "prot", prot_names)) < 0 ||
		    (fdm = get_enum(&r, "fd", fd_names)) < 0)
			goto bad;
		fd = open(dev_path[d], (fdm ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (fd < 0) {
			ret = -errno;
		} else {
			a = mmap(NULL, n * PAGE, prot_vals[prot], share ? MAP_PRIVATE : MAP_SHARED, fd,
				 (off_t)(off * PAGE));
			if (a == MAP_FAILED) {
				ret = -errno;
			} else {
				slots[m].addr = a;
				slots[m].n = n;
				slots[m].used = 1;
			}
			close(fd);
		}
	} else if (!strcmp(r.op, "munmap") || !strcmp(r.op, "mprotect") || !strcmp(r.op, "madvise")) {
		int is_mprot = !strcmp(r.op, "mprotect");
		int prot = 0;

		if (!keys_allowed(&r, is_mprot ? "p m off n prot" : "p m off n"))
			goto bad_key;
		if (!(s = get_slot(&r, &m)) || get_u64(&r, "off", 0, 1 << 20, &off) ||
		    get_u64(&r, "n", 0, 1 << 20, &n))
			goto bad;
		if (is_mprot && (prot = get_enum(&r, "prot", prot_names)) < 0)
			goto bad;
		if (off + n > s->n) {
			snprintf(errword, sizeof(errword), "range");
			goto bad;
		}
		if (!strcmp(r.op, "munmap"))
			ret = munmap(s->addr + off * PAGE, n * PAGE);
		else if (is_mprot)
			ret = mprotect(s->addr + off * PAGE, n * PAGE, prot_vals[prot]);
		else
			ret = madvise(s->addr + off * PAGE, n * PAGE, MADV_DONTNEED);
		if (ret)
			ret = -errno;
	} else if (!strcmp(r.op, "store") || !strcmp(r.op, "load") || !strcmp(r.op, "pte")) {
		int is_store = !strcmp(r.op, "store"), is_pte = !strcmp(r.op, "pte");

		if (!keys_allowed(&r, is_store ? "p m page v" : "p m page"))
			goto bad_key;
		if (!(s = get_slot(&r, &m)) || get_u64(&r, "page", 0, 1 << 20, &page) ||
		    (is_store && get_u64(&r, "v", 0, 255, &v)))
			goto bad;
		if (page >= s->n) {
			snprintf(errword, sizeof(errword), "range");
			goto bad;
		}
		if (is_pte) {
			struct dslab_pte p = { .addr = (uintptr_t)(s->addr + page * PAGE) };

			if (!mod_ok) {
				ret = -ENODEV;
			} else if (ioctl(dev_fd[0], DSLAB_IOC_PTE, &p)) {
				ret = -errno;
			} else if (p.present) {
				outf(&extra, " pte=%016llx", (unsigned long long)p.pte);
			} else {
				outf(&extra, " pte=none");
			}
		} else {
			unsigned char got = 0;

			sig = guarded_access(s->addr + page * PAGE, is_store, (unsigned char)v, &got);
			ret = sig ? -EFAULT : is_store ? 0 : got;
		}
	} else if (!strcmp(r.op, "race")) {
		struct race_arg ra;
		struct dslab_scan sc;
		__u64 first, nr, us, zero = 0;
		int mode;

		if (!keys_allowed(&r, "p m page v d first nr mode us"))
			goto bad_key;
		if (!(s = get_slot(&r, &m)) || get_u64(&r, "page", 0, 1 << 20, &page) ||
		    get_u64(&r, "v", 0, 255, &v) || (d = get_enum(&r, "d", dev_names)) < 0 ||
		    get_u64(&r, "first", 0, npages, &first) || get_u64(&r, "nr", 0, npages, &nr) ||
		    (mode = get_enum(&r, "mode", mode_names)) < 0 ||
		    get_u64(&r, "us", 0, MAX_DELAY_US, &us))
			goto bad;
		if (page >= s->n || first + nr > npages) {
			snprintf(errword, sizeof(errword), "range");
			goto bad;
		}
		if (!mod_ok) {
			ret = -ENODEV;
			goto done;
		}
		if (ioctl(dev_fd[d], DSLAB_IOC_DELAY, &us)) {
			ret = -errno;
			goto done;
		}
		ra.p = s->addr + page * PAGE;
		ra.v = (unsigned char)v;
		ra.sig = 0;
		{
			pthread_t t;
			int e = start_thread(&t, race_store, &ra);

			if (e) {
				ret = e;
			} else {
				sleep_us(us / 2);
				memset(&sc, 0, sizeof(sc));
				sc.first = first;
				sc.nr = nr;
				sc.mode = mode ? DSLAB_SCAN_FIX : DSLAB_SCAN_CONSUME;
				if (ioctl(dev_fd[d], DSLAB_IOC_SCAN, &sc)) {
					ret = -errno;
				} else {
					ret = (long)sc.ret;
					out_bits(&extra, "bits", sc.bits);
				}
				pthread_join(t, NULL);
			}
		}
		ioctl(dev_fd[d], DSLAB_IOC_DELAY, &zero);
		sig = ra.sig;
	} else {
		snprintf(errword, sizeof(errword), "unknown_op");
		goto bad;
	}
done:
	f1 = faults_now();
	counts_now(&c1);
	outf(o, "%ld", ret);
	if (extra.len)
		outf(o, "%s", extra.buf);
	if (sig)
		outf(o, " sig=%s", sig_name(sig));
	{
		__u64 mk = 0, dfl = 0;

		for (i = 0; i < DSLAB_NDEVS; i++) {
			mk += c1.mk[i] - c0.mk[i];
			dfl += c1.flt[i] - c0.flt[i];
		}
		outf(o, " flt=%llu mk=%llu dfl=%llu", (unsigned long long)(f1 - f0),
		     (unsigned long long)mk, (unsigned long long)dfl);
	}
	return;
bad_key:
	snprintf(errword, sizeof(errword), "unknown_key");
bad:
	outf(o, "-22 msg=%s", errword[0] ? errword : "bad_request");
}

static void *noop_thread(void *a)
{
	return a;
}

static void prefault_stack(void)
{
	volatile char buf[192 * 1024];
	size_t i;

	for (i = 0; i < sizeof(buf); i += PAGE)
		buf[i] = 0;
	buf[sizeof(buf) - 1] = 0;
}

/* Reads one '\n'-terminated line from fd into line (without the newline). */
static ssize_t read_line_fd(int fd, char *line, size_t cap)
{
	size_t n = 0;

	for (;;) {
		char c;
		ssize_t k = read(fd, &c, 1);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		if (c == '\n') {
			line[n] = 0;
			return (ssize_t)n;
		}
		if (n + 1 < cap)
			line[n++] = c;
	}
}

static void __attribute__((noreturn)) worker_main(int rfd, int wfd)
{
	static char line[MAX_LINE];
	static struct out o;
	struct sigaction sa;
	pthread_t t;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* Warm up thread creation (its allocations) before locking memory in. */
	if (start_thread(&t, noop_thread, NULL) == 0)
		pthread_join(t, NULL);
	prefault_stack();
	if (mlockall(MCL_CURRENT))
		perror("agent: worker mlockall");
	for (;;) {
		if (read_line_fd(rfd, line, sizeof(line)) < 0)
			_exit(0);
		o.len = 0;
		worker_op(line, &o);
		outf(&o, "\n");
		if (write_all(wfd, o.buf, o.len))
			_exit(1);
	}
}

/* ---------------------------------------------------------------- root side */

struct worker {
	pid_t pid;
	int req;	/* root writes requests */
	int rep;	/* root reads replies */
};

static struct worker workers[NWORKERS];

static void worker_close(int p)
{
	if (workers[p].req >= 0)
		close(workers[p].req);
	if (workers[p].rep >= 0)
		close(workers[p].rep);
	workers[p].req = workers[p].rep = -1;
}

static void worker_reap(int p, int kill_it)
{
	if (!workers[p].pid)
		return;
	if (kill_it)
		kill(workers[p].pid, SIGKILL);
	worker_close(p);
	while (waitpid(workers[p].pid, NULL, 0) < 0 && errno == EINTR)
		;
	workers[p].pid = 0;
}

static int tty_fd = -1;

static long worker_spawn(int p)
{
	int rq[2], rp[2], i;
	pid_t pid;

	if (workers[p].pid)
		return -EEXIST;
	if (pipe2(rq, O_CLOEXEC))
		return -errno;
	if (pipe2(rp, O_CLOEXEC)) {
		int e = errno;

		close(rq[0]);
		close(rq[1]);
		return -e;
	}
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(rq[0]);
		close(rq[1]);
		close(rp[0]);
		close(rp[1]);
		return -e;
	}
	if (pid == 0) {
		for (i = 0; i < NWORKERS; i++)
			if (workers[i].pid)
				worker_close(i);
		close(rq[1]);
		close(rp[0]);
		if (tty_fd >= 0)
			close(tty_fd);
		worker_main(rq[0], rp[1]);
	}
	close(rq[0]);
	close(rp[1]);
	workers[p].pid = pid;
	workers[p].req = rq[1];
	workers[p].rep = rp[0];
	return 0;
}

/* Forwards text (an op and its keys) to worker p; its reply line goes to o. */
static void worker_forward(int p, const char *text, struct out *o)
{
	static char line[MAX_LINE + 2];
	static char reply[MAX_LINE];
	size_t l = strlen(text);

	memcpy(line, text, l);
	line[l] = '\n';
	if (write_all(workers[p].req, line, l + 1) || read_line_fd(workers[p].rep, reply, sizeof(reply)) < 0) {
		worker_reap(p, 1);
		outf(o, "-32 msg=worker_died");
		return;
	}
	outf(o, "%s", reply);
}

static int valid_prog(const char *s)
{
	size_t i, l = strlen(s);

	if (!l || l > 64 || s[0] == '.')
		return 0;
	for (i = 0; i < l; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* run prog [args=a,b,c]: exit status and the program's last stdout line. */
static void op_run(const struct req *r, struct out *o)
{
	static char argbuf[MAX_LINE], path[128], buf[4096], last[2048], cur[2048];
	char *argv[34];
	const char *prog = get_str(r, "prog"), *args = get_str(r, "args");
	int argc = 0, pfd[2], status = 0, timed_out = 0;
	size_t curlen = 0, lastlen = 0, i;
	long long deadline;
	pid_t pid;

	if (!prog || !valid_prog(prog)) {
		outf(o, "-22 msg=%s", prog ? "bad_prog" : "missing_prog");
		return;
	}
	snprintf(path, sizeof(path), "/bin/%s", prog);
	argv[argc++] = path;
	if (args && *args) {
		char *save = NULL, *tok;

		snprintf(argbuf, sizeof(argbuf), "%s", args);
		for (tok = strtok_r(argbuf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (argc == 33) {
				outf(o, "-22 msg=too_many_args");
				return;
			}
			argv[argc++] = tok;
		}
	}
	argv[argc] = NULL;
	if (access(path, X_OK)) {
		outf(o, "%d", -errno);
		return;
	}
	if (pipe2(pfd, O_CLOEXEC)) {
		outf(o, "%d", -errno);
		return;
	}
	pid = fork();
	if (pid < 0) {
		outf(o, "%d", -errno);
		close(pfd[0]);
		close(pfd[1]);
		return;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);

		if (nul >= 0)
			dup2(nul, 0);
		dup2(pfd[1], 1);
		signal(SIGPIPE, SIG_DFL);
		unpin();
		execv(path, argv);
		_exit(127);
	}
	close(pfd[1]);
	deadline = now_ms() + RUN_TIMEOUT_MS;
	for (;;) {
		struct pollfd pf = { .fd = pfd[0], .events = POLLIN };
		long long left = deadline - now_ms();
		ssize_t k;

		if (left <= 0) {
			timed_out = 1;
			break;
		}
		if (poll(&pf, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (!pf.revents)
			continue;
		k = read(pfd[0], buf, sizeof(buf));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		for (i = 0; i < (size_t)k; i++) {
			char c = buf[i];

			if (c == '\n') {
				if (curlen) {
					memcpy(last, cur, curlen);
					lastlen = curlen;
				}
				curlen = 0;
			} else if (c != '\r' && curlen < sizeof(cur) - 1) {
				cur[curlen++] = (c >= 0x20 && c < 0x7f) ? c : '?';
			}
		}
	}
	close(pfd[0]);
	if (curlen) {
		memcpy(last, cur, curlen);
		lastlen = curlen;
	}
	while (!timed_out) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			status = 0;
			break;
		}
		if (now_ms() >= deadline)
			timed_out = 1;
		else
			sleep_us(5000);
	}
	if (timed_out) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		outf(o, "%d", -ETIME);
		return;
	}
	if (WIFEXITED(status))
		outf(o, "%d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		outf(o, "%d", 128 + WTERMSIG(status));
	else
		outf(o, "%d", -ECHILD);
	last[lastlen] = 0;
	if (lastlen)
		outf(o, " %s", last);
}

static int dev_ioctl(int d, unsigned long cmd, void *arg)
{
	if (!mod_ok)
		return -ENODEV;
	return ioctl(dev_fd[d], cmd, arg) ? -errno : 0;
}

/* Handles one request line (without '\n'); appends "<id> <ret> ...\n" to o. */
static void root_line(char *line, struct out *o)
{
	static char rest[MAX_LINE];
	char *p = line, *idstr, *ws;
	struct req r;
	const char *err;
	__u64 id, a, b;
	int d, e;

	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return;	/* blank line: no request */
	idstr = p;
	ws = p + strcspn(p, " \t");
	if (*ws)
		*ws++ = 0;
	if (parse_dec(idstr, &id)) {
		outf(o, "-1 -22 msg=bad_id\n");
		return;
	}
	outf(o, "%llu ", (unsigned long long)id);
	snprintf(rest, sizeof(rest), "%s", ws);
	err = parse_req(ws, &r);
	if (err) {
		outf(o, "-22 msg=%s\n", err);
		return;
	}
	errword[0] = 0;

	if (!strcmp(r.op, "ping")) {
		if (!keys_allowed(&r, ""))
			goto bad_key;
		outf(o, "0");
	} else if (!strcmp(r.op, "reset")) {
		int i;

		if (!keys_allowed(&r, ""))
			goto bad_key;
		for (i = 0; i < NWORKERS; i++)
			worker_reap(i, 1);
		e = 0;
		for (i = 0; i < DSLAB_NDEVS && !e; i++)
			e = dev_ioctl(i, DSLAB_IOC_RESET, NULL);
		outf(o, "%d", e);
	} else if (!strcmp(r.op, "spawn") || !strcmp(r.op, "exit")) {
		if (!keys_allowed(&r, "p"))
			goto bad_key;
		if (get_u64(&r, "p", 0, NWORKERS - 1, &a))
			goto bad;
		if (!strcmp(r.op, "spawn")) {
			outf(o, "%ld", worker_spawn((int)a));
		} else if (!workers[a].pid) {
			outf(o, "%d", -ESRCH);
		} else {
			worker_reap((int)a, 0);
			outf(o, "0");
		}
	} else if (!strcmp(r.op, "wp") || !strcmp(r.op, "wrprotect")) {
		int is_wp = !strcmp(r.op, "wp");
		struct dslab_range rg;

		if (!keys_allowed(&r, is_wp ? "d first nr" : "d pgoff nr"))
			goto bad_key;
		if ((d = get_enum(&r, "d", dev_names)) < 0 ||
		    get_u64(&r, is_wp ? "first" : "pgoff", 0, UINT64_MAX, &a) ||
		    get_u64(&r, "nr", 0, UINT64_MAX, &b))
			goto bad;
		memset(&rg, 0, sizeof(rg));
		rg.first = a;
		rg.nr = b;
		e = dev_ioctl(d, is_wp ? DSLAB_IOC_WP : DSLAB_IOC_WRPROTECT, &rg);
		if (e)
			outf(o, "%d", e);
		else
			outf(o, "%lld", (long long)rg.ret);
	} else if (!strcmp(r.op, "clean")) {
		struct dslab_clean cl;

		if (!keys_allowed(&r, "d first nr bpgoff start end"))
			goto bad_key;
		memset(&cl, 0, sizeof(cl));
		if ((d = get_enum(&r, "d", dev_names)) < 0 || get_u64(&r, "first", 0, UINT64_MAX, &cl.first) ||
		    get_u64(&r, "nr", 0, UINT64_MAX, &cl.nr) || get_u64(&r, "bpgoff", 0, UINT64_MAX, &cl.bpgoff) ||
		    get_u64(&r, "start", 0, UINT64_MAX, &cl.start) || get_u64(&r, "end", 0, UINT64_MAX, &cl.end))
			goto bad;
		e = dev_ioctl(d, DSLAB_IOC_CLEAN, &cl);
		if (e) {
			outf(o, "%d", e);
		} else {
			outf(o, "%llu start=%llu end=%llu", (unsigned long long)cl.ret,
			     (unsigned long long)cl.start, (unsigned long long)cl.end);
			out_bits(o, "cbits", cl.cbits);
		}
	} else if (!strcmp(r.op, "bits")) {
		struct dslab_bits bt;

		if (!keys_allowed(&r, "d clear"))
			goto bad_key;
		memset(&bt, 0, sizeof(bt));
		if ((d = get_enum(&r, "d", dev_names)) < 0)
			goto bad;
		if (get_str(&r, "clear") && get_u64(&r, "clear", 0, 1, &bt.clear))
			goto bad;
		e = dev_ioctl(d, DSLAB_IOC_BITS, &bt);
		if (e) {
			outf(o, "%d", e);
		} else {
			outf(o, "0");
			out_bits(o, "mbits", bt.mbits);
			out_bits(o, "cbits", bt.cbits);
			outf(o, " mk=%llu flt=%llu", (unsigned long long)bt.mk, (unsigned long long)bt.flt);
		}
	} else if (!strcmp(r.op, "delay")) {
		if (!keys_allowed(&r, "d us"))
			goto bad_key;
		if ((d = get_enum(&r, "d", dev_names)) < 0 || get_u64(&r, "us", 0, MAX_DELAY_US, &a))
			goto bad;
		outf(o, "%d", dev_ioctl(d, DSLAB_IOC_DELAY, &a));
	} else if (!strcmp(r.op, "scan")) {
		struct dslab_scan sc;

		if (!keys_allowed(&r, "d first nr mode"))
			goto bad_key;
		memset(&sc, 0, sizeof(sc));
		if ((d = get_enum(&r, "d", dev_names)) < 0 || get_u64(&r, "first", 0, npages, &a) ||
		    get_u64(&r, "nr", 0, npages, &b) || (e = get_enum(&r, "mode", mode_names)) < 0)
			goto bad;
		sc.first = a;
		sc.nr = b;
		sc.mode = e ? DSLAB_SCAN_FIX : DSLAB_SCAN_CONSUME;
		e = dev_ioctl(d, DSLAB_IOC_SCAN, &sc);
		if (e) {
			outf(o, "%d", e);
		} else {
			outf(o, "%llu", (unsigned long long)sc.ret);
			out_bits(o, "bits", sc.bits);
		}
	} else if (!strcmp(r.op, "verify")) {
		struct dslab_verify v;

		if (!keys_allowed(&r, "d"))
			goto bad_key;
		if ((d = get_enum(&r, "d", dev_names)) < 0)
			goto bad;
		memset(&v, 0, sizeof(v));
		e = dev_ioctl(d, DSLAB_IOC_VERIFY, &v);
		if (e) {
			outf(o, "%d", e);
		} else {
			outf(o, "0");
			out_bits(o, "stale", v.stale);
		}
	} else if (!strcmp(r.op, "run")) {
		if (!keys_allowed(&r, "prog args"))
			goto bad_key;
		op_run(&r, o);
	} else if (!strcmp(r.op, "mmap") || !strcmp(r.op, "munmap") || !strcmp(r.op, "mprotect") ||
		   !strcmp(r.op, "madvise") || !strcmp(r.op, "store") || !strcmp(r.op, "load") ||
		   !strcmp(r.op, "pte") || !strcmp(r.op, "race")) {
		if (get_u64(&r, "p", 0, NWORKERS - 1, &a))
			goto bad;
		if (!workers[a].pid)
			outf(o, "%d", -ESRCH);
		else
			worker_forward((int)a, rest, o);
	} else {
		snprintf(errword, sizeof(errword), "unknown_op");
		goto bad;
	}
	outf(o, "\n");
	return;
bad_key:
	snprintf(errword, sizeof(errword), "unknown_key");
bad:
	outf(o, "-22 msg=%s\n", errword[0] ? errword : "bad_request");
}

static void setup_tty(int fd, const char *path)
{
	struct termios t;
	char sysfs[128];
	const char *base = strrchr(path, '/');
	int f;

	if (tcgetattr(fd, &t) == 0) {
		cfmakeraw(&t);
		t.c_cc[VMIN] = 1;
		t.c_cc[VTIME] = 0;
		cfsetispeed(&t, B115200);
		cfsetospeed(&t, B115200);
		tcsetattr(fd, TCSANOW, &t);
	}
	/*
	 * Receive FIFO trigger at 14 bytes (the default is 8): one interrupt per 14 bytes of a
	 * pipelined batch (interrupts are what costs under TCG); a request's tail waits for the
	 * UART's receive timeout, 4 character times (~0.35 ms at 115200).
	 */
	snprintf(sysfs, sizeof(sysfs), "/sys/class/tty/%s/rx_trig_bytes", base ? base + 1 : path);
	f = open(sysfs, O_WRONLY | O_CLOEXEC);
	if (f >= 0) {
		if (write(f, "14", 2) < 0)
			perror("agent: rx_trig_bytes");
		close(f);
	}
}

int main(int argc, char **argv)
{
	static char in[MAX_LINE * 4];
	static struct out o;
	struct dslab_info info = { 0, 0 };
	struct utsname un;
	size_t inlen = 0;
	int discarding = 0, i, wrprotect = 0, fb;

	if (argc != 2) {
		fprintf(stderr, "usage: agent <tty>\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	pin_cpu0();
	for (i = 0; i < NWORKERS; i++)
		workers[i].req = workers[i].rep = -1;
	tty_fd = open(argv[1], O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (tty_fd < 0) {
		perror("agent: open tty");
		return 1;
	}
	setup_tty(tty_fd, argv[1]);
	mod_ok = 1;
	for (i = 0; i < DSLAB_NDEVS; i++) {
		dev_fd[i] = open(dev_path[i], O_RDWR | O_CLOEXEC);
		if (dev_fd[i] < 0)
			mod_ok = 0;
	}
	if (mod_ok && ioctl(dev_fd[0], DSLAB_IOC_INFO, &info) == 0) {
		npages = (unsigned long)info.npages;
		wrprotect = info.wrprotect ? 1 : 0;
	} else {
		mod_ok = 0;
	}
	if (npages == 0 || npages > DSLAB_NPAGES)
		npages = DSLAB_NPAGES;
	fb = access("/sys/module/dslab_fb", F_OK) == 0;
	if (uname(&un))
		snprintf(un.release, sizeof(un.release), "unknown");
	outf(&o, "DSLAB READY v=1 kv=%s npages=%lu mod=%d wrprotect=%d fb=%d\n", un.release, npages, mod_ok,
	     wrprotect, fb);
	write_all(tty_fd, o.buf, o.len);
	o.len = 0;

	for (;;) {
		ssize_t k;
		char *nl;

		/* Answer every complete line in the buffer, then flush and read more. */
		while ((nl = memchr(in, '\n', inlen))) {
			size_t l = (size_t)(nl - in);

			*nl = 0;
			if (discarding) {
				discarding = 0;
			} else {
				if (l && in[l - 1] == '\r')
					in[l - 1] = 0;
				root_line(in, &o);
			}
			memmove(in, nl + 1, inlen - l - 1);
			inlen -= l + 1;
			if (o.len > sizeof(o.buf) - MAX_LINE) {
				write_all(tty_fd, o.buf, o.len);
				o.len = 0;
			}
		}
		if (inlen >= MAX_LINE) {
			/* an over-long line: answer it once, drop the rest up to its newline */
			if (!discarding)
				outf(&o, "-1 -22 msg=too_long\n");
			discarding = 1;
			inlen = 0;
		}
		if (o.len) {
			write_all(tty_fd, o.buf, o.len);
			o.len = 0;
		}
		k = read(tty_fd, in + inlen, sizeof(in) - inlen);
		if (k < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			perror("agent: read");
			sleep_us(100000);
			continue;
		}
		if (k == 0) {
			sleep_us(10000);
			continue;
		}
		inlen += (size_t)k;
	}
}

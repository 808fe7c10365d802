// SPDX-License-Identifier: Apache-2.0
/*
 * cparse: the C baseline for cmsg.Parse.
 *
 * It builds the same control buffers as BenchmarkParse in cmsg/bench_test.go
 * (n SOL_SOCKET/SCM_DEVMEM_DMABUF messages, the kernel's exact layout:
 * cmsg_len CMSG_LEN(sizeof(struct dmabuf_cmsg)), frag i = offset i*4096,
 * size 4096, token i+1, dmabuf_id 1, flags 0) and walks them the way the
 * kernel's ncdevmem does (CMSG_FIRSTHDR / CMSG_NXTHDR, a level/type check,
 * then the fields read out of struct dmabuf_cmsg) into an array of frags
 * (offset, size, token, id, kind), like the Go []cmsg.Frag.
 *
 * Two walkers:
 *   ncdevmem  exactly ncdevmem's checks (level/type only);
 *   checked   also what cmsg.Parse checks: cmsg_len == CMSG_LEN(24),
 *             frag_size != 0, and frag_token, dmabuf_id != 0 for DMABUF.
 *             This is the like-for-like comparison with Go.
 *
 * Timing follows Go's testing.B.Loop: one loop whose iteration target grows
 * until it has run -benchtime (default 1 s), measured with
 * clock_gettime(CLOCK_MONOTONIC); the result is printed as a Go benchmark
 * line, under the Go benchmark's name, so that benchstat reads it:
 *
 *   BenchmarkParse/frags=1024-2   123456   987.6 ns/op   0.9645 ns/frag
 *
 * The walker is a noipa function, its result is checked on every iteration
 * and folded into a volatile sink, and a compiler barrier sits between
 * iterations, so none of the work can be hoisted or dropped.
 *
 * Build (bench/cparse/run.sh does it): gcc -O2 against the 7.2.12 UAPI
 * headers.
 *
 * Usage: cparse [-count N] [-benchtime SECONDS] [-walker ncdevmem|checked]
 *               [-frags 1,16,64,1024]
 */
#define _GNU_SOURCE
#include <linux/uio.h> /* struct dmabuf_cmsg; its struct iovec clashes with glibc's */
#define __iovec_defined 1

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <asm-generic/socket.h> /* SCM_DEVMEM_DMABUF, SCM_DEVMEM_LINEAR */

#ifndef SCM_DEVMEM_DMABUF
#error "SCM_DEVMEM_DMABUF missing: compile against the 7.2.12 UAPI headers"
#endif

_Static_assert(sizeof(struct dmabuf_cmsg) == 24, "struct dmabuf_cmsg is 24 bytes");
_Static_assert(CMSG_SPACE(sizeof(struct dmabuf_cmsg)) == 40, "FragSpace is 40 on 64-bit");

enum kind { KIND_LINEAR = 1, KIND_DMABUF = 2 }; /* cmsg.Linear, cmsg.DMABuf */

/* The C twin of cmsg.Frag (24 bytes, as in Go). */
struct frag {
	uint64_t offset;
	uint32_t size;
	uint32_t token;
	uint32_t id;
	uint8_t kind;
};

/* ncdevmem's loop, minus its printing and DONTNEED: level/type, then fields. */
__attribute__((noipa)) static long walk_ncdevmem(struct msghdr *msg, struct frag *dst, long cap)
{
	long n = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET ||
		    (cm->cmsg_type != SCM_DEVMEM_DMABUF && cm->cmsg_type != SCM_DEVMEM_LINEAR))
			continue;
		if (n == cap)
			return -1;
		struct dmabuf_cmsg *d = (struct dmabuf_cmsg *)CMSG_DATA(cm);
		struct frag *f = &dst[n++];
		f->size = d->frag_size;
		if (cm->cmsg_type == SCM_DEVMEM_LINEAR) {
			f->offset = 0;
			f->token = 0;
			f->id = 0;
			f->kind = KIND_LINEAR;
			continue;
		}
		f->offset = d->frag_offset;
		f->token = d->frag_token;
		f->id = d->dmabuf_id;
		f->kind = KIND_DMABUF;
	}
	return n;
}

/* The same walk with every check cmsg.Parse makes. Returns -1 on a bad message. */
__attribute__((noipa)) static long walk_checked(struct msghdr *msg, struct frag *dst, long cap)
{
	long n = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_len < sizeof(struct cmsghdr) ||
		    (unsigned char *)cm + cm->cmsg_len >
			    (unsigned char *)msg->msg_control + msg->msg_controllen)
			return -1;
		if (cm->cmsg_level != SOL_SOCKET ||
		    (cm->cmsg_type != SCM_DEVMEM_DMABUF && cm->cmsg_type != SCM_DEVMEM_LINEAR))
			continue;
		if (cm->cmsg_len != CMSG_LEN(sizeof(struct dmabuf_cmsg)) || n == cap)
			return -1;
		struct dmabuf_cmsg *d = (struct dmabuf_cmsg *)CMSG_DATA(cm);
		struct frag f = { .size = d->frag_size };
		if (cm->cmsg_type == SCM_DEVMEM_LINEAR) {
			f.kind = KIND_LINEAR;
		} else {
			f.kind = KIND_DMABUF;
			f.offset = d->frag_offset;
			f.token = d->frag_token;
			f.id = d->dmabuf_id;
			if (f.token == 0 || f.id == 0)
				return -1;
		}
		if (f.size == 0)
			return -1;
		dst[n++] = f;
	}
	return n;
}

typedef long (*walker)(struct msghdr *, struct frag *, long);

/* devmem_buffer mirrors devmemBuffer in cmsg/bench_test.go. */
static unsigned char *devmem_buffer(int n, size_t *len)
{
	size_t space = (size_t)n * CMSG_SPACE(sizeof(struct dmabuf_cmsg));
	unsigned char *buf = aligned_alloc(64, space);
	if (!buf) {
		perror("aligned_alloc");
		exit(2);
	}
	memset(buf, 0, space);

	struct msghdr msg = { .msg_control = buf, .msg_controllen = space };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	for (int i = 0; i < n; i++) {
		if (!cm) {
			fprintf(stderr, "cparse: CMSG_NXTHDR ended at frag %d of %d\n", i, n);
			exit(2);
		}
		cm->cmsg_len = CMSG_LEN(sizeof(struct dmabuf_cmsg));
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_DEVMEM_DMABUF;
		struct dmabuf_cmsg d = {
			.frag_offset = (uint64_t)i * 4096,
			.frag_size = 4096,
			.frag_token = (uint32_t)i + 1,
			.dmabuf_id = 1,
			.flags = 0,
		};
		memcpy(CMSG_DATA(cm), &d, sizeof(d));
		cm = CMSG_NXTHDR(&msg, cm);
	}
	*len = space;
	return buf;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile uint64_t sink;

/*
 * bench is testing.B's Loop: one timed loop whose iteration target grows
 * (x1.2 of what the time so far predicts, at most x100 a step) until the
 * elapsed time reaches benchtime; ns/op is the whole loop's time over its
 * iterations. One loop, no separate calibration runs, so that the process's
 * CPU time (which bench/cmd/parsecmp reads from rusage) is this loop's.
 */
static void bench(walker w, long frags, double benchtime_ns, int procs)
{
	size_t len;
	unsigned char *buf = devmem_buffer((int)frags, &len);
	struct frag *dst = calloc((size_t)frags, sizeof(*dst));
	struct msghdr msg = { .msg_control = buf, .msg_controllen = len };
	if (!dst) {
		perror("calloc");
		exit(2);
	}

	/* Check the walk once against what was built. */
	if (w(&msg, dst, frags) != frags || dst[frags - 1].token != (uint32_t)frags ||
	    dst[frags - 1].offset != (uint64_t)(frags - 1) * 4096 || dst[0].id != 1 ||
	    dst[0].size != 4096 || dst[0].kind != KIND_DMABUF) {
		fprintf(stderr, "cparse: walk of %ld frags gave wrong frags\n", frags);
		exit(1);
	}

	uint64_t sum = 0;
	long i = 0, n = 1;
	double el = 0, t0 = now_ns();
	for (;;) {
		for (; i < n; i++) {
			long got = w(&msg, dst, frags);
			if (got != frags) {
				fprintf(stderr, "cparse: walked %ld frags, want %ld\n", got, frags);
				exit(1);
			}
			sum += dst[got - 1].token + dst[0].offset;
			__asm__ volatile("" : : "r"(dst), "r"(&msg) : "memory");
		}
		el = now_ns() - t0;
		if (el >= benchtime_ns || n >= 1000000000L)
			break;
		double per = el / (double)n;
		if (per < 1)
			per = 1;
		long next = (long)(1.2 * benchtime_ns / per);
		if (next > 100 * n)
			next = 100 * n;
		if (next < n + 1)
			next = n + 1;
		n = next;
	}
	sink += sum;
	if (sum != (uint64_t)n * (uint64_t)frags) /* last token is frags, first offset 0 */
		exit(3);
	printf("BenchmarkParse/frags=%ld-%d\t%10ld\t%12.2f ns/op\t%12.2f MB/s\t%10.4f ns/frag\n",
	       frags, procs, n, el / (double)n, (double)len * (double)n / el * 1e3,
	       el / ((double)n * (double)frags));
	fflush(stdout);
	free(dst);
	free(buf);
}

/* print_cpu prints the "cpu:" line as go test does (internal/cpu.Name). */
static void print_cpu(void)
{
	char name[64] = "";
#if defined(__x86_64__) || defined(__i386__)
	unsigned int r[12];
	if (__get_cpuid_max(0x80000000, NULL) >= 0x80000004) {
		for (unsigned int i = 0; i < 3; i++)
			__get_cpuid(0x80000002 + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
		memcpy(name, r, sizeof(r));
		name[sizeof(r)] = 0;
	}
#endif
	char *p = name;
	while (*p == ' ')
		p++;
	if (*p)
		printf("cpu: %s\n", p);
}

static void usage(void)
{
	fprintf(stderr, "usage: cparse [-count N] [-benchtime SECONDS] [-walker ncdevmem|checked] "
			"[-frags 1,16,64,1024]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int count = 1;
	double benchtime = 1.0;
	const char *wname = "checked";
	char fragspec[256] = "1,16,64,1024";

	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "-count"))
			count = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-benchtime"))
			benchtime = atof(argv[++i]);
		else if (!strcmp(argv[i], "-walker"))
			wname = argv[++i];
		else if (!strcmp(argv[i], "-frags"))
			snprintf(fragspec, sizeof(fragspec), "%s", argv[++i]);
		else
			usage();
	}
	walker w;
	if (!strcmp(wname, "checked"))
		w = walk_checked;
	else if (!strcmp(wname, "ncdevmem"))
		w = walk_ncdevmem;
	else
		usage();
	if (count < 1 || benchtime <= 0)
		usage();

	/* The procs suffix matches what go test prints (GOMAXPROCS = CPUs). */
	int procs = (int)sysconf(_SC_NPROCESSORS_ONLN);
	const char *gmp = getenv("GOMAXPROCS");
	if (gmp && atoi(gmp) > 0)
		procs = atoi(gmp);

	struct utsname u;
	uname(&u);
	printf("goos: linux\ngoarch: %s\npkg: github.com/devmem-go/devmem/cmsg\n",
	       !strcmp(u.machine, "x86_64") ? "amd64" : u.machine);
	print_cpu();
	printf("impl: c-%s\ncompiler: gcc %s\n", wname, __VERSION__);

	for (int c = 0; c < count; c++) {
		char spec[256], *save = NULL;
		snprintf(spec, sizeof(spec), "%s", fragspec);
		for (char *tok = strtok_r(spec, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			long frags = atol(tok);
			if (frags < 1)
				usage();
			bench(w, frags, benchtime * 1e9, procs);
		}
	}
	return sink == 0xdeadbeef; /* never; keeps sink live */
}

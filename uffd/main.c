// SPDX-License-Identifier: Apache-2.0
/*
 * uffd/ — microvm-uffd, the page-fault handler for snapshot/load with
 * backend_type Uffd.
 *
 * Contract: listens on --socket; for each microvm that connects it forks a
 * child that receives the userfaultfd and the JSON mapping description
 * (API-CONTRACT.md: one entry per region, each with its place in the
 * memory file; guest RAM, then the hot-plug region when there is one),
 * then serves every missing-page fault with UFFDIO_COPY from the memory
 * file (--mem-file) until that microvm's connection closes. Pages are
 * numbered by their place in the memory file. Pages the monitor gave back (the balloon: a remove event) are
 * served as zero pages from then on, never from the memory file again.
 * --record FILE writes the pages the guest touched (one 64-bit
 * page number each, in fault order) when the VM goes away; --prefetch
 * FILE copies such a recorded working set in large batches before serving
 * faults (REAP-style record and replay). The memory file is only read.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "uffd/handshake.h"

#define PAGE UFFD_PAGE
#define MAX_BATCH_PAGES 512 /* 2 MiB per UFFDIO_COPY when prefetching */
#define MAX_DEFERRED 64 /* faults waiting for a remove event to be read */

struct opts {
	const char *socket, *mem_file, *record, *prefetch;
};

struct guest {
	int uffd;
	struct uffd_region region[UFFD_MAX_REGIONS];
	unsigned nr_regions;
	const uint8_t *file; /* the memory file, mapped read-only */
	uint64_t file_size, pages; /* pages: the file's */
	uint64_t *touched; /* pages in fault order (--record) */
	uint64_t nr_touched;
	uint64_t *removed; /* a bit per page the monitor gave back */
	/* faults UFFDIO_COPY refused with EAGAIN (a remove event is queued):
	 * served again once the queue is read */
	uint64_t deferred[MAX_DEFERRED];
	unsigned nr_deferred;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: microvm-uffd --socket PATH --mem-file FILE [--record WS] [--prefetch WS]\n"
		"Serves guest memory to microvm's snapshot/load with\n"
		"mem_backend {\"backend_type\": \"Uffd\", \"backend_path\": PATH}.\n"
		"  --record WS    write the pages each guest touched to WS\n"
		"  --prefetch WS  copy the pages listed in WS before serving faults\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "mem-file", required_argument, NULL, 'm' },
		{ "record", required_argument, NULL, 'r' },
		{ "prefetch", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 's':
			o->socket = optarg;
			break;
		case 'm':
			o->mem_file = optarg;
			break;
		case 'r':
			o->record = optarg;
			break;
		case 'p':
			o->prefetch = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (!o->socket || !o->mem_file || optind != argc) {
		usage(stderr);
		exit(2);
	}
	return 0;
}

/* The monitor's message: JSON text and the uffd as SCM_RIGHTS. */
static int receive_uffd(int conn, struct guest *g)
{
	char json[UFFD_HANDSHAKE_MAX] = "", control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { json, sizeof(json) - 1 };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = control,
			      .msg_controllen = sizeof(control) };
	struct cmsghdr *c;

	if (recvmsg(conn, &msg, 0) <= 0)
		return -1;
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&g->uffd, CMSG_DATA(c), sizeof(int));
	g->pages = g->file_size / PAGE;
	return uffd_parse_regions(json, g->file_size, g->region,
				  &g->nr_regions);
}

/* The region holding file page `page`, or NULL. */
static const struct uffd_region *region_of_page(const struct guest *g,
						uint64_t page)
{
	unsigned i;

	for (i = 0; i < g->nr_regions; i++)
		if (page * PAGE >= g->region[i].offset &&
		    page * PAGE - g->region[i].offset < g->region[i].size)
			return &g->region[i];
	return NULL;
}

/* The file page at host address addr, or UINT64_MAX. */
static uint64_t page_at(const struct guest *g, uint64_t addr)
{
	unsigned i;

	for (i = 0; i < g->nr_regions; i++)
		if (addr >= g->region[i].base &&
		    addr - g->region[i].base < g->region[i].size)
			return (g->region[i].offset + addr -
				g->region[i].base) /
			       PAGE;
	return UINT64_MAX;
}

/* Copies file pages [page, page + n), all in one region, from the file;
 * already-present pages (EEXIST) are fine. */
static int copy_pages(struct guest *g, uint64_t page, uint64_t n)
{
	const struct uffd_region *r = region_of_page(g, page);
	struct uffdio_copy c = { .len = n * PAGE };

	if (!r || n > (r->offset + r->size) / PAGE - page)
		return -1;
	c.dst = r->base + page * PAGE - r->offset;
	c.src = (uint64_t)(uintptr_t)(g->file + page * PAGE);
	if (ioctl(g->uffd, UFFDIO_COPY, &c) == 0 || errno == EEXIST)
		return 0;
	if (errno == EAGAIN && c.copy > 0) /* partly done: the rest */
		return copy_pages(g, page + (uint64_t)c.copy / PAGE,
				  n - (uint64_t)c.copy / PAGE);
	return errno == EAGAIN ? -EAGAIN : -1;
}

static void prefetch(struct guest *g, const char *path)
{
	FILE *f = fopen(path, "rb");
	uint64_t page, run_start = 0, run_len = 0, total = 0;

	if (!f) {
		fprintf(stderr, "microvm-uffd: --prefetch %s: %s\n", path,
			strerror(errno));
		return;
	}
	while (fread(&page, sizeof(page), 1, f) == 1) {
		if (!region_of_page(g, page))
			continue;
		if (run_len && page == run_start + run_len &&
		    run_len < MAX_BATCH_PAGES &&
		    region_of_page(g, page) == region_of_page(g, run_start)) {
			run_len++;
			continue;
		}
		if (run_len && copy_pages(g, run_start, run_len) == 0)
			total += run_len;
		run_start = page;
		run_len = 1;
	}
	if (run_len && copy_pages(g, run_start, run_len) == 0)
		total += run_len;
	fclose(f);
	fprintf(stderr, "microvm-uffd: prefetched %llu pages\n",
		(unsigned long long)total);
}

static void note_touched(struct guest *g, uint64_t page)
{
	if (g->touched && g->nr_touched < g->pages)
		g->touched[g->nr_touched++] = page;
}

static bool is_removed(const struct guest *g, uint64_t page)
{
	return g->removed[page / 64] & (1ULL << (page % 64));
}

/* The monitor gave [start, end) back: those pages read as zero now. */
static void note_removed(struct guest *g, uint64_t start, uint64_t end)
{
	uint64_t addr, page;

	for (addr = start; addr < end; addr += PAGE) {
		page = page_at(g, addr);
		if (page != UINT64_MAX)
			g->removed[page / 64] |= 1ULL << (page % 64);
	}
}

/* One missing page: zeros if it was given back, else the file's. -EAGAIN
 * when the kernel wants a queued remove event read first. */
static int fill_page(struct guest *g, uint64_t page)
{
	const struct uffd_region *r = region_of_page(g, page);
	struct uffdio_zeropage z = { .range = { 0, PAGE } };

	if (!is_removed(g, page))
		return copy_pages(g, page, 1);
	z.range.start = r->base + page * PAGE - r->offset;
	if (ioctl(g->uffd, UFFDIO_ZEROPAGE, &z) == 0 || errno == EEXIST)
		return 0;
	return errno == EAGAIN ? -EAGAIN : -1;
}

static int serve_page(struct guest *g, uint64_t page)
{
	int ret = fill_page(g, page);

	if (ret != -EAGAIN)
		return ret;
	if (g->nr_deferred == MAX_DEFERRED)
		return -1;
	g->deferred[g->nr_deferred++] = page;
	return 0;
}

static int serve_deferred(struct guest *g)
{
	unsigned i, n = g->nr_deferred;
	int ret = 0;

	g->nr_deferred = 0;
	for (i = 0; i < n && !ret; i++)
		ret = serve_page(g, g->deferred[i]);
	return ret;
}

static int serve_message(struct guest *g)
{
	struct uffd_msg m;
	uint64_t page;
	ssize_t n = read(g->uffd, &m, sizeof(m));

	if (n < 0)
		return errno == EAGAIN ? 0 : -1;
	if (n != sizeof(m))
		return 0;
	if (m.event == UFFD_EVENT_REMOVE) {
		note_removed(g, m.arg.remove.start, m.arg.remove.end);
		return serve_deferred(g);
	}
	if (m.event != UFFD_EVENT_PAGEFAULT)
		return 0;
	page = page_at(g, m.arg.pagefault.address);
	if (page == UINT64_MAX)
		return -1;
	note_touched(g, page);
	return serve_page(g, page);
}

static void write_record(const struct guest *g, const char *path)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(g->touched, sizeof(uint64_t), g->nr_touched, f) !=
			  g->nr_touched)
		fprintf(stderr, "microvm-uffd: --record %s: %s\n", path,
			strerror(errno));
	if (f)
		fclose(f);
}

/* One microvm, in a child process: until its connection closes. */
static int serve_guest(int conn, const struct opts *o, struct guest *g)
{
	struct pollfd p[2];

	if (receive_uffd(conn, g)) {
		fprintf(stderr,
			"microvm-uffd: bad handshake (not 4 KiB pages, or its regions are not all of %s)\n",
			o->mem_file);
		return 1;
	}
	if (o->record && !(g->touched = calloc(g->pages, 8)))
		return 1;
	g->removed = calloc((g->pages + 63) / 64, 8);
	if (!g->removed)
		return 1;
	if (o->prefetch)
		prefetch(g, o->prefetch);
	p[0] = (struct pollfd){ .fd = g->uffd, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = conn, .events = POLLIN };
	for (;;) {
		/* Deferred faults are tried again every millisecond: the
		 * remove event that made UFFDIO_COPY answer EAGAIN may have
		 * been read before the kernel let copies in again, and no
		 * other message need come (the faulting vCPU waits). */
		int n = poll(p, 2, g->nr_deferred ? 1 : -1);

		if (n < 0 && errno != EINTR)
			return 1;
		if (n == 0 && serve_deferred(g))
			return 1;
		if (n > 0 && (p[0].revents & POLLIN) && serve_message(g))
			return 1;
		if (p[1].revents) /* the monitor is gone */
			break;
	}
	if (o->record)
		write_record(g, o->record);
	return 0;
}

static const uint8_t *map_file(const char *path, uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	void *p = MAP_FAILED;

	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0) {
		*size = (uint64_t)st.st_size;
		p = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, fd, 0);
	}
	if (fd >= 0)
		close(fd);
	return p == MAP_FAILED ? NULL : p;
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 64) < 0)
		return -1;
	return fd;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct guest g = { .uffd = -1 };
	int lfd;

	parse_args(argc, argv, &o);
	g.file = map_file(o.mem_file, &g.file_size);
	if (!g.file) {
		fprintf(stderr, "microvm-uffd: cannot map %s: %s\n", o.mem_file,
			strerror(errno));
		return 1;
	}
	lfd = listen_on(o.socket);
	if (lfd < 0) {
		fprintf(stderr, "microvm-uffd: cannot listen on %s: %s\n",
			o.socket, strerror(errno));
		return 1;
	}
	signal(SIGCHLD, SIG_IGN); /* children are not waited for */
	for (;;) {
		int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (conn < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (fork() == 0) {
			close(lfd);
			_exit(serve_guest(conn, &o, &g));
		}
		close(conn);
	}
}

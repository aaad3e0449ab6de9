// SPDX-License-Identifier: Apache-2.0
/* The API thread: a Unix stream socket, non-blocking connections in one
 * epoll set, HTTP/1.1 keep-alive and pipelining. A complete request is
 * routed, handed to the VMM thread through the api_channel, and its reply
 * queued on the connection. A slow or silent client only holds its own
 * connection; its buffers are capped. A connection microvm ends (a
 * rejected request, Connection: close) is closed gracefully: once its
 * reply is out, microvm stops writing (shutdown) and reads and drops what
 * the client still sends, up to API_MAX_LINGER bytes, until the client
 * closes. Closed at once, a socket with unread bytes makes the client's
 * send fail (EPIPE) and its read of the reply fail (ECONNRESET): a client
 * sending a body over the limit would never see the 400 saying so. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/api.h"

#define API_MAX_CONNS 256
#define API_MAX_PENDING_OUT (1u << 20) /* a client that never reads */
#define API_READ_CHUNK 16384
#define API_MAX_LINGER (4u << 20) /* dropped after a reply that closes */

struct conn {
	int fd;
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len, out_off;
	bool closing; /* close once out is flushed */
	bool lingering; /* out flushed and shut down; input dropped */
	size_t dropped; /* bytes dropped while lingering */
	bool continue_sent;
};

struct api_server {
	int listen_fd, epfd, stop_fd;
	bool bound; /* the socket path is ours to unlink */
	size_t max_body;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct api_channel *ch;
	pthread_t thread;
	struct conn conns[API_MAX_CONNS];
};

/* Counter and failure counter of each request kind. */
static const struct {
	enum metric_id count, fails;
} op_metrics[OP_UNKNOWN] = {
	[OP_GET_INFO] = { M_API_GET_INFO, M_API_GET_INFO },
	[OP_GET_VERSION] = { M_API_GET_VERSION, M_API_GET_VERSION },
	[OP_GET_MACHINE] = { M_API_GET_MACHINE, M_API_GET_MACHINE },
	[OP_GET_VM_CONFIG] = { M_API_GET_VM_CONFIG, M_API_GET_VM_CONFIG },
	[OP_GET_MMDS] = { M_API_GET_MMDS, M_API_GET_MMDS },
	[OP_GET_BALLOON] = { M_API_GET_BALLOON, M_API_GET_BALLOON },
	[OP_GET_BALLOON_STATS] = { M_API_GET_BALLOON, M_API_GET_BALLOON },
	[OP_GET_BALLOON_HINTING] = { M_API_GET_BALLOON, M_API_GET_BALLOON },
	[OP_GET_HOTPLUG] = { M_API_GET_HOTPLUG, M_API_GET_HOTPLUG },
	[OP_PUT_BOOT_SOURCE] = { M_API_BOOT, M_API_BOOT_FAILS },
	[OP_PUT_MACHINE] = { M_API_MACHINE, M_API_MACHINE_FAILS },
	[OP_PATCH_MACHINE] = { M_API_PATCH_MACHINE, M_API_PATCH_MACHINE_FAILS },
	[OP_PUT_CPU_CONFIG] = { M_API_CPU_CONFIG, M_API_CPU_CONFIG_FAILS },
	[OP_PUT_DRIVE] = { M_API_DRIVE, M_API_DRIVE_FAILS },
	[OP_PATCH_DRIVE] = { M_API_PATCH_DRIVE, M_API_PATCH_DRIVE_FAILS },
	[OP_PUT_NET] = { M_API_NET, M_API_NET_FAILS },
	[OP_PATCH_NET] = { M_API_PATCH_NET, M_API_PATCH_NET_FAILS },
	[OP_PUT_VSOCK] = { M_API_VSOCK, M_API_VSOCK_FAILS },
	[OP_PUT_ENTROPY] = { M_API_ENTROPY, M_API_ENTROPY_FAILS },
	[OP_PUT_LOGGER] = { M_API_LOGGER, M_API_LOGGER_FAILS },
	[OP_PUT_METRICS] = { M_API_METRICS, M_API_METRICS_FAILS },
	[OP_PATCH_VM] = { M_API_PATCH_VM, M_API_PATCH_VM_FAILS },
	[OP_SNAPSHOT_CREATE] = { M_API_SNAP_CREATE, M_API_SNAP_CREATE_FAILS },
	[OP_SNAPSHOT_LOAD] = { M_API_SNAP_LOAD, M_API_SNAP_LOAD_FAILS },
	[OP_SNAPSHOT_REWIND] = { M_API_SNAP_REWIND, M_API_SNAP_REWIND_FAILS },
	[OP_INSTANCE_START] = { M_API_ACTIONS, M_API_ACTIONS_FAILS },
	[OP_SEND_CTRL_ALT_DEL] = { M_API_ACTIONS, M_API_ACTIONS_FAILS },
	[OP_FLUSH_METRICS] = { M_API_ACTIONS, M_API_ACTIONS_FAILS },
	[OP_PUT_MMDS_CONFIG] = { M_API_MMDS, M_API_MMDS_FAILS },
	[OP_PUT_MMDS] = { M_API_MMDS, M_API_MMDS_FAILS },
	[OP_PATCH_MMDS] = { M_API_PATCH_MMDS, M_API_PATCH_MMDS_FAILS },
	[OP_PUT_BALLOON] = { M_API_BALLOON, M_API_BALLOON_FAILS },
	[OP_PATCH_BALLOON] = { M_API_PATCH_BALLOON, M_API_PATCH_BALLOON_FAILS },
	[OP_PATCH_BALLOON_STATS] = { M_API_PATCH_BALLOON,
				     M_API_PATCH_BALLOON_FAILS },
	[OP_BALLOON_HINT_START] = { M_API_PATCH_BALLOON,
				    M_API_PATCH_BALLOON_FAILS },
	[OP_BALLOON_HINT_STOP] = { M_API_PATCH_BALLOON,
				   M_API_PATCH_BALLOON_FAILS },
	[OP_PUT_HOTPLUG] = { M_API_HOTPLUG, M_API_HOTPLUG_FAILS },
	[OP_PATCH_HOTPLUG] = { M_API_PATCH_HOTPLUG, M_API_PATCH_HOTPLUG_FAILS },
};

static void count_request(const struct api_request *req, int status)
{
	if (req->op == OP_UNKNOWN) {
		metrics_inc(M_API_BAD_REQUESTS);
		return;
	}
	metrics_inc(op_metrics[req->op].count);
	if (status >= 400 &&
	    op_metrics[req->op].fails != op_metrics[req->op].count)
		metrics_inc(op_metrics[req->op].fails);
}

/* ---- connections ---- */

static void conn_close(struct api_server *s, struct conn *c)
{
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->in);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void conn_watch(struct api_server *s, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP,
				  .data.ptr = c };

	if (c->out_len > c->out_off)
		ev.events = EPOLLOUT; /* stop reading until the reply is out */
	epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_queue(struct conn *c, const char *data, size_t len)
{
	char *p;

	if (c->out_len - c->out_off + len > API_MAX_PENDING_OUT) {
		c->closing = true;
		return;
	}
	p = realloc(c->out, c->out_len + len);
	if (!p) {
		c->closing = true;
		return;
	}
	memcpy(p + c->out_len, data, len);
	c->out = p;
	c->out_len += len;
}

static void conn_respond(struct conn *c, const struct api_response *resp)
{
	size_t len;
	char *msg = http_format_response(resp->status, resp->body,
					 resp->deprecation, &len);

	if (!msg) {
		c->closing = true;
		return;
	}
	conn_queue(c, msg, len);
	free(msg);
}

/* Copies up to size - 1 bytes of untrusted text for the log, every byte
 * that is not printable ASCII (newlines too) shown as '.'. Returns whether
 * it all fit. */
static bool printable_copy(char *dst, size_t size, const char *src, size_t len)
{
	size_t i, n = len < size - 1 ? len : size - 1;

	for (i = 0; i < n; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '.';
	dst[n] = '\0';
	return n == len;
}

/* As Firecracker: each request's method and path at Info; its body only at
 * Debug (and never /mmds's, which may hold secrets). */
static void log_request(const struct http_request *http)
{
	static const char *const methods[] = { "GET", "PUT", "PATCH",
					       "unsupported" };
	char path[256], body[640];
	bool whole;

	printable_copy(path, sizeof(path), http->path, strlen(http->path));
	log_info("The API server received a %s request on \"%s\".",
		 methods[http->method], path);
	if (!http->body_len || !strncmp(http->path, "/mmds", 5))
		return;
	whole = printable_copy(body, sizeof(body), http->body, http->body_len);
	log_debug("%s request on \"%s\" with body \"%s%s\" (%zu bytes)",
		  methods[http->method], path, body, whole ? "" : "...",
		  http->body_len);
}

static void handle_request(struct api_server *s, struct conn *c,
			   const struct http_request *http)
{
	struct api_request req;
	struct api_response resp = { 0 };

	log_request(http);
	if (!route_request(http, &req, &resp))
		api_channel_call(s->ch, &req, &resp);
	api_request_release(&req);
	count_request(&req, resp.status);
	if (req.deprecated)
		resp.deprecation = true;
	conn_respond(c, &resp);
	free(resp.body);
	if (http->close)
		c->closing = true;
}

static void reject(struct conn *c, long status, const char *why,
		   size_t max_body)
{
	struct api_response resp = { 0 };

	metrics_inc(M_API_BAD_REQUESTS);
	if (!strcmp(why, "request body too large"))
		api_error(
			&resp, (int)-status,
			"Request payload is larger than the limit of %zu bytes allowed by the server",
			max_body);
	else
		api_error(&resp, (int)-status, "%s", why);
	conn_respond(c, &resp);
	free(resp.body);
	c->closing = true; /* the stream cannot be trusted any more */
}

/* Parses and answers every complete request in the input buffer. */
static void conn_process(struct api_server *s, struct conn *c)
{
	size_t off = 0;

	while (!c->closing && off < c->in_len) {
		struct http_request http;
		const char *why;
		long n = http_parse_request(c->in + off, c->in_len - off,
					    s->max_body, &http, &why);

		if (n < 0)
			reject(c, n, why, s->max_body);
		if (n <= 0) {
			if (n == 0 && http.expect_continue &&
			    !c->continue_sent) {
				conn_queue(c, "HTTP/1.1 100 Continue\r\n\r\n",
					   25);
				c->continue_sent = true;
			}
			break;
		}
		handle_request(s, c, &http);
		c->continue_sent = false;
		off += (size_t)n;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
}

/* Reads and drops what a client sends after its connection's last reply;
 * false once it closed, failed, or sent more than API_MAX_LINGER. */
static bool conn_drain(struct conn *c)
{
	char sink[API_READ_CHUNK];
	ssize_t n;

	while ((n = read(c->fd, sink, sizeof(sink))) > 0) {
		c->dropped += (size_t)n;
		if (c->dropped > API_MAX_LINGER)
			return false;
	}
	return n < 0 && (errno == EAGAIN || errno == EINTR);
}

/* The connection's last reply is out: the client sees its end of stream
 * and may finish sending; false when the socket is already gone. */
static bool conn_linger(struct conn *c)
{
	c->lingering = true;
	return shutdown(c->fd, SHUT_WR) == 0 && conn_drain(c);
}

static bool conn_read(struct api_server *s, struct conn *c)
{
	size_t cap = HTTP_MAX_HEADER_BYTES + s->max_body + 1;
	ssize_t n;

	if (c->lingering)
		return conn_drain(c);
	if (c->in_cap - c->in_len < API_READ_CHUNK && c->in_cap < cap) {
		size_t want = c->in_len + API_READ_CHUNK;
		char *p = realloc(c->in, want < cap ? want : cap);

		if (!p)
			return false;
		c->in = p;
		c->in_cap = want < cap ? want : cap;
	}
	n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		return false;
	if (n > 0)
		c->in_len += (size_t)n;
	conn_process(s, c);
	return true;
}

static bool conn_write(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR;
		c->out_off += (size_t)n;
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	return true;
}

static void conn_event(struct api_server *s, struct conn *c, uint32_t events)
{
	bool alive = true;

	if (events & EPOLLIN)
		alive = conn_read(s, c);
	if (alive && c->out_len)
		alive = conn_write(c);
	if (alive && (events & (EPOLLHUP | EPOLLERR)))
		alive = false;
	if (alive && c->closing && !c->out_len && !c->lingering)
		alive = conn_linger(c);
	if (alive)
		conn_watch(s, c);
	else
		conn_close(s, c);
}

static void accept_all(struct api_server *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
		unsigned i;

		if (fd < 0)
			return;
		for (i = 0; i < API_MAX_CONNS && s->conns[i].fd >= 0; i++)
			;
		if (i == API_MAX_CONNS) {
			close(fd); /* full: refuse rather than starve others */
			continue;
		}
		s->conns[i].fd = fd;
		ev.data.ptr = &s->conns[i];
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			conn_close(s, &s->conns[i]);
	}
}

static void *api_thread(void *arg)
{
	struct api_server *s = arg;
	struct epoll_event events[64];

	log_set_thread_name("api");
	if (seccomp_enabled && seccomp_install(SECCOMP_THREAD_API)) {
		log_err("cannot install the API thread's seccomp filter");
		_exit(EXIT_INTERNAL); /* never serve clients unfiltered */
	}
	seccomp_test_hook("api");
	for (;;) {
		int i, n = epoll_wait(s->epfd, events, 64, -1);

		for (i = 0; i < n; i++) {
			void *p = events[i].data.ptr;

			if (p == &s->stop_fd)
				return NULL;
			if (p == &s->listen_fd)
				accept_all(s);
			else
				conn_event(s, p, events[i].events);
		}
	}
}

static int listen_on(struct api_server *s, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	strcpy(s->path, path);
	s->listen_fd =
		socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0)
		return -errno;
	if (bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return -errno;
	s->bound = true;
	return listen(s->listen_fd, 128) < 0 ? -errno : 0;
}

static int add_fd(int epfd, int fd, void *tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void server_free(struct api_server *s)
{
	unsigned i;

	for (i = 0; i < API_MAX_CONNS; i++)
		if (s->conns[i].fd >= 0)
			conn_close(s, &s->conns[i]);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->bound)
		unlink(s->path);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	free(s);
}

struct api_server *api_server_start(const char *path, size_t max_body,
				    struct api_channel *ch)
{
	struct api_server *s = calloc(1, sizeof(*s));
	unsigned i;
	int ret;

	if (!s)
		return NULL;
	for (i = 0; i < API_MAX_CONNS; i++)
		s->conns[i].fd = -1;
	s->listen_fd = -1;
	s->max_body = max_body;
	s->ch = ch;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	ret = s->epfd < 0 || s->stop_fd < 0 ? -errno : listen_on(s, path);
	if (!ret)
		ret = add_fd(s->epfd, s->listen_fd, &s->listen_fd);
	if (!ret)
		ret = add_fd(s->epfd, s->stop_fd, &s->stop_fd);
	if (!ret)
		ret = -pthread_create(&s->thread, NULL, api_thread, s);
	if (ret) {
		server_free(s);
		errno = -ret;
		return NULL;
	}
	return s;
}

void api_server_stop(struct api_server *s)
{
	uint64_t one = 1;

	if (!s)
		return;
	api_channel_shutdown(s->ch);
	if (write(s->stop_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(s->thread, NULL);
	server_free(s);
}

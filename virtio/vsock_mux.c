// SPDX-License-Identifier: Apache-2.0
/* The vsock host side: connections between guest vsock ports and host Unix
 * sockets (protocol in virtio.h). One epoll set of our own holds the
 * listening socket and every connection, so 1,023 connections cost the
 * VMM loop one source.
 *
 * Per connection: data from the guest goes straight to the host socket;
 * what the socket cannot take yet waits in a VSOCK_CONN_BUF ring, which is
 * the credit we advertise (a guest sending past it is reset). Data from the
 * host is read straight into guest rx buffers, never more than the guest's
 * credit allows; a socket is not watched while it cannot be read, so
 * nothing spins. Packets for the guest leave in order: pending RSTs first,
 * then connections in the order they became ready. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "virtio/virtio.h"

#define HASH_SIZE 1024
#define RST_QUEUE 2048
#define CONNECT_LINE_MAX 32
#define POLL_BATCH 64

_Static_assert(sizeof(struct vsock_hdr) == VSOCK_HDR_LEN, "vsock header");

enum conn_state {
	C_AWAIT_LINE, /* host client accepted, reading "CONNECT <port>\n" */
	C_CONNECTING, /* REQUEST sent to the guest, waiting for RESPONSE */
	C_ESTABLISHED,
};

struct conn {
	struct conn *hnext; /* hash chain */
	struct conn *rprev, *rnext; /* rx list */
	struct conn *aprev, *anext; /* every connection */
	bool in_rx_list, hashed;
	enum conn_state state;
	int fd;
	uint32_t local_port, peer_port; /* host side, guest side */
	char line[CONNECT_LINE_MAX];
	unsigned line_len;
	bool want_request, want_response, want_credit;
	uint32_t want_shutdown; /* SHUTDOWN flags to send */
	bool data_ready; /* the host socket has bytes or EOF to read */
	bool host_eof, host_hup;
	uint32_t guest_shut; /* SHUTDOWN flags received */
	uint32_t watched; /* epoll events; UINT32_MAX: removed from the set */
	/* guest -> host: bytes written to the host, last value told */
	uint32_t fwd_cnt, fwd_told;
	uint8_t *txbuf; /* ring of VSOCK_CONN_BUF, allocated on first use */
	uint32_t tx_head, tx_len;
	/* host -> guest: bytes sent, and the guest's credit */
	uint32_t rx_cnt, peer_buf_alloc, peer_fwd_cnt;
	struct conn *dead_next;
};

struct rst {
	uint32_t local_port, peer_port;
};

struct vsock_mux {
	uint64_t guest_cid;
	char uds_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd, epfd;
	dev_t sock_dev; /* the socket file we bound (sock_ino 0: none) */
	ino_t sock_ino;
	struct conn *hash[HASH_SIZE];
	struct conn *all;
	unsigned nr_conns;
	uint32_t next_port;
	struct conn *rx_head, *rx_tail;
	struct rst rsts[RST_QUEUE];
	unsigned rst_head, rst_len;
	bool in_poll; /* conns closed now are freed after the batch */
	struct conn *dead;
};

static unsigned hash_of(uint32_t local, uint32_t peer)
{
	return (local * 2654435761U ^ peer * 40503U) % HASH_SIZE;
}

static struct conn *lookup(const struct vsock_mux *m, uint32_t local,
			   uint32_t peer)
{
	struct conn *c = m->hash[hash_of(local, peer)];

	while (c && (c->local_port != local || c->peer_port != peer))
		c = c->hnext;
	return c;
}

static void hash_add(struct vsock_mux *m, struct conn *c)
{
	unsigned h = hash_of(c->local_port, c->peer_port);

	c->hnext = m->hash[h];
	m->hash[h] = c;
	c->hashed = true;
}

static void hash_del(struct vsock_mux *m, struct conn *c)
{
	struct conn **p = &m->hash[hash_of(c->local_port, c->peer_port)];

	while (*p && *p != c)
		p = &(*p)->hnext;
	if (*p)
		*p = c->hnext;
	c->hashed = false;
}

static void rx_list_add(struct vsock_mux *m, struct conn *c)
{
	if (c->in_rx_list)
		return;
	c->rnext = NULL;
	c->rprev = m->rx_tail;
	if (m->rx_tail)
		m->rx_tail->rnext = c;
	else
		m->rx_head = c;
	m->rx_tail = c;
	c->in_rx_list = true;
}

static void rx_list_del(struct vsock_mux *m, struct conn *c)
{
	if (!c->in_rx_list)
		return;
	if (c->rprev)
		c->rprev->rnext = c->rnext;
	else
		m->rx_head = c->rnext;
	if (c->rnext)
		c->rnext->rprev = c->rprev;
	else
		m->rx_tail = c->rprev;
	c->in_rx_list = false;
}

/* Bytes the guest can still take: its buffer minus what is in flight.
 * Hostile counters give 0, never a wrapped-around huge credit. */
static uint32_t peer_credit(const struct conn *c)
{
	uint32_t in_flight = c->rx_cnt - c->peer_fwd_cnt;

	return in_flight >= c->peer_buf_alloc ? 0 :
						c->peer_buf_alloc - in_flight;
}

static bool can_send_data(const struct conn *c)
{
	return c->state == C_ESTABLISHED && c->data_ready &&
	       !(c->guest_shut & VSOCK_SHUTDOWN_RCV) && peer_credit(c) > 0;
}

/* A packet without payload waits (REQUEST, RESPONSE, SHUTDOWN, credit). */
static bool has_control(const struct conn *c)
{
	return c->want_request || c->want_response || c->want_shutdown ||
	       c->want_credit;
}

static bool has_rx(const struct conn *c)
{
	return has_control(c) || can_send_data(c);
}

/* Sets the epoll interest from the connection's state. */
static void conn_watch(struct vsock_mux *m, struct conn *c)
{
	struct epoll_event ev = { .data.ptr = c };

	if (c->watched == UINT32_MAX)
		return;
	if (c->state == C_AWAIT_LINE ||
	    (c->state == C_ESTABLISHED && !c->data_ready && !c->host_eof &&
	     !(c->guest_shut & VSOCK_SHUTDOWN_RCV) && peer_credit(c) > 0))
		ev.events |= EPOLLIN;
	if (c->tx_len)
		ev.events |= EPOLLOUT;
	if (ev.events != c->watched &&
	    epoll_ctl(m->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->watched = ev.events;
}

/* Re-evaluates a connection after a change: epoll interest and rx list. */
static void conn_update(struct vsock_mux *m, struct conn *c)
{
	conn_watch(m, c);
	if (has_rx(c))
		rx_list_add(m, c);
	else
		rx_list_del(m, c);
}

static void queue_rst(struct vsock_mux *m, uint32_t local, uint32_t peer)
{
	if (m->rst_len == RST_QUEUE) {
		log_debug("vsock: RST queue full, RST %u->%u dropped", local,
			  peer);
		return;
	}
	m->rsts[(m->rst_head + m->rst_len++) % RST_QUEUE] =
		(struct rst){ local, peer };
}

static void conn_free(struct vsock_mux *m, struct conn *c)
{
	if (m->in_poll) { /* later events of this batch may point at c */
		c->dead_next = m->dead;
		m->dead = c;
		return;
	}
	free(c->txbuf);
	free(c);
}

/* Closes the host side; with `rst`, the guest is told by an RST. */
static void conn_close(struct vsock_mux *m, struct conn *c, bool rst)
{
	if (rst && c->state != C_AWAIT_LINE)
		queue_rst(m, c->local_port, c->peer_port);
	if (c->hashed)
		hash_del(m, c);
	rx_list_del(m, c);
	if (c->fd >= 0)
		close(c->fd); /* also leaves the epoll set */
	c->fd = -1;
	if (c->aprev)
		c->aprev->anext = c->anext;
	else
		m->all = c->anext;
	if (c->anext)
		c->anext->aprev = c->aprev;
	m->nr_conns--;
	conn_free(m, c);
}

static struct conn *conn_new(struct vsock_mux *m, int fd, enum conn_state st)
{
	struct epoll_event ev = { .events = 0 };
	struct conn *c;

	if (m->nr_conns >= VSOCK_MAX_CONNS)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fd = fd;
	c->state = st;
	ev.data.ptr = c;
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		free(c);
		return NULL;
	}
	c->anext = m->all;
	if (m->all)
		m->all->aprev = c;
	m->all = c;
	m->nr_conns++;
	return c;
}

/* ---- guest -> host ---- */

/* Closes c once both sides are done; returns whether it did. */
static bool maybe_finish(struct vsock_mux *m, struct conn *c)
{
	bool guest_done = (c->guest_shut & VSOCK_SHUTDOWN_SEND) && !c->tx_len;

	if (guest_done &&
	    (c->host_eof ||
	     c->guest_shut == (VSOCK_SHUTDOWN_SEND | VSOCK_SHUTDOWN_RCV))) {
		conn_close(m, c, true);
		return true;
	}
	conn_update(m, c);
	return false;
}

static void note_forwarded(struct conn *c, uint32_t n)
{
	c->fwd_cnt += n;
	if (c->fwd_cnt - c->fwd_told >= VSOCK_CONN_BUF / 4)
		c->want_credit = true;
}

static void after_guest_sent_all(struct conn *c)
{
	if ((c->guest_shut & VSOCK_SHUTDOWN_SEND) && !c->tx_len && !c->host_hup)
		shutdown(c->fd, SHUT_WR);
}

/* Writes the buffered bytes to the host socket. False on a dead socket. */
static bool flush_txbuf(struct conn *c)
{
	while (c->tx_len) {
		uint32_t first = VSOCK_CONN_BUF - c->tx_head;
		struct iovec iov[2] = {
			{ c->txbuf + c->tx_head,
			  first < c->tx_len ? first : c->tx_len },
			{ c->txbuf, first < c->tx_len ? c->tx_len - first : 0 },
		};
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
		ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR;
		c->tx_head = (uint32_t)((c->tx_head + n) % VSOCK_CONN_BUF);
		c->tx_len -= (uint32_t)n;
		note_forwarded(c, (uint32_t)n);
	}
	after_guest_sent_all(c);
	return true;
}

static void buffer_rest(struct conn *c, const struct iovec *iov, unsigned n,
			size_t off, size_t len)
{
	while (len) {
		uint32_t tail = (c->tx_head + c->tx_len) % VSOCK_CONN_BUF;
		size_t room = VSOCK_CONN_BUF - tail;
		size_t chunk = len < room ? len : room;

		iov_copy(iov, n, off, c->txbuf + tail, chunk, false);
		c->tx_len += (uint32_t)chunk;
		off += chunk;
		len -= chunk;
	}
}

/* An RW packet: straight to the socket, the rest into the ring. */
static void guest_data(struct vsock_mux *m, struct conn *c,
		       const struct iovec *iov, unsigned niov, uint32_t len)
{
	struct iovec part[VQ_MAX_SIZE];
	struct msghdr msg = { .msg_iov = part };
	ssize_t sent = 0;

	if ((c->guest_shut & VSOCK_SHUTDOWN_SEND) ||
	    c->tx_len + (uint64_t)len > VSOCK_CONN_BUF) {
		log_debug("vsock: guest port %u sent past its credit",
			  c->peer_port);
		conn_close(m, c, true);
		return;
	}
	if (!len || c->host_hup)
		return conn_update(m, c);
	if (!c->tx_len) {
		msg.msg_iovlen = iov_slice(iov, niov, 0, len, part);
		sent = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (sent < 0 && errno != EAGAIN && errno != EINTR) {
			conn_close(m, c, true);
			return;
		}
		sent = sent < 0 ? 0 : sent;
		note_forwarded(c, (uint32_t)sent);
	}
	if ((uint32_t)sent < len) {
		if (!c->txbuf && !(c->txbuf = malloc(VSOCK_CONN_BUF))) {
			conn_close(m, c, true);
			return;
		}
		buffer_rest(c, iov, niov, (size_t)sent, len - (size_t)sent);
	}
	conn_update(m, c);
}

/* Guest connects to host port P: connect to "<uds_path>_<P>". */
static void guest_connect(struct vsock_mux *m, const struct vsock_hdr *h)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = -1, len;
	struct conn *c = NULL;

	len = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", m->uds_path,
		       h->dst_port);
	if (len > 0 && (size_t)len < sizeof(sa.sun_path))
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		c = conn_new(m, fd, C_ESTABLISHED);
	if (!c) {
		log_debug("vsock: guest connect to %s: %s", sa.sun_path,
			  fd < 0 ? "path too long" : strerror(errno));
		if (fd >= 0)
			close(fd);
		queue_rst(m, h->dst_port, h->src_port);
		return;
	}
	c->local_port = h->dst_port;
	c->peer_port = h->src_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->want_response = true;
	hash_add(m, c);
	conn_update(m, c);
}

/* The guest accepted a host client's CONNECT. */
static void guest_accepted(struct vsock_mux *m, struct conn *c)
{
	char ok[24];
	int len = snprintf(ok, sizeof(ok), "OK %u\n", c->local_port);

	if (send(c->fd, ok, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT) != len) {
		conn_close(m, c, true);
		return;
	}
	c->state = C_ESTABLISHED;
	conn_update(m, c);
}

static void guest_shutdown(struct vsock_mux *m, struct conn *c, uint32_t flags)
{
	c->guest_shut |= flags & (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
	after_guest_sent_all(c);
	(void)maybe_finish(m, c);
}

static bool header_is_valid(const struct vsock_mux *m,
			    const struct vsock_hdr *h, size_t avail)
{
	return h->src_cid == m->guest_cid && h->dst_cid == VSOCK_HOST_CID &&
	       h->type == VSOCK_TYPE_STREAM && h->len <= avail &&
	       h->len <= VSOCK_MAX_PAYLOAD &&
	       (h->op == VSOCK_OP_RW || h->len == 0);
}

/* A packet for an existing connection. */
static void conn_packet(struct vsock_mux *m, struct conn *c,
			const struct vsock_hdr *h, const struct iovec *iov,
			unsigned niov)
{
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	switch (h->op) {
	case VSOCK_OP_RST:
		conn_close(m, c, false);
		return;
	case VSOCK_OP_RESPONSE:
		if (c->state == C_CONNECTING)
			return guest_accepted(m, c);
		break;
	case VSOCK_OP_SHUTDOWN:
		if (c->state == C_ESTABLISHED)
			return guest_shutdown(m, c, h->flags);
		break;
	case VSOCK_OP_RW:
		if (c->state == C_ESTABLISHED)
			return guest_data(m, c, iov, niov, h->len);
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		c->want_credit = true;
		/* fall through */
	case VSOCK_OP_CREDIT_UPDATE:
		if (c->state == C_ESTABLISHED)
			return conn_update(m, c);
		break;
	}
	/* REQUEST on a live pair, an unknown op, or an op out of order */
	log_debug("vsock: op %u on %u->%u in state %d: reset", h->op,
		  h->src_port, h->dst_port, c->state);
	conn_close(m, c, true);
}

void vsock_mux_from_guest(struct vsock_mux *m, const struct vsock_hdr *h,
			  const struct iovec *payload, unsigned niov,
			  size_t avail)
{
	struct conn *c;

	if (!header_is_valid(m, h, avail)) {
		log_debug(
			"vsock: bad packet from the guest (cid %llu->%llu, type %u, op %u, len %u of %zu): reset",
			(unsigned long long)h->src_cid,
			(unsigned long long)h->dst_cid, h->type, h->op, h->len,
			avail);
		c = lookup(m, h->dst_port, h->src_port);
		if (c)
			conn_close(m, c, true);
		else if (h->op != VSOCK_OP_RST)
			queue_rst(m, h->dst_port, h->src_port);
		return;
	}
	c = lookup(m, h->dst_port, h->src_port);
	if (c)
		conn_packet(m, c, h, payload, niov);
	else if (h->op == VSOCK_OP_REQUEST)
		guest_connect(m, h);
	else if (h->op != VSOCK_OP_RST)
		queue_rst(m, h->dst_port, h->src_port);
}

/* ---- host -> guest ---- */

static void fill_hdr(const struct vsock_mux *m, struct vsock_hdr *h,
		     uint32_t local, uint32_t peer, uint16_t op)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = VSOCK_HOST_CID;
	h->dst_cid = m->guest_cid;
	h->src_port = local;
	h->dst_port = peer;
	h->type = VSOCK_TYPE_STREAM;
	h->op = op;
}

/* Reads host bytes into the guest buffer after the header: returns the
 * payload length, 0 when there is nothing to send (EAGAIN, or EOF, which
 * becomes a SHUTDOWN), -1 when c was closed. */
static ssize_t read_host(struct vsock_mux *m, struct conn *c,
			 const struct iovec *iov, unsigned niov, size_t room)
{
	struct iovec part[VQ_MAX_SIZE];
	size_t max = peer_credit(c);
	ssize_t n;

	if (max > room)
		max = room;
	if (max > VSOCK_MAX_PAYLOAD)
		max = VSOCK_MAX_PAYLOAD;
	n = readv(c->fd, part,
		  (int)iov_slice(iov, niov, VSOCK_HDR_LEN, max, part));
	if (n > 0)
		return n;
	c->data_ready = false;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n < 0 || c->host_hup) {
		conn_close(m, c, true);
		return -1;
	}
	c->host_eof = true; /* half-closed: the guest reads EOF */
	c->want_shutdown |= VSOCK_SHUTDOWN_SEND;
	return maybe_finish(m, c) ? -1 : 0;
}

/* The next packet of c, or 0 (c may be gone then). */
static size_t conn_to_guest(struct vsock_mux *m, struct conn *c,
			    const struct iovec *iov, unsigned niov, size_t room)
{
	struct vsock_hdr h;
	ssize_t len = 0;

	fill_hdr(m, &h, c->local_port, c->peer_port, VSOCK_OP_RW);
	if (c->want_request) {
		h.op = VSOCK_OP_REQUEST;
		c->want_request = false;
	} else if (c->want_response) {
		h.op = VSOCK_OP_RESPONSE;
		c->want_response = false;
	} else if (c->want_shutdown) {
		h.op = VSOCK_OP_SHUTDOWN;
		h.flags = c->want_shutdown;
		c->want_shutdown = 0;
	} else if (room && can_send_data(c) &&
		   (len = read_host(m, c, iov, niov, room)) != 0) {
		if (len < 0)
			return 0; /* c is gone */
		h.len = (uint32_t)len;
		c->rx_cnt += (uint32_t)len;
	} else if (c->want_credit) {
		h.op = VSOCK_OP_CREDIT_UPDATE;
	} else {
		conn_update(m, c);
		return 0;
	}
	h.buf_alloc = VSOCK_CONN_BUF;
	h.fwd_cnt = c->fwd_told = c->fwd_cnt;
	c->want_credit = false;
	iov_copy(iov, niov, 0, &h, sizeof(h), true);
	rx_list_del(m, c); /* to the back of the line, if more is pending */
	conn_update(m, c);
	return VSOCK_HDR_LEN + (size_t)len;
}

static size_t rst_to_guest(struct vsock_mux *m, const struct iovec *iov,
			   unsigned niov)
{
	struct rst *r = &m->rsts[m->rst_head];
	struct vsock_hdr h;

	fill_hdr(m, &h, r->local_port, r->peer_port, VSOCK_OP_RST);
	m->rst_head = (m->rst_head + 1) % RST_QUEUE;
	m->rst_len--;
	iov_copy(iov, niov, 0, &h, sizeof(h), true);
	return VSOCK_HDR_LEN;
}

bool vsock_mux_has_rx(const struct vsock_mux *m)
{
	return m->rst_len || m->rx_head;
}

size_t vsock_mux_to_guest(struct vsock_mux *m, const struct iovec *iov,
			  unsigned niov)
{
	size_t room = 0, len = 0;
	unsigned i;

	for (i = 0; i < niov; i++)
		room += iov[i].iov_len;
	if (room < VSOCK_HDR_LEN)
		return 0;
	while (!len && (m->rst_len || m->rx_head)) {
		if (m->rst_len) /* reading a connection may queue one */
			return rst_to_guest(m, iov, niov);
		if (room == VSOCK_HDR_LEN && !has_control(m->rx_head))
			return 0; /* its data waits for a buffer with room */
		len = conn_to_guest(m, m->rx_head, iov, niov,
				    room - VSOCK_HDR_LEN);
	}
	return len;
}

/* ---- host sockets ---- */

static bool parse_connect_line(const char *line, uint32_t *port)
{
	char *end;
	unsigned long v;

	if (strncmp(line, "CONNECT ", 8) || line[8] < '0' || line[8] > '9')
		return false;
	errno = 0;
	v = strtoul(line + 8, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return false;
	*port = (uint32_t)v;
	return true;
}

static uint32_t alloc_local_port(struct vsock_mux *m, uint32_t peer)
{
	do {
		if (m->next_port < VSOCK_FIRST_HOST_PORT)
			m->next_port = VSOCK_FIRST_HOST_PORT;
	} while (lookup(m, m->next_port++, peer));
	return m->next_port - 1;
}

/* Reads the CONNECT line a byte at a time: nothing after it is consumed,
 * so data the client sent right behind it goes to the guest. */
static void read_connect_line(struct vsock_mux *m, struct conn *c)
{
	char ch;
	ssize_t n;

	while ((n = read(c->fd, &ch, 1)) == 1 && ch != '\n') {
		if (c->line_len == CONNECT_LINE_MAX - 1)
			break;
		c->line[c->line_len++] = ch;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	c->line[c->line_len] = '\0';
	if (n != 1 || ch != '\n' ||
	    !parse_connect_line(c->line, &c->peer_port)) {
		log_debug("vsock: bad CONNECT line from a host client");
		conn_close(m, c, false);
		return;
	}
	c->local_port = alloc_local_port(m, c->peer_port);
	c->state = C_CONNECTING;
	c->want_request = true;
	hash_add(m, c);
	conn_update(m, c);
}

static void accept_clients(struct vsock_mux *m)
{
	int fd;

	while ((fd = accept4(m->listen_fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		struct conn *c = conn_new(m, fd, C_AWAIT_LINE);

		if (!c) {
			log_warn("vsock: host client refused (%u connections)",
				 m->nr_conns);
			close(fd);
			continue;
		}
		conn_watch(m, c);
	}
}

static void host_event(struct vsock_mux *m, struct conn *c, uint32_t events)
{
	if (c->fd < 0)
		return; /* closed earlier in this batch */
	if (events & EPOLLERR)
		return conn_close(m, c, true);
	if (c->state == C_AWAIT_LINE)
		return read_connect_line(m, c);
	if (events & EPOLLHUP) { /* peer gone: read what is left, then RST */
		c->host_hup = true;
		c->tx_len = 0;
		epoll_ctl(m->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		c->watched = UINT32_MAX;
		if (c->state != C_ESTABLISHED || c->host_eof)
			return conn_close(m, c, true);
		c->data_ready = true;
	}
	if ((events & EPOLLOUT) && !flush_txbuf(c))
		return conn_close(m, c, true);
	if (events & EPOLLIN)
		c->data_ready = true;
	(void)maybe_finish(m, c);
}

void vsock_mux_poll(struct vsock_mux *m)
{
	struct epoll_event ev[POLL_BATCH];
	int i, n = epoll_wait(m->epfd, ev, POLL_BATCH, 0);

	m->in_poll = true;
	for (i = 0; i < n; i++) {
		if (ev[i].data.ptr)
			host_event(m, ev[i].data.ptr, ev[i].events);
		else
			accept_clients(m);
	}
	m->in_poll = false;
	while (m->dead) {
		struct conn *c = m->dead;

		m->dead = c->dead_next;
		conn_free(m, c);
	}
}

int vsock_mux_fd(const struct vsock_mux *m)
{
	return m->epfd;
}

unsigned vsock_mux_nr_conns(const struct vsock_mux *m)
{
	return m->nr_conns;
}

void vsock_mux_reset(struct vsock_mux *m)
{
	while (m->all)
		conn_close(m, m->all, false);
	m->rst_len = 0;
}

static int listen_on(struct vsock_mux *m)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct stat st;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", m->uds_path);
	if (lstat(sa.sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(sa.sun_path); /* stale, from a previous run */
	m->listen_fd =
		socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->listen_fd < 0 ||
	    bind(m->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	if (lstat(sa.sun_path, &st) == 0) {
		m->sock_dev = st.st_dev;
		m->sock_ino = st.st_ino;
	}
	if (listen(m->listen_fd, 128) < 0)
		return -errno;
	return epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->listen_fd, &ev) < 0 ?
		       -errno :
		       0;
}

int vsock_mux_create(uint64_t guest_cid, const char *uds_path,
		     struct vsock_mux **out)
{
	struct vsock_mux *m = calloc(1, sizeof(*m));
	int ret;

	*out = NULL;
	if (!m)
		return -ENOMEM;
	if (strlen(uds_path) >= sizeof(m->uds_path)) {
		free(m);
		return -ENAMETOOLONG;
	}
	m->guest_cid = guest_cid;
	snprintf(m->uds_path, sizeof(m->uds_path), "%s", uds_path);
	m->listen_fd = -1;
	m->next_port = VSOCK_FIRST_HOST_PORT;
	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	ret = m->epfd < 0 ? -errno : listen_on(m);
	if (ret) {
		vsock_mux_destroy(m);
		return ret;
	}
	*out = m;
	return 0;
}

/* Removes uds_path only when it is still the socket this process bound:
 * never a file that was there before (bind failed) or put there since. */
static void unlink_own_socket(const struct vsock_mux *m)
{
	struct stat st;

	if (m->sock_ino && lstat(m->uds_path, &st) == 0 &&
	    st.st_dev == m->sock_dev && st.st_ino == m->sock_ino)
		unlink(m->uds_path);
}

void vsock_mux_destroy(struct vsock_mux *m)
{
	if (!m)
		return;
	vsock_mux_reset(m);
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	unlink_own_socket(m);
	if (m->epfd >= 0)
		close(m->epfd);
	free(m);
}

// SPDX-License-Identifier: Apache-2.0
/* The MMDS's TCP: passive opens on one port, a fixed table of connections,
 * each carrying HTTP requests in and one response at a time out.
 *
 * In: data is taken in order only (a segment that starts before rcv_nxt
 * gives its new part, one that starts after it is dropped and answered
 * with a duplicate ACK), into a MMDS_RCV_BUF-byte buffer that is also the
 * advertised window; a full buffer without a complete request resets the
 * connection. A FIN is taken once everything before it is; the connection
 * then answers what it has, sends its FIN and is gone when that is ACKed.
 * A RST inside the window, or a SYN on an open connection, ends it.
 * Out: segments of at most the peer's MSS inside the peer's window; an
 * unACKed segment is sent again (go-back-N) after MMDS_RTO_MS, doubling up
 * to MMDS_RTO_MAX_MS; a zero window is probed on the same timer; after
 * MMDS_RTO_COUNT_MAX timeouts without progress the connection is reset.
 * A segment for no connection gets a RST (RFC 793), a SYN with no free slot
 * takes the slot of a connection idle for MMDS_EVICT_IDLE_MS, or gets a RST.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "mmds/mmds.h"

#define MSS_DEFAULT 536 /* RFC 9293 when no MSS option came */
#define MSS_MIN 88 /* Linux's floor: a tiny MSS is not a reason to chatter */

struct conn {
	bool used, established, fin_received, closing;
	bool ack_pending, rst_pending, probe;
	uint32_t addr;
	uint16_t port, mss;
	uint32_t irs, iss; /* the peer's and our initial sequence numbers */
	uint32_t snd_una, snd_nxt, snd_max, snd_wnd_edge;
	uint32_t rcv_nxt, fin_seq;
	uint8_t rx[MMDS_RCV_BUF];
	size_t rx_len;
	char *out; /* the response being sent, out[0] is sequence out_seq */
	size_t out_len;
	uint32_t out_seq;
	uint64_t rto_at, rto_ms, last_rx; /* rto_at 0: no timer */
	unsigned rto_count;
};

struct mmds_tcp {
	struct mmds *m;
	struct conn conn[MMDS_MAX_CONNECTIONS];
	struct mmds_seg rst[MMDS_MAX_PENDING_RSTS];
	unsigned nrst, next;
	uint32_t isn_state;
};

static bool seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static bool seq_le(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}

struct mmds_tcp *mmds_tcp_create(struct mmds *m)
{
	struct mmds_tcp *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->m = m;
	if (getrandom(&c->isn_state, sizeof(c->isn_state), 0) !=
	    sizeof(c->isn_state))
		c->isn_state = 0x2545f491;
	c->isn_state |= 1;
	return c;
}

static void conn_free(struct conn *k)
{
	free(k->out);
	memset(k, 0, sizeof(*k));
}

void mmds_tcp_destroy(struct mmds_tcp *c)
{
	unsigned i;

	if (!c)
		return;
	for (i = 0; i < MMDS_MAX_CONNECTIONS; i++)
		conn_free(&c->conn[i]);
	free(c);
}

void mmds_tcp_reset(struct mmds_tcp *c)
{
	unsigned i;

	for (i = 0; i < MMDS_MAX_CONNECTIONS; i++)
		if (c->conn[i].used)
			conn_free(&c->conn[i]);
	c->nrst = 0;
	c->next = 0;
}

/* xorshift32: initial sequence numbers the guest cannot count on. */
static uint32_t next_isn(struct mmds_tcp *c)
{
	uint32_t x = c->isn_state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return c->isn_state = x;
}

static void queue_rst(struct mmds_tcp *c, uint32_t addr, uint16_t port,
		      uint32_t seq, uint32_t ack, uint8_t flags)
{
	if (c->nrst < MMDS_MAX_PENDING_RSTS)
		c->rst[c->nrst++] = (struct mmds_seg){ .addr = addr,
						       .port = port,
						       .seq = seq,
						       .ack = ack,
						       .flags = flags };
}

/* RFC 793's reply to a segment for no connection. */
static void refuse(struct mmds_tcp *c, const struct mmds_seg *in)
{
	uint32_t len = (uint32_t)in->len + !!(in->flags & TCPF_SYN) +
		       !!(in->flags & TCPF_FIN);

	if (in->flags & TCPF_RST)
		return;
	if (in->flags & TCPF_ACK)
		queue_rst(c, in->addr, in->port, in->ack, 0, TCPF_RST);
	else
		queue_rst(c, in->addr, in->port, 0, in->seq + len,
			  TCPF_RST | TCPF_ACK);
}

static struct conn *find(struct mmds_tcp *c, uint32_t addr, uint16_t port)
{
	unsigned i;

	for (i = 0; i < MMDS_MAX_CONNECTIONS; i++)
		if (c->conn[i].used && c->conn[i].addr == addr &&
		    c->conn[i].port == port)
			return &c->conn[i];
	return NULL;
}

/* A free slot, or the slot of an idle connection (reset), or NULL. */
static struct conn *free_slot(struct mmds_tcp *c, uint64_t now_ms)
{
	unsigned i;

	for (i = 0; i < MMDS_MAX_CONNECTIONS; i++)
		if (!c->conn[i].used)
			return &c->conn[i];
	for (i = 0; i < MMDS_MAX_CONNECTIONS; i++) {
		struct conn *k = &c->conn[i];

		if (now_ms - k->last_rx > MMDS_EVICT_IDLE_MS) {
			queue_rst(c, k->addr, k->port, k->snd_nxt, k->rcv_nxt,
				  TCPF_RST | TCPF_ACK);
			conn_free(k);
			return k;
		}
	}
	return NULL;
}

static void passive_open(struct mmds_tcp *c, const struct mmds_seg *in,
			 uint64_t now_ms)
{
	struct conn *k = free_slot(c, now_ms);
	uint16_t mss = in->mss ? in->mss : MSS_DEFAULT;

	if (!k) {
		refuse(c, in);
		return;
	}
	k->used = true;
	k->addr = in->addr;
	k->port = in->port;
	k->mss = mss < MSS_MIN	    ? MSS_MIN :
		 mss > MMDS_MSS_MAX ? MMDS_MSS_MAX :
				      mss;
	k->irs = in->seq;
	k->rcv_nxt = in->seq + 1; /* data on a SYN is not taken */
	k->iss = next_isn(c);
	k->snd_una = k->snd_nxt = k->snd_max = k->snd_wnd_edge = k->iss;
	k->rto_ms = MMDS_RTO_MS;
	k->last_rx = now_ms;
}

/* ---- a connection's input ---- */

static uint32_t out_end(const struct conn *k)
{
	return k->out_seq + (uint32_t)k->out_len;
}

static size_t unsent(const struct conn *k)
{
	return k->out ? (size_t)(uint32_t)(out_end(k) - k->snd_nxt) : 0;
}

/* Something is waiting for an ACK, or for the peer's window. */
static bool outstanding(const struct conn *k)
{
	return k->snd_una != k->snd_max || unsent(k) ||
	       (k->closing && seq_le(k->snd_nxt, k->fin_seq));
}

static void update_timer(struct conn *k, uint64_t now_ms)
{
	if (!outstanding(k))
		k->rto_at = 0;
	else if (!k->rto_at)
		k->rto_at = now_ms + k->rto_ms;
}

/* Answers the next complete request, when the previous answer is done. */
static void serve(struct mmds_tcp *c, struct conn *k, uint64_t now_ms)
{
	size_t end;

	while (!k->out && !k->closing && !k->rst_pending) {
		end = mmds_http_request_end(k->rx, k->rx_len);
		if (!end) {
			if (k->rx_len == MMDS_RCV_BUF)
				k->rst_pending = true; /* request too long */
			else if (k->fin_received) {
				k->closing = true;
				k->fin_seq = k->snd_max;
			}
			return;
		}
		if (mmds_http_respond(c->m, k->rx, end, now_ms, &k->out,
				      &k->out_len) ||
		    k->out_len > INT32_MAX) { /* sequence space: < 2 GiB */
			k->rst_pending = true;
			return;
		}
		k->out_seq = k->snd_max;
		memmove(k->rx, k->rx + end, k->rx_len - end);
		k->rx_len -= end;
	}
}

static void acked(struct conn *k, uint32_t ack)
{
	k->snd_una = ack;
	if (seq_lt(k->snd_nxt, ack))
		k->snd_nxt = ack; /* a late ACK after a go-back */
	if (!k->established && ack == k->iss + 1)
		k->established = true;
	if (k->out && seq_le(out_end(k), ack)) {
		free(k->out);
		k->out = NULL;
		k->out_len = 0;
	}
	k->rto_count = 0;
	k->rto_ms = MMDS_RTO_MS;
	k->rto_at = 0; /* restarted for what is still outstanding */
}

/* Takes the ACK field: false when the segment is to be dropped. */
static bool take_ack(struct conn *k, const struct mmds_seg *in)
{
	if (!(in->flags & TCPF_ACK))
		return false;
	if (seq_lt(k->snd_max, in->ack)) { /* ACKs what was never sent */
		k->ack_pending = true;
		return false;
	}
	if (seq_lt(k->snd_una, in->ack))
		acked(k, in->ack);
	if (in->ack == k->snd_una)
		k->snd_wnd_edge = in->ack + in->window;
	return k->established;
}

static void take_data(struct conn *k, const struct mmds_seg *in)
{
	int32_t off = (int32_t)(k->rcv_nxt - in->seq);
	size_t take;

	if (!in->len)
		return;
	k->ack_pending = true; /* every data segment gets an ACK */
	if (k->fin_received || off < 0 || (size_t)off >= in->len)
		return; /* after the FIN, out of order, or a duplicate */
	take = in->len - (size_t)off;
	if (take > MMDS_RCV_BUF - k->rx_len)
		take = MMDS_RCV_BUF - k->rx_len;
	memcpy(k->rx + k->rx_len, in->data + off, take);
	k->rx_len += take;
	k->rcv_nxt += (uint32_t)take;
}

static void take_fin(struct conn *k, const struct mmds_seg *in)
{
	uint32_t fin = in->seq + (uint32_t)in->len;

	if (!(in->flags & TCPF_FIN))
		return;
	if (!k->fin_received && fin == k->rcv_nxt) {
		k->fin_received = true;
		k->rcv_nxt++;
	}
	k->ack_pending = true;
}

static bool in_window(const struct conn *k, uint32_t seq)
{
	uint32_t wnd = MMDS_RCV_BUF - (uint32_t)k->rx_len;

	return seq_le(k->rcv_nxt, seq) && seq_lt(seq, k->rcv_nxt + wnd + 1);
}

/* false when the connection is gone. */
static bool conn_input(struct mmds_tcp *c, struct conn *k,
		       const struct mmds_seg *in, uint64_t now_ms)
{
	k->last_rx = now_ms;
	if (in->flags & TCPF_RST) {
		if (!in_window(k, in->seq))
			return true;
		conn_free(k);
		return false;
	}
	if (in->flags & TCPF_SYN) {
		if (!k->established && in->seq == k->irs &&
		    in->flags == TCPF_SYN)
			k->snd_nxt = k->iss; /* SYN again: SYN-ACK again */
		else
			k->rst_pending = true;
		return true;
	}
	if (!take_ack(k, in))
		return true;
	take_data(k, in);
	take_fin(k, in);
	serve(c, k, now_ms);
	if (k->closing && k->snd_una == k->fin_seq + 1) {
		conn_free(k); /* both FINs sent and ACKed */
		return false;
	}
	update_timer(k, now_ms);
	return true;
}

void mmds_tcp_input(struct mmds_tcp *c, const struct mmds_seg *in,
		    uint64_t now_ms)
{
	struct conn *k = find(c, in->addr, in->port);

	if (k)
		conn_input(c, k, in, now_ms);
	else if (in->flags == TCPF_SYN)
		passive_open(c, in, now_ms);
	else
		refuse(c, in);
}

/* ---- a connection's output ---- */

static void segment(const struct conn *k, struct mmds_seg *out, uint32_t seq,
		    uint8_t flags)
{
	*out = (struct mmds_seg){ .addr = k->addr,
				  .port = k->port,
				  .seq = seq,
				  .ack = k->rcv_nxt,
				  .flags = flags | TCPF_ACK,
				  .window = (uint16_t)(MMDS_RCV_BUF -
						       k->rx_len) };
}

/* Marks sequence space up to snd_nxt as sent, arming the timer. */
static void sent(struct conn *k, uint64_t now_ms)
{
	if (seq_lt(k->snd_max, k->snd_nxt))
		k->snd_max = k->snd_nxt;
	update_timer(k, now_ms);
	k->ack_pending = false;
}

static bool send_data(struct conn *k, struct mmds_seg *out, uint64_t now_ms)
{
	size_t n = unsent(k);
	uint32_t room = k->snd_wnd_edge - k->snd_nxt;

	if (!n || !seq_lt(k->snd_nxt, k->snd_wnd_edge))
		return false;
	if (n > k->mss)
		n = k->mss;
	if (n > room)
		n = room;
	segment(k, out, k->snd_nxt, n == unsent(k) ? TCPF_PSH : 0);
	out->data = (const uint8_t *)k->out + (k->snd_nxt - k->out_seq);
	out->len = n;
	k->snd_nxt += (uint32_t)n;
	sent(k, now_ms);
	return true;
}

/* The retransmission timer fired: go back to snd_una (a closed window
 * gets a probe instead), or give up after MMDS_RTO_COUNT_MAX. */
static void timeout(struct conn *k, uint64_t now_ms)
{
	k->rto_at = 0;
	if (++k->rto_count > MMDS_RTO_COUNT_MAX) {
		k->rst_pending = true;
		return;
	}
	k->rto_ms = k->rto_ms * 2 > MMDS_RTO_MAX_MS ? MMDS_RTO_MAX_MS :
						      k->rto_ms * 2;
	k->snd_nxt = k->snd_una;
	k->ack_pending = k->probe = true;
	update_timer(k, now_ms);
}

/* false: nothing to send now. */
static bool conn_output(struct conn *k, struct mmds_seg *out, uint64_t now_ms)
{
	if (k->rto_at && now_ms >= k->rto_at)
		timeout(k, now_ms);
	if (k->rst_pending) {
		segment(k, out, k->snd_nxt, TCPF_RST);
		conn_free(k);
		return true;
	}
	if (k->snd_nxt == k->iss) { /* SYN-ACK, with our MSS */
		segment(k, out, k->iss, TCPF_SYN);
		out->mss = MMDS_MSS_MAX;
		k->snd_nxt = k->iss + 1;
		sent(k, now_ms);
		return true;
	}
	if (k->established && send_data(k, out, now_ms))
		return true;
	if (k->closing && k->snd_nxt == k->fin_seq) {
		segment(k, out, k->fin_seq, TCPF_FIN);
		k->snd_nxt = k->fin_seq + 1;
		sent(k, now_ms);
		return true;
	}
	if (!k->ack_pending)
		return false;
	/* a pure ACK; after a timeout with data held back by a closed
	 * window, a probe the peer must answer (an old sequence number) */
	segment(k, out, k->probe && unsent(k) ? k->snd_nxt - 1 : k->snd_nxt, 0);
	k->ack_pending = k->probe = false;
	return true;
}

bool mmds_tcp_output(struct mmds_tcp *c, struct mmds_seg *out, uint64_t now_ms)
{
	unsigned i;

	if (c->nrst) {
		*out = c->rst[--c->nrst];
		return true;
	}
	for (i = 0; i < MMDS_MAX_CONNECTIONS; i++) {
		unsigned at = (c->next + i) % MMDS_MAX_CONNECTIONS;

		if (c->conn[at].used &&
		    conn_output(&c->conn[at], out, now_ms)) {
			c->next = at + 1;
			return true;
		}
	}
	return false;
}

uint64_t mmds_tcp_deadline(const struct mmds_tcp *c)
{
	uint64_t at = UINT64_MAX;
	unsigned i;

	for (i = 0; i < MMDS_MAX_CONNECTIONS; i++)
		if (c->conn[i].used && c->conn[i].rto_at &&
		    c->conn[i].rto_at < at)
			at = c->conn[i].rto_at;
	return at;
}

unsigned mmds_tcp_count(const struct mmds_tcp *c)
{
	unsigned i, n = 0;

	for (i = 0; i < MMDS_MAX_CONNECTIONS; i++)
		n += c->conn[i].used;
	return n;
}

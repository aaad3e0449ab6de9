/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mmds/ — the microVM metadata service, wire-compatible with Firecracker's
 * MMDS (its docs/mmds/ pages): a JSON data store the API fills, and a small
 * Ethernet/ARP/IPv4/TCP/HTTP endpoint that answers the guest at
 * 169.254.169.254:80 (configurable), V1 and V2 (session tokens).
 *
 * Contract:
 * - Single-threaded: everything here runs on the VMM thread; nothing
 *   blocks, nothing sleeps, time is always passed in (now_ms, a monotonic
 *   clock in milliseconds) so tests control it.
 * - The guest is hostile. Every length, offset, checksum, sequence number
 *   and window of a guest frame is checked; a frame addressed to the MMDS
 *   (ARP for its address, IPv4 to its address) is always consumed, dropped
 *   when malformed; any other frame is "not mine" and goes to the tap.
 * - Memory is bounded: MMDS_MAX_CONNECTIONS connections, each with a
 *   MMDS_RCV_BUF-byte receive buffer and one response at a time (at most
 *   the store's size limit plus headers), MMDS_MAX_PENDING_RSTS queued
 *   resets and one pending ARP reply per stack.
 * - Session tokens are a keyed MAC (SipHash-2-4-128) of their expiry under
 *   a random per-process key: unforgeable, no table, and invalid after a
 *   snapshot is loaded into a new process.
 * - Imports point one way: mmds/ uses libc and cJSON only.
 *
 * Phase-2 wiring (the net device and the API):
 *   struct mmds m; mmds_init(&m, limit);       one per VM
 *   s = mmds_stack_create(&m, ipv4);            one per listed interface
 *   TX: if (mmds_stack_from_guest(s, frame, len, partial, now)) consumed;
 *       else the frame goes to the tap unchanged.
 *   RX: after a consumed frame, when RX buffers come back, and when a
 *       timer armed for mmds_stack_deadline(s) fires:
 *       while ((n = mmds_stack_to_guest(s, buf, cap, now))) deliver buf;
 *       (a frame pulled is gone from the stack: keep it until delivered).
 *   API: mmds_store_put / mmds_store_patch return 0 or -E2BIG (413) /
 *       -EINVAL (400) / -ENOMEM with Firecracker's message in *err;
 *       mmds_store_json for GET /mmds.
 */
#ifndef MICROVM_MMDS_H
#define MICROVM_MMDS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MMDS_MUST_CHECK __attribute__((warn_unused_result))

#define MMDS_DEFAULT_IPV4 0xa9fea9feu /* 169.254.169.254, host order */
#define MMDS_DEFAULT_SIZE_LIMIT 51200 /* Firecracker's --mmds-size-limit */
#define MMDS_PORT 80
#define MMDS_MAC                                   \
	{                                          \
		0x06, 0x01, 0x23, 0x45, 0x67, 0x01 \
	} /* Firecracker's */

/* ---- store.c: the data store ---- */
/* Any JSON value; objects are kept with their keys sorted (byte order) and
 * unique (the last duplicate wins), as Firecracker (serde_json) keeps them.
 * The size is the length of the compact JSON text. */
struct mmds_store {
	cJSON *root; /* a JSON null until the first PUT */
	bool initialized; /* a PUT happened: PATCH is allowed */
	size_t limit; /* bytes of compact JSON */
};

void mmds_store_init(struct mmds_store *s, size_t limit);
void mmds_store_destroy(struct mmds_store *s);
/* PUT /mmds: replaces the store with a copy of value. PATCH /mmds: applies
 * value as a JSON merge patch (RFC 7396). 0, or -E2BIG when the result
 * would exceed the limit (the store is unchanged), -EINVAL for a PATCH
 * before any PUT, -ENOMEM; *err says why in Firecracker's words. */
MMDS_MUST_CHECK int mmds_store_put(struct mmds_store *s, const cJSON *value,
				   const char **err);
MMDS_MUST_CHECK int mmds_store_patch(struct mmds_store *s, const cJSON *patch,
				     const char **err);
/* GET /mmds: the compact JSON text ("{}" for an empty store); malloc'ed,
 * NULL when out of memory. */
char *mmds_store_json(const struct mmds_store *s);
/* The value at a JSON pointer (RFC 6901) in the store, NULL if none. */
const cJSON *mmds_store_lookup(const struct mmds_store *s, const char *pointer);
/* RFC 7396 on a tree: *target becomes target merged with patch; NULL on
 * allocation failure (target is then freed). */
cJSON *mmds_merge_patch(cJSON *target, const cJSON *patch);

/* ---- token.c: V2 session tokens ---- */
#define MMDS_TOKEN_LEN 32 /* base64url of expiry (8) + tag (16) */
#define MMDS_TOKEN_TTL_MIN 1
#define MMDS_TOKEN_TTL_MAX 21600
struct mmds_tokens {
	uint8_t key[16];
};
/* A fresh random key (getrandom): earlier tokens are invalid. */
MMDS_MUST_CHECK int mmds_tokens_init(struct mmds_tokens *t);
/* out gets MMDS_TOKEN_LEN characters and a NUL; ttl_s in [1, 21600]. */
void mmds_token_new(const struct mmds_tokens *t, uint32_t ttl_s,
		    uint64_t now_ms, char out[MMDS_TOKEN_LEN + 1]);
bool mmds_token_valid(const struct mmds_tokens *t, const char *token,
		      size_t len, uint64_t now_ms);
/* SipHash-2-4 with a 128-bit output (the reference's siphash(), outlen 16). */
void mmds_siphash128(const uint8_t key[16], const uint8_t *in, size_t len,
		     uint8_t out[16]);

/* ---- mmds.c: one metadata service per VM ---- */
enum mmds_version { MMDS_V1, MMDS_V2 };
struct mmds {
	struct mmds_store store;
	struct mmds_tokens tokens;
	enum mmds_version version; /* default V1, as Firecracker */
	bool imds_compat; /* always answer in IMDS format */
};
/* V1, no imds_compat, an empty store capped at limit, a fresh token key. */
MMDS_MUST_CHECK int mmds_init(struct mmds *m, size_t limit);
void mmds_destroy(struct mmds *m);

/* ---- http.c: the HTTP/1.1 responder the guest talks to ---- */
/* Length of the first complete request head in buf (up to and including
 * the blank line, "\n\n" or "\n\r\n" as Firecracker finds it), 0 if none. */
size_t mmds_http_request_end(const uint8_t *buf, size_t len);
/* Answers one request head: a malloc'ed response in *out (*out_len bytes).
 * 0, or -ENOMEM. */
MMDS_MUST_CHECK int mmds_http_respond(struct mmds *m, const uint8_t *req,
				      size_t len, uint64_t now_ms, char **out,
				      size_t *out_len);

/* ---- stack.c, tcp.c: the guest-facing network endpoint ---- */
#define MMDS_MAX_CONNECTIONS 30 /* as Firecracker */
#define MMDS_MAX_PENDING_RSTS 32
#define MMDS_RCV_BUF 2500 /* largest request head + 1, as Firecracker */
#define MMDS_MSS_MAX 1460 /* what we send per segment at most */
#define MMDS_FRAME_MAX (14 + 20 + 24 + MMDS_MSS_MAX) /* eth+ip+tcp+mss */
#define MMDS_RTO_MS 300 /* first retransmission timeout, doubles */
#define MMDS_RTO_MAX_MS 2400
#define MMDS_RTO_COUNT_MAX 15 /* then the connection is reset */
#define MMDS_EVICT_IDLE_MS 10000 /* idle this long: a SYN may take its slot */

struct mmds_stack;
/* ipv4 in host order (MMDS_DEFAULT_IPV4 unless configured). NULL + errno. */
struct mmds_stack *mmds_stack_create(struct mmds *m, uint32_t ipv4);
void mmds_stack_destroy(struct mmds_stack *s);
/* Back to what mmds_stack_create made: no connection, no reply waiting,
 * no guest address learned (a rewound guest knows none of them). */
void mmds_stack_reset(struct mmds_stack *s);
/* A frame the guest sent (without the virtio-net header). true: it was
 * for the MMDS and is consumed (answered or dropped); false: not ours, send
 * it to the tap. csum_partial: the virtio header said NEEDS_CSUM, so the
 * TCP checksum is not filled in and is not verified. */
bool mmds_stack_from_guest(struct mmds_stack *s, const uint8_t *frame,
			   size_t len, bool csum_partial, uint64_t now_ms);
/* The next frame for the guest's RX, written to buf (cap must be at least
 * MMDS_FRAME_MAX): its length, 0 when there is nothing to send now. */
size_t mmds_stack_to_guest(struct mmds_stack *s, uint8_t *buf, size_t cap,
			   uint64_t now_ms);
/* The earliest time a timer (retransmission) wants mmds_stack_to_guest
 * called again; UINT64_MAX when none. */
uint64_t mmds_stack_deadline(const struct mmds_stack *s);
/* Connections open now (tests, metrics). */
unsigned mmds_stack_connections(const struct mmds_stack *s);

/* ---- tcp.c: TCP connections (used by stack.c) ---- */
#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_PSH 0x08
#define TCPF_ACK 0x10

struct mmds_seg { /* a parsed, checked segment, or one to send */
	uint32_t addr; /* the guest's address, host order */
	uint16_t port; /* the guest's port */
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t window;
	uint16_t mss; /* the MSS option, 0 if none */
	const uint8_t *data;
	size_t len;
};
struct mmds_tcp;
struct mmds_tcp *mmds_tcp_create(struct mmds *m);
void mmds_tcp_destroy(struct mmds_tcp *c);
void mmds_tcp_reset(struct mmds_tcp *c); /* every connection and RST gone */
void mmds_tcp_input(struct mmds_tcp *c, const struct mmds_seg *in,
		    uint64_t now_ms);
/* The next segment to send, true if there is one. */
bool mmds_tcp_output(struct mmds_tcp *c, struct mmds_seg *out, uint64_t now_ms);
uint64_t mmds_tcp_deadline(const struct mmds_tcp *c);
unsigned mmds_tcp_count(const struct mmds_tcp *c);

#endif

// SPDX-License-Identifier: Apache-2.0
/* MMDS V2 session tokens. A token is base64url(expiry || tag): expiry the
 * monotonic millisecond after which it is refused (8 bytes, little-endian),
 * tag = SipHash-2-4-128(key, expiry). The key is random per process, so
 * nothing is stored per token, a guest cannot forge one, and tokens from
 * before a snapshot load (another process) are refused. */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "mmds/mmds.h"

#define EXPIRY_LEN 8
#define TAG_LEN 16
#define RAW_LEN (EXPIRY_LEN + TAG_LEN) /* 24 bytes: 32 base64 characters */

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static uint64_t load64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void store64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void sipround(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = rotl(v[1], 13) ^ v[0];
	v[0] = rotl(v[0], 32);
	v[2] += v[3];
	v[3] = rotl(v[3], 16) ^ v[2];
	v[0] += v[3];
	v[3] = rotl(v[3], 21) ^ v[0];
	v[2] += v[1];
	v[1] = rotl(v[1], 17) ^ v[2];
	v[2] = rotl(v[2], 32);
}

static void compress(uint64_t v[4], uint64_t m)
{
	v[3] ^= m;
	sipround(v);
	sipround(v);
	v[0] ^= m;
}

static uint64_t finalize(uint64_t v[4], uint8_t marker)
{
	int i;

	v[2] ^= marker;
	for (i = 0; i < 4; i++)
		sipround(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

void mmds_siphash128(const uint8_t key[16], const uint8_t *in, size_t len,
		     uint8_t out[16])
{
	uint64_t k0 = load64(key), k1 = load64(key + 8);
	uint64_t v[4] = { k0 ^ 0x736f6d6570736575ULL,
			  k1 ^ 0x646f72616e646f6dULL ^
				  0xee, /* 128-bit output */
			  k0 ^ 0x6c7967656e657261ULL,
			  k1 ^ 0x7465646279746573ULL };
	uint8_t last[8] = { 0 };
	size_t i;

	for (i = 0; i + 8 <= len; i += 8)
		compress(v, load64(in + i));
	memcpy(last, in + i, len - i);
	last[7] = (uint8_t)len;
	compress(v, load64(last));
	store64(out, finalize(v, 0xee));
	v[1] ^= 0xdd;
	store64(out + 8, finalize(v, 0));
}

int mmds_tokens_init(struct mmds_tokens *t)
{
	if (getrandom(t->key, sizeof(t->key), 0) != (ssize_t)sizeof(t->key))
		return -errno;
	return 0;
}

static void tag_of(const struct mmds_tokens *t, const uint8_t *expiry,
		   uint8_t tag[TAG_LEN])
{
	mmds_siphash128(t->key, expiry, EXPIRY_LEN, tag);
}

/* 24 bytes to 32 characters: every 3 bytes make 4, no padding. */
static void encode(const uint8_t raw[RAW_LEN], char *out)
{
	size_t i;

	for (i = 0; i < RAW_LEN; i += 3) {
		uint32_t w = (uint32_t)raw[i] << 16 | raw[i + 1] << 8 |
			     raw[i + 2];

		*out++ = b64[w >> 18];
		*out++ = b64[(w >> 12) & 63];
		*out++ = b64[(w >> 6) & 63];
		*out++ = b64[w & 63];
	}
	*out = '\0';
}

static int decode_char(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;

	return p ? (int)(p - b64) : -1;
}

static bool decode(const char *in, uint8_t raw[RAW_LEN])
{
	size_t i, o = 0;

	for (i = 0; i < MMDS_TOKEN_LEN; i += 4) {
		uint32_t w = 0;
		int j;

		for (j = 0; j < 4; j++) {
			int d = decode_char(in[i + j]);

			if (d < 0)
				return false;
			w = w << 6 | (uint32_t)d;
		}
		raw[o++] = (uint8_t)(w >> 16);
		raw[o++] = (uint8_t)(w >> 8);
		raw[o++] = (uint8_t)w;
	}
	return true;
}

void mmds_token_new(const struct mmds_tokens *t, uint32_t ttl_s,
		    uint64_t now_ms, char out[MMDS_TOKEN_LEN + 1])
{
	uint8_t raw[RAW_LEN];

	store64(raw, now_ms + (uint64_t)ttl_s * 1000);
	tag_of(t, raw, raw + EXPIRY_LEN);
	encode(raw, out);
}

/* Compares without an early exit, so timing does not tell how much of a
 * guessed tag was right. */
static bool same_tag(const uint8_t *a, const uint8_t *b)
{
	uint8_t diff = 0;
	int i;

	for (i = 0; i < TAG_LEN; i++)
		diff |= a[i] ^ b[i];
	return !diff;
}

bool mmds_token_valid(const struct mmds_tokens *t, const char *token,
		      size_t len, uint64_t now_ms)
{
	uint8_t raw[RAW_LEN], tag[TAG_LEN];

	if (len != MMDS_TOKEN_LEN || !decode(token, raw))
		return false;
	tag_of(t, raw, tag);
	return same_tag(tag, raw + EXPIRY_LEN) && load64(raw) > now_ms;
}

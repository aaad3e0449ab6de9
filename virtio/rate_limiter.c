// SPDX-License-Identifier: Apache-2.0
/* Token buckets (Firecracker's rate_limiter): `size` tokens refill fully in
 * `refill_time` ms; `one_time_burst` extra tokens are spent first and never
 * come back. A request may overdraw a bucket that still holds tokens, so a
 * request larger than the bucket passes once it is full and the average
 * rate stays size / refill_time. A blocked device arms the limiter's
 * timerfd and retries when it fires. VMM thread. */
#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "virtio/virtio.h"

#define NS_PER_MS 1000000ULL

static void bucket_init(struct bucket *b, const struct token_bucket *cfg,
			uint64_t now_ns)
{
	memset(b, 0, sizeof(*b));
	if (!cfg->set)
		return;
	b->on = true;
	b->size = (int64_t)cfg->size;
	/* refill_time_ms <= RL_MAX_REFILL_TIME_MS (parse time): no overflow */
	b->refill_ns = cfg->refill_time_ms * NS_PER_MS;
	b->tokens = b->size;
	b->burst = (int64_t)cfg->one_time_burst;
	b->last_ns = now_ns;
}

static void bucket_refill(struct bucket *b, uint64_t now_ns)
{
	uint64_t elapsed = now_ns - b->last_ns;
	__int128 add;

	if (!b->on || now_ns <= b->last_ns)
		return;
	add = (__int128)elapsed * b->size / b->refill_ns;
	if (add == 0)
		return; /* keep last_ns: the fraction is not lost */
	b->tokens = b->tokens + add > b->size ? b->size :
						(int64_t)(b->tokens + add);
	b->last_ns = now_ns;
}

/* Nanoseconds until the bucket holds a token again (0: it does); a debt
 * longer than 2^64 ns waits UINT64_MAX, never a wrapped-around short time. */
static uint64_t bucket_wait_ns(const struct bucket *b)
{
	unsigned __int128 wait;

	if (!b->on || b->burst > 0 || b->tokens > 0)
		return 0;
	wait = (unsigned __int128)((__int128)1 - b->tokens) * b->refill_ns;
	wait = wait / (uint64_t)b->size + 1;
	return wait > UINT64_MAX ? UINT64_MAX : (uint64_t)wait;
}

static void bucket_take(struct bucket *b, uint64_t n)
{
	int64_t from_burst;

	if (!b->on)
		return;
	from_burst = b->burst < (int64_t)n ? b->burst : (int64_t)n;
	b->burst -= from_burst;
	b->tokens -= (int64_t)n - from_burst;
}

int rl_init(struct rate_limiter *rl, const struct rate_limiter_cfg *cfg)
{
	uint64_t now = rl_now_ns();

	memset(rl, 0, sizeof(*rl));
	rl->timer_fd = -1;
	bucket_init(&rl->bytes, &cfg->bandwidth, now);
	bucket_init(&rl->ops, &cfg->ops, now);
	if (!rl->bytes.on && !rl->ops.on)
		return 0;
	rl->timer_fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	return rl->timer_fd < 0 ? -errno : 0;
}

static bool limits(const struct token_bucket *b)
{
	return b->present && b->set;
}

int rl_check_update(const struct rate_limiter *rl,
		    const struct rate_limiter_cfg *cfg)
{
	return rl->timer_fd < 0 &&
			       (limits(&cfg->bandwidth) || limits(&cfg->ops)) ?
		       -ENOTSUP :
		       0;
}

void rl_update(struct rate_limiter *rl, const struct rate_limiter_cfg *cfg)
{
	uint64_t now = rl_now_ns();

	if (cfg->bandwidth.present)
		bucket_init(&rl->bytes, &cfg->bandwidth, now);
	if (cfg->ops.present)
		bucket_init(&rl->ops, &cfg->ops, now);
}

/* The timer fired: tokens are back, serve what waits. */
static void on_timer(void *opaque, uint32_t events)
{
	struct rate_limiter *rl = opaque;
	struct vdev *d = rl->dev;

	pthread_mutex_lock(&d->lock);
	rl_timer_fired(rl);
	if (vdev_live(d))
		rl->serve(d);
	pthread_mutex_unlock(&d->lock);
}

int rl_watch(struct rate_limiter *rl, struct event_loop *loop, struct vdev *d,
	     void (*serve)(struct vdev *d))
{
	int ret;

	if (rl->timer_fd < 0)
		return 0;
	rl->dev = d;
	rl->serve = serve;
	ret = evl_add(loop, rl->timer_fd, on_timer, rl);
	if (!ret)
		rl->loop = loop;
	return ret;
}

void rl_destroy(struct rate_limiter *rl)
{
	if (rl->loop)
		evl_remove(rl->loop, rl->timer_fd);
	rl->loop = NULL;
	if (rl->timer_fd >= 0)
		close(rl->timer_fd);
	rl->timer_fd = -1;
}

struct rl_state {
	int64_t bytes_tokens, bytes_burst, ops_tokens, ops_burst;
};
_Static_assert(sizeof(struct rl_state) == RL_STATE_SIZE, "RL_STATE_SIZE");

void rl_save(const struct rate_limiter *rl, uint8_t out[RL_STATE_SIZE])
{
	struct rl_state st = { rl->bytes.tokens, rl->bytes.burst,
			       rl->ops.tokens, rl->ops.burst };

	memcpy(out, &st, sizeof(st));
}

/* The most a bucket may owe: far below what overflows when it is charged
 * again (a request is less than 2^32 bytes). */
#define MAX_DEBT (-(INT64_C(1) << 62))

static void bucket_restore(struct bucket *b, int64_t tokens, int64_t burst,
			   uint64_t now_ns)
{
	if (!b->on)
		return;
	b->tokens = tokens > b->size  ? b->size :
		    tokens < MAX_DEBT ? MAX_DEBT :
					tokens;
	b->burst = burst < 0 ? 0 : burst < b->burst ? burst : b->burst;
	b->last_ns = now_ns;
}

void rl_restore(struct rate_limiter *rl, const uint8_t in[RL_STATE_SIZE])
{
	uint64_t now = rl_now_ns();
	struct rl_state st;

	memcpy(&st, in, sizeof(st));
	bucket_restore(&rl->bytes, st.bytes_tokens, st.bytes_burst, now);
	bucket_restore(&rl->ops, st.ops_tokens, st.ops_burst, now);
}

uint64_t rl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t rl_blocked_ns(struct rate_limiter *rl, uint64_t now_ns)
{
	uint64_t a, b;

	bucket_refill(&rl->bytes, now_ns);
	bucket_refill(&rl->ops, now_ns);
	a = bucket_wait_ns(&rl->bytes);
	b = bucket_wait_ns(&rl->ops);
	return a > b ? a : b;
}

void rl_consume(struct rate_limiter *rl, uint64_t bytes)
{
	bucket_take(&rl->bytes, bytes);
	bucket_take(&rl->ops, 1);
}

bool rl_admit(struct rate_limiter *rl)
{
	uint64_t wait;
	struct itimerspec t = { { 0, 0 }, { 0, 0 } };

	if (!rl->bytes.on && !rl->ops.on)
		return true;
	wait = rl_blocked_ns(rl, rl_now_ns());
	if (!wait)
		return true;
	t.it_value.tv_sec = (time_t)(wait / 1000000000ULL);
	t.it_value.tv_nsec = (long)(wait % 1000000000ULL);
	if (!rl->armed && timerfd_settime(rl->timer_fd, 0, &t, NULL) == 0)
		rl->armed = true;
	return false;
}

void rl_timer_fired(struct rate_limiter *rl)
{
	uint64_t n;

	if (read(rl->timer_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	rl->armed = false;
}

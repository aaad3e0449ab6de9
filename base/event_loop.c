// SPDX-License-Identifier: Apache-2.0
/* The VMM thread's epoll loop: a fixed table of fd sources, level
 * triggered; each callback runs on the VMM thread. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/base.h"

int evl_init(struct event_loop *loop)
{
	unsigned i;

	memset(loop, 0, sizeof(*loop));
	for (i = 0; i < EVL_MAX_SOURCES; i++)
		loop->sources[i].fd = -1;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	return loop->epfd < 0 ? -errno : 0;
}

void evl_destroy(struct event_loop *loop)
{
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->epfd = -1;
}

int evl_add(struct event_loop *loop, int fd, evl_fn fn, void *opaque)
{
	struct epoll_event ev = { .events = EPOLLIN };
	unsigned i;

	for (i = 0; i < EVL_MAX_SOURCES && loop->sources[i].fd >= 0; i++)
		;
	if (i == EVL_MAX_SOURCES)
		return -ENOSPC;
	ev.data.u32 = i;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	loop->sources[i] = (struct evl_source){ fd, fn, opaque };
	return 0;
}

void evl_remove(struct event_loop *loop, int fd)
{
	unsigned i;

	for (i = 0; i < EVL_MAX_SOURCES; i++) {
		if (loop->sources[i].fd != fd)
			continue;
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
		loop->sources[i].fd = -1;
	}
}

void evl_stop(struct event_loop *loop)
{
	loop->stop = true;
}

int evl_run(struct event_loop *loop)
{
	struct epoll_event events[EVL_MAX_SOURCES];

	while (!loop->stop) {
		int i, n = epoll_wait(loop->epfd, events, EVL_MAX_SOURCES, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		for (i = 0; i < n && !loop->stop; i++) {
			struct evl_source *s =
				&loop->sources[events[i].data.u32];

			if (s->fd >= 0)
				s->fn(s->opaque, events[i].events);
		}
	}
	return 0;
}

int evl_watch(struct event_loop *loop, int fd, bool on)
{
	unsigned i;

	for (i = 0; i < EVL_MAX_SOURCES; i++) {
		struct epoll_event ev = { .events = on ? EPOLLIN : 0,
					  .data.u32 = i };

		if (loop->sources[i].fd == fd)
			return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) <
					       0 ?
				       -errno :
				       0;
	}
	return -ENOENT;
}

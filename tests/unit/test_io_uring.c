// SPDX-License-Identifier: Apache-2.0
/* The block engine's io_uring takes readv, writev and fsync only: an
 * opcode seccomp cannot see, such as openat, is refused (finding 10). */
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tests/unit/unit.h"
#include "virtio/virtio.h"

static struct io_uring ring;
static int efd = -1;

static int setup(void **state)
{
	efd = eventfd(0, EFD_CLOEXEC);
	return efd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	close(efd);
	return 0;
}

/* Submits the one prepared SQE and returns its completion's result. */
static int submit_one(void)
{
	struct io_uring_cqe *cqe;
	int res;

	assert_int_equal(io_uring_submit(&ring), 1);
	assert_int_equal(io_uring_wait_cqe(&ring, &cqe), 0);
	res = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	return res;
}

static void test_only_the_engines_opcodes(void **state)
{
	char buf[16];
	struct iovec iov = { buf, sizeof(buf) };
	int ret = vblk_ring_init(&ring, efd);
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);

	if (ret == -ENOSYS || ret == -EPERM)
		skip(); /* io_uring off in this kernel (io_uring_disabled) */
	assert_int_equal(ret, 0);
	assert_true(fd >= 0);

	io_uring_prep_readv(io_uring_get_sqe(&ring), fd, &iov, 1, 0);
	assert_int_equal(submit_one(), (int)sizeof(buf));
	io_uring_prep_openat(io_uring_get_sqe(&ring), AT_FDCWD, "/etc/passwd",
			     O_RDONLY, 0);
	assert_int_equal(submit_one(), -EACCES);
	io_uring_prep_unlinkat(io_uring_get_sqe(&ring), AT_FDCWD,
			       "/nonexistent", 0);
	assert_int_equal(submit_one(), -EACCES);
	/* nor can more files or buffers be registered afterwards */
	assert_int_equal(io_uring_register_files(&ring, &fd, 1), -EACCES);
	io_uring_queue_exit(&ring);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_only_the_engines_opcodes,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: Apache-2.0
/* The console's output bound (finding 9): past --serial-out-limit the
 * guest's bytes are dropped, not written, and counted in the metrics. */
#include <fcntl.h>
#include <unistd.h>

#include "tests/unit/unit.h"

static void no_irq(void *opaque, unsigned level)
{
}

static void test_output_stops_at_the_limit(void **state)
{
	char out[64], metrics[8192], path[] = "/tmp/serial-metrics-XXXXXX";
	int fds[2], mfd = mkstemp(path);
	ssize_t n;
	struct serial *s;
	unsigned i;

	assert_true(mfd >= 0);
	assert_int_equal(metrics_open(path), 0);
	assert_int_equal(pipe2(fds, O_NONBLOCK), 0);
	serial_set_out_limit(10);
	s = serial_create(fds[1], no_irq, NULL);
	assert_non_null(s);
	for (i = 0; i < 30; i++) {
		uint8_t c = (uint8_t)('a' + i % 26);

		serial_access(s, 0, &c, 1, true); /* THR */
	}
	assert_int_equal(read(fds[0], out, sizeof(out)), 10);
	assert_memory_equal(out, "abcdefghij", 10);
	assert_int_equal(metrics_flush(), 0);
	n = read(mfd, metrics, sizeof(metrics) - 1);
	assert_true(n > 0);
	metrics[n] = '\0';
	assert_non_null(strstr(metrics, "\"over_limit_count\":20"));
	unlink(path);
	close(mfd);
	serial_destroy(s);
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_output_stops_at_the_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

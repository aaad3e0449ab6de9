// SPDX-License-Identifier: Apache-2.0
/* The console's output bound (finding 9): past --serial-out-limit the
 * guest's bytes are dropped, not written. */
#include <fcntl.h>
#include <unistd.h>

#include "tests/unit/unit.h"

static void no_irq(void *opaque, unsigned level)
{
	(void)opaque;
	(void)level;
}

static void test_output_stops_at_the_limit(void **state)
{
	char out[64];
	int fds[2];
	struct serial *s;
	unsigned i;

	(void)state;
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

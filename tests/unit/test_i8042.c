// SPDX-License-Identifier: Apache-2.0
/* The i8042 answers what Linux's i8042 and atkbd drivers wait for (so
 * they never poll port 0x64 to a timeout), finds no AUX port, resets the
 * VM on 0xFE and queues Ctrl+Alt+Del with IRQ 1. */
#include "tests/unit/unit.h"

#define DATA 0
#define CMD 4
#define OBF 0x01

static unsigned resets, irqs;

static void on_reset(void *opaque)
{
	resets++;
}

static void on_irq(void *opaque, unsigned irq)
{
	assert_int_equal(irq, I8042_KBD_IRQ);
	irqs++;
}

static void setup(struct i8042 *k)
{
	resets = irqs = 0;
	i8042_init(k, on_reset, on_irq, NULL);
}

static void out8(struct i8042 *k, uint64_t off, uint8_t v)
{
	i8042_access(k, off, &v, 1, true);
}

static uint8_t in8(struct i8042 *k, uint64_t off)
{
	uint8_t v = 0x5a;

	i8042_access(k, off, &v, 1, false);
	return v;
}

/* Reads one byte the guest was waiting for: the status says it is there. */
static uint8_t read_reply(struct i8042 *k)
{
	assert_true(in8(k, CMD) & OBF);
	return in8(k, DATA);
}

static void assert_empty(struct i8042 *k)
{
	assert_false(in8(k, CMD) & OBF);
}

static void test_controller_commands(void **state)
{
	struct i8042 k;

	setup(&k);
	assert_empty(&k);
	assert_int_equal(in8(&k, CMD) & 0x10, 0x10); /* no key lock */
	out8(&k, CMD, 0xaa);
	assert_int_equal(read_reply(&k), 0x55);
	out8(&k, CMD, 0xab);
	assert_int_equal(read_reply(&k), 0x00);
	out8(&k, CMD, 0x60);
	out8(&k, DATA, 0x47);
	assert_empty(&k); /* the control register's byte is no key command */
	out8(&k, CMD, 0x20);
	assert_int_equal(read_reply(&k), 0x47);
	assert_empty(&k);
	assert_int_equal(irqs, 0);
}

/* 0xD1 (Linux writes 0xDF there at boot to enable A20) takes a byte that
 * must not reach the keyboard; 0xD0 reads it back. */
static void test_output_port(void **state)
{
	struct i8042 k;

	setup(&k);
	out8(&k, CMD, 0xd1);
	out8(&k, DATA, 0xdf);
	assert_empty(&k);
	out8(&k, CMD, 0xd0);
	assert_int_equal(read_reply(&k), 0xdf);
	out8(&k, CMD, 0xff); /* null command */
	assert_empty(&k);
	assert_int_equal(resets, 0);
}

/* Linux's AUX probe: loopback 0xD3 comes back as keyboard data (no
 * AUXDATA bit), the interface test reports an error, at once. */
static void test_aux_absent(void **state)
{
	struct i8042 k;

	setup(&k);
	out8(&k, CMD, 0xd3);
	out8(&k, DATA, 0x5a);
	assert_int_equal(in8(&k, CMD) & (0x20 | OBF), OBF);
	out8(&k, CMD, 0xa9); /* replaces the unread loopback byte */
	assert_int_equal(read_reply(&k), 0x02);
	assert_empty(&k);
	out8(&k, CMD, 0xd4);
	out8(&k, DATA, 0xf2); /* to the absent mouse: no answer */
	assert_empty(&k);
	assert_int_equal(irqs, 0);
}

/* atkbd's probe: GETID, then LEDs and typematic rate with a parameter,
 * each byte ACKed with IRQ 1. */
static void test_keyboard_commands(void **state)
{
	struct i8042 k;

	setup(&k);
	out8(&k, DATA, 0xf2);
	assert_int_equal(read_reply(&k), 0xfa);
	assert_int_equal(read_reply(&k), 0xab);
	assert_int_equal(read_reply(&k), 0x83);
	assert_empty(&k);
	assert_int_equal(irqs, 3); /* one per byte */
	out8(&k, DATA, 0xed);
	assert_int_equal(read_reply(&k), 0xfa);
	out8(&k, DATA, 0x07);
	assert_int_equal(read_reply(&k), 0xfa);
	out8(&k, DATA, 0xf0);
	assert_int_equal(read_reply(&k), 0xfa);
	out8(&k, DATA, 0x00);
	assert_int_equal(read_reply(&k), 0xfa);
	assert_int_equal(read_reply(&k), 0x02);
	out8(&k, DATA, 0xff);
	assert_int_equal(read_reply(&k), 0xfa);
	assert_int_equal(read_reply(&k), 0xaa);
	out8(&k, DATA, 0xee);
	assert_int_equal(read_reply(&k), 0xee);
	out8(&k, DATA, 0xf4);
	assert_int_equal(read_reply(&k), 0xfa);
	out8(&k, DATA, 0x12); /* no such command */
	assert_int_equal(read_reply(&k), 0xfe);
	assert_empty(&k);
}

/* With IRQ 1 off in the control register, replies wait without IRQ. */
static void test_no_irq_when_disabled(void **state)
{
	struct i8042 k;

	setup(&k);
	out8(&k, CMD, 0x60);
	out8(&k, DATA, 0x00);
	out8(&k, DATA, 0xf4);
	assert_int_equal(read_reply(&k), 0xfa);
	assert_int_equal(irqs, 0);
}

static void test_reset_and_ctrl_alt_del(void **state)
{
	static const uint8_t keys[] = { 0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0,
					0x71, 0xf0, 0x11, 0xf0, 0x14 };
	struct i8042 k;
	unsigned i;

	setup(&k);
	i8042_send_ctrl_alt_del(&k);
	assert_int_equal(irqs, 1);
	for (i = 0; i < sizeof(keys); i++)
		assert_int_equal(read_reply(&k), keys[i]);
	assert_empty(&k);
	assert_int_equal(in8(&k, DATA), 0); /* empty buffer reads 0 */
	out8(&k, CMD, 0xfe);
	assert_int_equal(resets, 1);
}

/* Hostile guest: every byte to both ports, wide accesses, other offsets;
 * the buffer never overflows and wide reads are all-ones. */
static void test_any_input(void **state)
{
	struct i8042 k;
	uint8_t wide[4];
	unsigned i;

	setup(&k);
	for (i = 0; i < 4096; i++) {
		out8(&k, (i * 7) % 3 ? DATA : CMD,
		     (uint8_t)(i * 31) == 0xfe ? 0 : (uint8_t)(i * 31));
		assert_true(k.out_count <= sizeof(k.out));
	}
	for (i = 0; i < 64; i++)
		i8042_send_ctrl_alt_del(&k);
	assert_int_equal(k.out_count, sizeof(k.out));
	memset(wide, 0, sizeof(wide));
	i8042_access(&k, DATA, wide, 4, false);
	assert_memory_equal(wide, "\xff\xff\xff\xff", 4);
	i8042_access(&k, 2, wide, 1, true);
	assert_int_equal(resets, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_controller_commands),
		cmocka_unit_test(test_output_port),
		cmocka_unit_test(test_aux_absent),
		cmocka_unit_test(test_keyboard_commands),
		cmocka_unit_test(test_no_irq_when_disabled),
		cmocka_unit_test(test_reset_and_ctrl_alt_del),
		cmocka_unit_test(test_any_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

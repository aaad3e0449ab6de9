// SPDX-License-Identifier: Apache-2.0
/* Just enough of the i8042 keyboard controller: command 0xFE on port 0x64
 * (pulse the reset line) stops the VM cleanly, which is how a guest booted
 * with reboot=k reboots; the controller command byte, self test and an
 * output buffer on port 0x60 carry SendCtrlAltDel's scancodes (IRQ 1).
 * vCPU threads (port I/O) and the VMM thread (SendCtrlAltDel). */
#include "vmm/vmm.h"

#define I8042_DATA 0
#define I8042_CMD 4
#define CMD_READ_CTR 0x20
#define CMD_WRITE_CTR 0x60
#define CMD_SELF_TEST 0xaa
#define CMD_KBD_TEST 0xab
#define CMD_RESET_CPU 0xfe
#define STATUS_OUT_FULL 0x01
#define STATUS_SYSFLAG 0x04
#define CTR_KBD_INT 0x01
#define SELF_TEST_OK 0x55

void i8042_init(struct i8042 *k, void (*reset_fn)(void *),
		void (*irq_fn)(void *, unsigned), void *opaque)
{
	pthread_mutex_init(&k->lock, NULL);
	k->cmd_byte = CTR_KBD_INT;
	k->pending_cmd = 0;
	k->out_head = k->out_count = 0;
	k->reset_fn = reset_fn;
	k->irq_fn = irq_fn;
	k->opaque = opaque;
}

/* Queues a byte for port 0x60; interrupts when the keyboard IRQ is on. */
static void push_out(struct i8042 *k, uint8_t byte, bool irq)
{
	if (k->out_count == sizeof(k->out))
		return;
	k->out[(k->out_head + k->out_count++) % sizeof(k->out)] = byte;
	if (irq && (k->cmd_byte & CTR_KBD_INT))
		k->irq_fn(k->opaque, I8042_KBD_IRQ);
}

static uint8_t pop_out(struct i8042 *k)
{
	uint8_t byte;

	if (!k->out_count)
		return 0;
	byte = k->out[k->out_head];
	k->out_head = (k->out_head + 1) % sizeof(k->out);
	if (--k->out_count && (k->cmd_byte & CTR_KBD_INT))
		k->irq_fn(k->opaque, I8042_KBD_IRQ);
	return byte;
}

static void i8042_command(struct i8042 *k, uint8_t cmd)
{
	k->pending_cmd = 0;
	switch (cmd) {
	case CMD_RESET_CPU:
		metrics_inc(M_I8042_RESETS);
		k->reset_fn(k->opaque);
		break;
	case CMD_READ_CTR:
		push_out(k, k->cmd_byte, false);
		break;
	case CMD_SELF_TEST:
		push_out(k, SELF_TEST_OK, false);
		break;
	case CMD_KBD_TEST:
		push_out(k, 0, false);
		break;
	case CMD_WRITE_CTR:
		k->pending_cmd = cmd;
		break;
	default:
		break;
	}
}

static void i8042_write(struct i8042 *k, uint64_t off, uint8_t v)
{
	if (off == I8042_CMD) {
		i8042_command(k, v);
		return;
	}
	if (k->pending_cmd == CMD_WRITE_CTR)
		k->cmd_byte = v;
	k->pending_cmd = 0;
}

void i8042_access(void *dev, uint64_t off, uint8_t *data, uint32_t len,
		  bool is_write)
{
	struct i8042 *k = dev;

	if (len != 1 || (off != I8042_DATA && off != I8042_CMD)) {
		if (!is_write)
			*data = 0xff;
		return;
	}
	pthread_mutex_lock(&k->lock);
	if (is_write)
		i8042_write(k, off, *data);
	else if (off == I8042_CMD)
		*data = STATUS_SYSFLAG | (k->out_count ? STATUS_OUT_FULL : 0);
	else
		*data = pop_out(k);
	pthread_mutex_unlock(&k->lock);
}

void i8042_send_ctrl_alt_del(struct i8042 *k)
{
	/* Set-2 scancodes: Ctrl, Alt, Del (E0 71) pressed, then released. */
	static const uint8_t keys[] = { 0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0,
					0x71, 0xf0, 0x11, 0xf0, 0x14 };
	unsigned i;

	pthread_mutex_lock(&k->lock);
	for (i = 0; i < sizeof(keys); i++)
		push_out(k, keys[i], i == 0);
	pthread_mutex_unlock(&k->lock);
}

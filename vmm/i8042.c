// SPDX-License-Identifier: Apache-2.0
/* Just enough of the i8042 keyboard controller for a guest to reboot:
 * command 0xFE on port 0x64 (pulse reset line) stops the VM cleanly.
 * Ports 0x60 (data) and 0x64 (status/command); vCPU threads. */
#include "vmm/vmm.h"

#define I8042_DATA 0
#define I8042_CMD 4
#define CMD_READ_CTR 0x20
#define CMD_WRITE_CTR 0x60
#define CMD_RESET_CPU 0xfe
#define STATUS_OUT_FULL 0x01

void i8042_init(struct i8042 *k, void (*reset_fn)(void *), void *opaque)
{
	pthread_mutex_init(&k->lock, NULL);
	k->cmd_byte = 0;
	k->pending_cmd = 0;
	k->reset_fn = reset_fn;
	k->opaque = opaque;
}

static uint8_t i8042_read(struct i8042 *k, uint64_t off)
{
	if (off == I8042_CMD)
		return k->pending_cmd == CMD_READ_CTR ? STATUS_OUT_FULL : 0;
	if (k->pending_cmd == CMD_READ_CTR) {
		k->pending_cmd = 0;
		return k->cmd_byte;
	}
	return 0;
}

static void i8042_write(struct i8042 *k, uint64_t off, uint8_t v)
{
	if (off == I8042_CMD) {
		if (v == CMD_RESET_CPU)
			k->reset_fn(k->opaque);
		k->pending_cmd = v;
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
	else
		*data = i8042_read(k, off);
	pthread_mutex_unlock(&k->lock);
}

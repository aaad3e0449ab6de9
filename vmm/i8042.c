// SPDX-License-Identifier: Apache-2.0
/* The i8042 keyboard controller (ports 0x60 data, 0x64 status/command),
 * answering every command Linux's i8042 and atkbd drivers wait for, so
 * they never poll the status port until a timeout:
 * - controller commands that return a byte get it (control register,
 *   self test 0x55, keyboard interface test 0x00, output port); those that
 *   take one (control register, output port, 0xD2-0xD4) consume it;
 *   0xFE pulses the reset line: reset_fn stops the VM (reboot=k);
 * - the AUX (mouse) port is absent: its loopback (0xD3) comes back as
 *   keyboard data and its interface test (0xA9) reports a stuck clock
 *   line, from which Linux concludes at once that there is no AUX port;
 * - a byte written to port 0x60 goes to the keyboard, which answers like
 *   an MF2 keyboard in scan code set 2: ACK 0xFA (with its reply, if any:
 *   GETID 0xAB 0x83, reset 0xAA, echo 0xEE, the scan code set) and 0xFE
 *   (resend) for a command it does not know, with IRQ 1;
 * - i8042_send_ctrl_alt_del() queues set-2 scan codes with IRQ 1.
 * Every guest byte is accepted; unknown commands are ignored. No scan
 * code translation. The registers are not saved in snapshots.
 * vCPU threads (port I/O) and the VMM thread (SendCtrlAltDel). */
#include <string.h>

#include "vmm/vmm.h"

#define I8042_DATA 0
#define I8042_CMD 4

#define CMD_READ_CTR 0x20
#define CMD_WRITE_CTR 0x60
#define CMD_AUX_TEST 0xa9
#define CMD_SELF_TEST 0xaa
#define CMD_KBD_TEST 0xab
#define CMD_KBD_DISABLE 0xad
#define CMD_KBD_ENABLE 0xae
#define CMD_READ_OUTP 0xd0
#define CMD_WRITE_OUTP 0xd1
#define CMD_WRITE_KBD_OUT 0xd2
#define CMD_WRITE_AUX_OUT 0xd3
#define CMD_WRITE_AUX 0xd4
#define CMD_RESET_CPU 0xfe

#define STATUS_OUT_FULL 0x01
#define STATUS_SYSFLAG 0x04
#define STATUS_UNLOCKED 0x10 /* keyboard not inhibited by the key lock */
#define CTR_KBD_INT 0x01
#define CTR_SYSFLAG 0x04
#define CTR_KBD_DISABLED 0x10

#define SELF_TEST_OK 0x55
#define AUX_CLOCK_STUCK_HIGH 0x02
#define OUTP_DEFAULT 0x01 /* reset line not asserted */

#define KBD_ACK 0xfa
#define KBD_RESEND 0xfe
#define KBD_BAT_OK 0xaa
#define KBD_SET_LEDS 0xed
#define KBD_ECHO 0xee
#define KBD_SCAN_SET 0xf0
#define KBD_GET_ID 0xf2
#define KBD_SET_REPEAT 0xf3
#define KBD_RESET 0xff

void i8042_init(struct i8042 *k, void (*reset_fn)(void *),
		void (*irq_fn)(void *, unsigned), void *opaque)
{
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->lock, NULL);
	k->ctr = CTR_KBD_INT | CTR_SYSFLAG;
	k->outp = OUTP_DEFAULT;
	k->reset_fn = reset_fn;
	k->irq_fn = irq_fn;
	k->opaque = opaque;
}

/* Queues a byte for port 0x60; interrupts when asked and IRQ 1 is on. */
static void push_out(struct i8042 *k, uint8_t byte, bool irq)
{
	if (k->out_count == sizeof(k->out))
		return;
	k->out[(k->out_head + k->out_count++) % sizeof(k->out)] = byte;
	if (irq && (k->ctr & CTR_KBD_INT))
		k->irq_fn(k->opaque, I8042_KBD_IRQ);
}

static uint8_t pop_out(struct i8042 *k)
{
	uint8_t byte;

	if (!k->out_count)
		return 0;
	byte = k->out[k->out_head];
	k->out_head = (k->out_head + 1) % sizeof(k->out);
	if (--k->out_count && (k->ctr & CTR_KBD_INT))
		k->irq_fn(k->opaque, I8042_KBD_IRQ);
	return byte;
}

/* A reply replaces whatever the guest has not read yet. */
static void reply(struct i8042 *k, uint8_t byte, bool irq)
{
	k->out_count = 0;
	push_out(k, byte, irq);
}

/* Commands written to port 0x64 that wait for a byte on port 0x60. */
static bool takes_param(uint8_t cmd)
{
	return cmd == CMD_WRITE_CTR || cmd == CMD_WRITE_OUTP ||
	       cmd == CMD_WRITE_KBD_OUT || cmd == CMD_WRITE_AUX_OUT ||
	       cmd == CMD_WRITE_AUX;
}

static void controller_command(struct i8042 *k, uint8_t cmd)
{
	k->pending_cmd = takes_param(cmd) ? cmd : 0;
	switch (cmd) {
	case CMD_RESET_CPU:
		metrics_inc(M_I8042_RESETS);
		k->reset_fn(k->opaque);
		break;
	case CMD_READ_CTR:
		reply(k, k->ctr, false);
		break;
	case CMD_AUX_TEST:
		reply(k, AUX_CLOCK_STUCK_HIGH, false);
		break;
	case CMD_SELF_TEST:
		reply(k, SELF_TEST_OK, false);
		break;
	case CMD_KBD_TEST:
		reply(k, 0, false);
		break;
	case CMD_KBD_DISABLE:
		k->ctr |= CTR_KBD_DISABLED;
		break;
	case CMD_KBD_ENABLE:
		k->ctr &= ~CTR_KBD_DISABLED;
		break;
	case CMD_READ_OUTP:
		reply(k, k->outp, false);
		break;
	default:
		break;
	}
}

/* The byte on port 0x60 that a controller command waited for. */
static void controller_param(struct i8042 *k, uint8_t cmd, uint8_t v)
{
	switch (cmd) {
	case CMD_WRITE_CTR:
		k->ctr = v;
		break;
	case CMD_WRITE_OUTP:
		k->outp = v;
		break;
	case CMD_WRITE_KBD_OUT:
		reply(k, v, true);
		break;
	case CMD_WRITE_AUX_OUT: /* no AUX channel: keyboard data, no IRQ */
		reply(k, v, false);
		break;
	default: /* CMD_WRITE_AUX: nothing is attached there */
		break;
	}
}

/* The keyboard's answer to a command byte; its parameter, if it takes
 * one, comes next (kbd_pending). */
static void keyboard_command(struct i8042 *k, uint8_t cmd)
{
	switch (cmd) {
	case KBD_ECHO:
		reply(k, KBD_ECHO, true);
		return;
	case KBD_SET_LEDS:
	case KBD_SCAN_SET:
	case KBD_SET_REPEAT:
		k->kbd_pending = cmd;
		reply(k, KBD_ACK, true);
		return;
	case KBD_GET_ID:
		reply(k, KBD_ACK, true);
		push_out(k, 0xab, false); /* MF2 keyboard */
		push_out(k, 0x83, false);
		return;
	case KBD_RESET:
		reply(k, KBD_ACK, true);
		push_out(k, KBD_BAT_OK, false);
		return;
	default:
		/* 0xf4-0xfe: enable, disable, defaults, key types, resend */
		reply(k, cmd >= 0xf4 ? KBD_ACK : KBD_RESEND, true);
		return;
	}
}

static void keyboard_write(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->kbd_pending;

	k->kbd_pending = 0;
	if (!cmd) {
		keyboard_command(k, v);
		return;
	}
	reply(k, KBD_ACK, true);
	if (cmd == KBD_SCAN_SET && v == 0) /* which set: always 2 */
		push_out(k, 2, false);
}

static void i8042_write(struct i8042 *k, uint64_t off, uint8_t v)
{
	uint8_t cmd = k->pending_cmd;

	if (off == I8042_CMD) {
		controller_command(k, v);
		return;
	}
	k->pending_cmd = 0;
	if (cmd)
		controller_param(k, cmd, v);
	else
		keyboard_write(k, v);
}

void i8042_access(void *dev, uint64_t off, uint8_t *data, uint32_t len,
		  bool is_write)
{
	struct i8042 *k = dev;

	if (len != 1 || (off != I8042_DATA && off != I8042_CMD)) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&k->lock);
	if (is_write)
		i8042_write(k, off, *data);
	else if (off == I8042_CMD)
		*data = STATUS_SYSFLAG | STATUS_UNLOCKED |
			(k->out_count ? STATUS_OUT_FULL : 0);
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

/* SPDX-License-Identifier: Apache-2.0 */
/* The device fuzzers' input: a script of guest actions and host events on
 * one device of the harness's guest (tests/harness/guest.h). The first
 * byte chooses the device's config (unless the device is kept); then each action is an opcode byte and
 * its operands (little-endian; missing bytes read as 0):
 *   0 WRITE  off:u16 val:u32         register or config write (off % 0x200)
 *   1 READ   off:u16                 register or config read
 *   2 INIT   ready:u8 features:u32   a driver's probe, queues in `ready`
 *                                     at the standard layout
 *   3 QUEUE  q:u8 num:u16 desc:u32 avail:u32 used:u32 ready:u8
 *                                     queue registers, any addresses
 *   4 DESC   q:u8 i:u8 addr:u32 len:u32 flags:u16 next:u16
 *                                     descriptor i of standard queue q
 *   5 AVAIL  q:u8 head:u16           head appended to q's avail ring
 *   6 KICK   q:u8                    notify, then the VMM loop serves it
 *   7 MEM    gpa:u32 n:u8 bytes[n]   bytes into guest memory
 *   8 HOST   kind:u8 arg:u16         the device's host-side event
 *   9 SERVE                          one VMM loop step, not waiting
 *                                     (io_uring completions, sockets, taps)
 *  10 SNAP   at:u8 flip:u8           snapshot save, reset and load (a
 *                                     crafted state when flip != 0)
 *  11 CHAIN  q:u8 n:u8, n x (len:u16 write:u8 [bytes[len] if !write])
 *                                     a chain of n <= 3 buffers on q
 * Every input ends with a device reset and the device destroyed (or kept,
 * reset, for the next input). */
#ifndef MICROVM_FUZZ_GUEST_SCRIPT_H
#define MICROVM_FUZZ_GUEST_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCRIPT_MEM (512 << 10) /* the guest's RAM: GUEST_MIN_MEM */

struct script_dev {
	unsigned nr_queues;
	/* Creates the device in slot 0 from the config byte. 0 or -errno. */
	int (*create)(uint8_t cfg);
	/* A host-side event (optional). */
	void (*host)(uint8_t kind, uint16_t arg);
	/* After the reset, before the device is destroyed (optional). */
	void (*end)(void);
	/* The device is created once, by the first input (without a config
	 * byte), and only reset after each input: for devices whose creation
	 * costs more than an input's run (a tap, big buffers under ASan). */
	bool keep;
};

/* Runs one input against a fresh device. */
void script_run(const struct script_dev *dev, const uint8_t *data, size_t size);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* The device fuzzers' input: a script of guest actions and host events on
 * one device of the harness's guest (tests/harness/guest.h). The first
 * byte chooses the device's config (unless script_dev.cfg_mask is 0); then
 * each action is an opcode byte and its operands (little-endian; missing
 * bytes read as 0):
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
 * Every input ends with a device reset; then the device is destroyed, or
 * kept for a later input in the state it was created in (script_dev.life
 * and guest_script.c say how that is made sure). */
#ifndef MICROVM_FUZZ_GUEST_SCRIPT_H
#define MICROVM_FUZZ_GUEST_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCRIPT_MEM (512 << 10) /* the guest's RAM: GUEST_MIN_MEM */

/* How a device lives from one input to the next. Creating one costs more
 * than most inputs' runs (files, eventfds, an io_uring, big buffers under
 * ASan), so devices are kept where that is safe. */
enum script_life {
	/* created by each input, destroyed after it */
	FRESH,
	/* one device per value of (config byte & cfg_mask), each in its
	 * own MMIO slot, taken back after each input to the state it was
	 * created in; all destroyed instead when that cannot be made sure.
	 * An input drives one of them: a new device in a VM whose other
	 * devices are reset and idle. */
	KEPT,
};

struct script_dev {
	unsigned nr_queues;
	/* Creates the device in the next slot from the config byte. 0 or
	 * -errno. */
	int (*create)(uint8_t cfg);
	/* A host-side event (optional). */
	void (*host)(uint8_t kind, uint16_t arg);
	/* After the reset, before the device is destroyed or kept: puts
	 * back as create(cfg) made them what the input changed outside the
	 * device's snapshot state: host-side files and sockets, what host
	 * events PATCHed (optional). */
	void (*end)(uint8_t cfg);
	enum script_life life;
	/* the config bits create() reads; 0: inputs have no config byte */
	uint8_t cfg_mask;
};

/* Runs one input against a device in its fresh state. */
void script_run(const struct script_dev *dev, const uint8_t *data, size_t size);

#endif

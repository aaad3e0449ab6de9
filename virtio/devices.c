// SPDX-License-Identifier: Apache-2.0
/* The device kinds a VM is built with, in the order their devices take the
 * MMIO slots (a snapshot restores into the same slots). A new kind is its
 * own file and one line here. */
#include <stddef.h>

#include "virtio/virtio.h"

const struct vdev_kind *const vdev_kinds[] = {
	&vblk_kind,	&vnet_kind, &vrng_kind, &vvsock_kind,
	&vballoon_kind, &vmem_kind, NULL,
};

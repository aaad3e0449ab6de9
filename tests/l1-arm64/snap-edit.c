// SPDX-License-Identifier: Apache-2.0
/* A hostile arm64 state file for tests/l1-arm64/test-boot.sh: reads a good
 * one (snapshot/format.c), gives vCPU 0's last register an id that is a
 * well-formed arm64 system register no KVM has (op0 3, op1 7, c15, c15,
 * op2 7: IMPLEMENTATION DEFINED space), and writes the result, with its
 * CRC, to OUT. A load of OUT must be refused before anything is set.
 *   snap-edit IN OUT
 * Exit 0 when OUT is written, 1 otherwise. */
#include <stdio.h>

#include "snapshot/snapshot.h"

#define NO_SUCH_REG ARM64_SYS_REG(3, 7, 15, 15, 7)

int main(int argc, char **argv)
{
	struct snap_state s;
	char err[256];
	int ret;

	if (argc != 3) {
		fprintf(stderr, "usage: snap-edit IN OUT\n");
		return 1;
	}
	if (snap_read_file(argv[1], &s, err, sizeof(err))) {
		fprintf(stderr, "snap-edit: %s\n", err);
		return 1;
	}
	s.vcpus[0].regs[s.vcpus[0].nregs - 1].id = NO_SUCH_REG;
	ret = snap_write_file(argv[2], &s);
	snap_state_free(&s);
	if (ret)
		fprintf(stderr, "snap-edit: cannot write %s\n", argv[2]);
	else
		printf("snap-edit: vCPU 0 has register 0x%llx\n",
		       (unsigned long long)NO_SUCH_REG);
	return ret ? 1 : 0;
}

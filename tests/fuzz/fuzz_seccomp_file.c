// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: --seccomp-filter files (base/seccomp_file.c). Any
 * input is parsed; an accepted one has each thread kind's program within
 * BPF_MAXINSNS and every instruction inside the input. */
#include <linux/filter.h>
#include <stdlib.h>

#include "base/base.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sock_fprog progs[SECCOMP_FILE_KINDS];
	size_t insns = 0;
	int k;

	if (seccomp_file_parse(data, size, progs))
		return 0;
	for (k = 0; k < SECCOMP_FILE_KINDS; k++) {
		if (progs[k].len > BPF_MAXINSNS || !progs[k].filter)
			abort();
		insns += progs[k].len;
	}
	if (insns * sizeof(struct sock_filter) > size)
		abort();
	seccomp_file_free(progs);
	return 0;
}

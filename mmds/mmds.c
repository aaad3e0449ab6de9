// SPDX-License-Identifier: Apache-2.0
/* One metadata service per VM: its store, its token key, its version. */
#include "mmds/mmds.h"

int mmds_init(struct mmds *m, size_t limit)
{
	m->version = MMDS_V1;
	m->imds_compat = false;
	mmds_store_init(&m->store, limit);
	return mmds_tokens_init(&m->tokens);
}

void mmds_destroy(struct mmds *m)
{
	mmds_store_destroy(&m->store);
}

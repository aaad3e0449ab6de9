// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: a config file's text -> config_parse -> JSON again. */
#include <stdlib.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vm_config cfg;
	struct config_err e;

	if (!config_parse((const char *)data, size, &cfg, &e))
		free(config_to_json(&cfg));
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/ — the control plane: JSON <-> typed configuration.
 *
 * Contract:
 * - Turns the config file (kebab-case keys of API-CONTRACT.md) into a
 *   struct vm_boot_config, validating every field; a rejection returns
 *   -EINVAL with a message that names the key and says what to fix.
 * - Never calls KVM and never touches guest state.
 */
#ifndef MICROVM_API_H
#define MICROVM_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_FILE_SIZE (1u << 20) /* a config file is small */
#define CONFIG_PATH_MAX 4096
#define CONFIG_BOOT_ARGS_MAX 2048
#define CONFIG_MAX_VCPUS 32
#define CONFIG_MAX_MEM_MIB (1u << 20) /* 1 TiB */
#define CONFIG_ERR_MAX 256

#define DEFAULT_BOOT_ARGS "console=ttyS0 reboot=k panic=1"

struct vm_boot_config {
	char kernel_path[CONFIG_PATH_MAX];
	char initrd_path[CONFIG_PATH_MAX]; /* "" when none */
	char boot_args[CONFIG_BOOT_ARGS_MAX];
	unsigned vcpu_count;
	unsigned mem_size_mib;
	bool smt;
	bool track_dirty_pages;
	bool huge_pages_2m;
};

/* Parses and validates a JSON config text. Returns 0, or -EINVAL with a
 * NUL-terminated reason in err. */
int config_parse(const char *json, size_t len, struct vm_boot_config *cfg,
		 char *err, size_t err_size)
	__attribute__((warn_unused_result));
/* Reads (size-capped) and parses a config file; as config_parse. */
int config_load(const char *path, struct vm_boot_config *cfg, char *err,
		size_t err_size) __attribute__((warn_unused_result));

#endif

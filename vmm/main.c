// SPDX-License-Identifier: Apache-2.0
/* microvm: command line, then build and run one VM. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "vmm/vmm.h"

static const char usage[] =
	"Usage: microvm --config-file FILE --no-api [options]\n"
	"\n"
	"A KVM microVM monitor for serverless sandboxes, speaking Firecracker's\n"
	"configuration format.\n"
	"\n"
	"Options:\n"
	"  --config-file FILE  boot the VM described by FILE (JSON, keys as in\n"
	"                      Firecracker: boot-source, machine-config)\n"
	"  --no-api            do not serve the HTTP API (needs --config-file);\n"
	"                      the API server is not part of this version, so\n"
	"                      this flag is required for now\n"
	"  --boot-timer        log 'Guest-boot-time = ...' when the guest writes\n"
	"                      123 to guest-physical 0xC0000000\n"
	"  --id ID             instance id (logged; [A-Za-z0-9-]{1,64})\n"
	"  --level LEVEL       log level: Error, Warning, Info (default), Debug, Off\n"
	"  --no-seccomp        accepted for compatibility (no filters yet)\n"
	"  --version           print the version and exit\n"
	"  --help              print this help and exit\n"
	"\n"
	"Exit codes: 0 guest shut down cleanly (reboot), 152 bad configuration,\n"
	"153 bad arguments, 1 internal failure or guest crash (reason logged).\n";

struct options {
	const char *config_file;
	const char *id;
	bool no_api, boot_timer;
};

static int parse_level(const char *s)
{
	static const char *const names[] = { "Off", "Error", "Warning", "Info",
					     "Debug" };
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcasecmp(s, names[i]))
			return (int)i;
	return -1;
}

static bool valid_id(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > 64)
		return false;
	return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			  "0123456789-") == n;
}

static void bad_args(const char *msg, const char *arg)
{
	fprintf(stderr, "microvm: %s%s%s\nTry 'microvm --help'.\n", msg,
		arg ? ": " : "", arg ? arg : "");
	exit(EXIT_BAD_ARGS);
}

static void parse_args(int argc, char **argv, struct options *o)
{
	enum {
		O_CONFIG = 256,
		O_NO_API,
		O_BOOT_TIMER,
		O_ID,
		O_LEVEL,
		O_NO_SECCOMP,
		O_VERSION,
		O_HELP,
		O_API_SOCK
	};
	static const struct option longopts[] = {
		{ "config-file", required_argument, NULL, O_CONFIG },
		{ "no-api", no_argument, NULL, O_NO_API },
		{ "boot-timer", no_argument, NULL, O_BOOT_TIMER },
		{ "id", required_argument, NULL, O_ID },
		{ "level", required_argument, NULL, O_LEVEL },
		{ "no-seccomp", no_argument, NULL, O_NO_SECCOMP },
		{ "version", no_argument, NULL, O_VERSION },
		{ "help", no_argument, NULL, O_HELP },
		{ "api-sock", required_argument, NULL, O_API_SOCK },
		{ 0 },
	};
	int opt, level;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case O_CONFIG:
			o->config_file = optarg;
			break;
		case O_NO_API:
			o->no_api = true;
			break;
		case O_BOOT_TIMER:
			o->boot_timer = true;
			break;
		case O_NO_SECCOMP:
			break;
		case O_ID:
			if (!valid_id(optarg))
				bad_args("invalid --id (1-64 of [A-Za-z0-9-])",
					 optarg);
			o->id = optarg;
			break;
		case O_LEVEL:
			level = parse_level(optarg);
			if (level < 0)
				bad_args("invalid --level", optarg);
			log_set_level((enum log_level)level);
			break;
		case O_VERSION:
			printf("microvm v%s\n", MICROVM_VERSION);
			exit(EXIT_OK);
		case O_HELP:
			fputs(usage, stdout);
			exit(EXIT_OK);
		case O_API_SOCK:
			bad_args(
				"the API server is not in this version; use --config-file FILE --no-api",
				NULL);
			break;
		default:
			bad_args("unknown or incomplete option",
				 argv[optind - 1]);
		}
	}
	if (optind < argc)
		bad_args("unexpected argument", argv[optind]);
	if (!o->config_file || !o->no_api)
		bad_args("--config-file FILE and --no-api are required", NULL);
}

/* Whether a build failure came from the configuration (exit 152). */
static bool is_config_error(int err)
{
	return err == -ENOEXEC || err == -E2BIG || err == -EFBIG ||
	       err == -ENOENT || err == -EACCES || err == -EINVAL ||
	       err == -EISDIR || err == -ENOMEM || err == -EFAULT;
}

int main(int argc, char **argv)
{
	static struct vm vm;
	struct vm_boot_config cfg;
	struct options o = { 0 };
	char err[CONFIG_ERR_MAX];
	int ret;

	parse_args(argc, argv, &o);
	if (config_load(o.config_file, &cfg, err, sizeof(err))) {
		log_err("config %s: %s", o.config_file, err);
		return EXIT_BAD_CONFIG;
	}
	if (o.id)
		log_info("instance %s", o.id);
	ret = vm_build(&vm, &cfg, o.boot_timer);
	if (ret) {
		vm_destroy(&vm);
		return is_config_error(ret) ? EXIT_BAD_CONFIG : EXIT_INTERNAL;
	}
	ret = vm_run(&vm);
	vm_destroy(&vm);
	return ret;
}

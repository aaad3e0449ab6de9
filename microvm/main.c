// SPDX-License-Identifier: Apache-2.0
/* microvm: the command line, then the VMM thread's loop. */
#include <errno.h>
#include <getopt.h>
#include <linux/filter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "microvm/microvm.h"

#define DEFAULT_API_SOCK "/run/microvm.socket"

static const char usage[] =
	"Usage: microvm [--api-sock PATH] [--config-file FILE] [options]\n"
	"       microvm --config-file FILE --no-api [options]\n"
	"\n"
	"A KVM microVM monitor for serverless sandboxes, driven by Firecracker's\n"
	"HTTP/JSON API on a Unix socket and by Firecracker's config file.\n"
	"\n"
	"Options:\n"
	"  --api-sock PATH     serve the API on this Unix socket (default\n"
	"                      " DEFAULT_API_SOCK "; it must not exist yet)\n"
	"  --config-file FILE  configure from FILE (JSON, Firecracker's keys) and\n"
	"                      boot at once; the API, if on, stays up\n"
	"  --no-api            no API server (needs --config-file; --api-sock is\n"
	"                      then ignored, as by Firecracker)\n"
	"  --http-api-max-payload-size N\n"
	"                      largest accepted request body (default 51200)\n"
	"  --mmds-size-limit N the metadata store's largest size, in bytes of\n"
	"                      compact JSON (default: the payload size above;\n"
	"                      below 2 GiB)\n"
	"  --metadata FILE     fill the metadata store from FILE (JSON), as a\n"
	"                      PUT /mmds would\n"
	"  --boot-timer        log 'Guest-boot-time = ...' when the guest writes\n"
	"                      123 to guest-physical 0xC0000000\n"
	"  --id ID             instance id in logs and GET / ([A-Za-z0-9-]{1,64})\n"
	"  --level LEVEL       Error, Warning (or Warn), Info (default), Debug,\n"
	"                      Trace, Off; any case\n"
	"  --log-path PATH     log to PATH (file or FIFO) instead of stderr\n"
	"  --show-level        put each line's level in the log\n"
	"  --show-log-origin   put each line's source file and line in the log\n"
	"  --module PATH       log only lines from source files under PATH\n"
	"                      (e.g. api, virtio/net)\n"
	"  --metrics-path PATH write metrics as JSON lines to PATH\n"
	"  --no-seccomp        run without the per-thread seccomp filters\n"
	"  --seccomp-filter FILE\n"
	"                      use the filters in FILE (compiled by Firecracker's\n"
	"                      seccompiler-bin: \"api\", \"vmm\" and \"vcpu\"\n"
	"                      programs) instead of microvm's own\n"
	"  --serial-out-limit BYTES\n"
	"                      the most console output the guest may write\n"
	"                      (default 67108864; 0: no limit); the rest is\n"
	"                      dropped and counted in the metrics\n"
	"  --prefetch WS       on snapshot/load with the File backend, map in\n"
	"                      the pages WS lists (microvm-uffd --record) first\n"
	"  --warm vcpus=N,mem_mib=M[,smt=on]\n"
	"                      warm pool: create the KVM VM, its memory slots and\n"
	"                      vCPUs now, so that PUT /snapshot/load of a snapshot\n"
	"                      of this shape only maps memory and sets state\n"
	"  --start-time-us US, --start-time-cpu-us US, --parent-cpu-time-us US\n"
	"                      when this process started (CLOCK_MONOTONIC), its\n"
	"                      CPU time then, and its parent's CPU time (what\n"
	"                      Firecracker's jailer passes): the metrics\n"
	"                      api_server.process_startup_time_us and _cpu_us\n"
	"                      count from them\n"
	"  --describe-snapshot FILE\n"
	"                      print the format version of a snapshot state file\n"
	"                      and exit\n"
	"  --version           print the version and exit\n"
	"  --help              print this help and exit\n"
	"\n"
	"Exit codes: 0 guest shut down cleanly (reboot), 152 bad configuration,\n"
	"153 bad arguments, 1 internal failure or guest crash (reason logged),\n"
	"148 a system call blocked by seccomp, 128+N stopped by signal N.\n";

struct options {
	const char *config_file, *api_sock, *metrics_path;
	const char *prefetch;
	const char *id;
	const char *describe_snapshot;
	const char *metadata;
	const char *seccomp_filter;
	size_t max_body, mmds_limit; /* mmds_limit 0: max_body */
	bool no_api, boot_timer;
	bool warm;
	struct machine_cfg warm_shape;
	struct logger_cfg logger;
	/* Firecracker's jailer: process start, in us; 0 when not given */
	uint64_t start_time_us, start_time_cpu_us, parent_cpu_time_us;
};

static void bad_args(const char *msg, const char *arg)
{
	fprintf(stderr, "microvm: %s%s%s\nTry 'microvm --help'.\n", msg,
		arg ? ": " : "", arg ? arg : "");
	exit(EXIT_BAD_ARGS);
}

static void parse_level(const char *s, struct logger_cfg *l)
{
	int level = config_parse_log_level(s);

	if (level < 0)
		bad_args(
			"invalid --level (Error, Warning, Info, Debug, Trace, Off)",
			s);
	l->level = (enum log_level)level;
	l->has_level = true;
}

/* Copies a string argument into a fixed buffer, refusing longer ones. */
static void copy_arg(char *dst, size_t size, const char *s, const char *what)
{
	if (strlen(s) >= size)
		bad_args(what, s);
	strcpy(dst, s);
}

static uint64_t parse_us(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || *s < '0' || *s > '9')
		bad_args(what, s);
	return v;
}

static const char *parse_id(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > 64 ||
	    strspn(id, "abcdefghijklmnopqrstuvwxyz"
		       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != n)
		bad_args("invalid --id (1-64 of [A-Za-z0-9-])", id);
	return id;
}

static size_t parse_size(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || !*s || v == 0 || v > (64u << 20))
		bad_args("invalid --http-api-max-payload-size (1..67108864)",
			 s);
	return (size_t)v;
}

/* Below 2 GiB: a store's JSON text must fit in an int (cJSON). */
static size_t parse_mmds_limit(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || *s < '0' || *s > '9' || v == 0 ||
	    v >= (1ull << 31))
		bad_args("invalid --mmds-size-limit (1..2147483647)", s);
	return (size_t)v;
}

static uint64_t parse_out_limit(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || *s < '0' || *s > '9')
		bad_args("invalid --serial-out-limit (bytes, 0: no limit)", s);
	return v;
}

#define WARM_SYNTAX "invalid --warm (vcpus=1..32,mem_mib=1..N[,smt=on|off])"

static bool parse_uint(const char *s, unsigned long max, unsigned *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > max)
		return false;
	*out = (unsigned)v;
	return true;
}

/* --warm vcpus=N,mem_mib=M[,smt=on|off]: the shape of the snapshots this
 * warm microvm will load. */
static void parse_warm(const char *arg, struct options *o)
{
	struct machine_cfg *m = &o->warm_shape;
	char buf[96], *save, *kv;

	if (strlen(arg) >= sizeof(buf))
		bad_args(WARM_SYNTAX, arg);
	strcpy(buf, arg);
	*m = (struct machine_cfg){ 0 };
	for (kv = strtok_r(buf, ",", &save); kv;
	     kv = strtok_r(NULL, ",", &save)) {
		if (!strncmp(kv, "vcpus=", 6) &&
		    parse_uint(kv + 6, CONFIG_MAX_VCPUS, &m->vcpu_count))
			continue;
		if (!strncmp(kv, "mem_mib=", 8) &&
		    parse_uint(kv + 8, CONFIG_MAX_MEM_MIB, &m->mem_size_mib))
			continue;
		if (strcmp(kv, "smt=on") && strcmp(kv, "smt=off"))
			bad_args(WARM_SYNTAX, arg);
		m->smt = !strcmp(kv, "smt=on");
	}
	if (!m->vcpu_count || !m->mem_size_mib ||
	    (m->smt && m->vcpu_count > 1 && m->vcpu_count % 2))
		bad_args(WARM_SYNTAX, arg);
	o->warm = true;
}

enum {
	O_CONFIG = 256,
	O_API_SOCK,
	O_NO_API,
	O_MAX_BODY,
	O_BOOT_TIMER,
	O_ID,
	O_LEVEL,
	O_LOG_PATH,
	O_SHOW_LEVEL,
	O_SHOW_ORIGIN,
	O_MODULE,
	O_START_US,
	O_START_CPU_US,
	O_PARENT_CPU_US,
	O_DESCRIBE_SNAPSHOT,
	O_METRICS_PATH,
	O_NO_SECCOMP,
	O_SERIAL_OUT_LIMIT,
	O_PREFETCH,
	O_WARM,
	O_SECCOMP_FILTER,
	O_MMDS_LIMIT,
	O_METADATA,
	O_VERSION,
	O_HELP,
};

static const struct option longopts[] = {
	{ "config-file", required_argument, NULL, O_CONFIG },
	{ "api-sock", required_argument, NULL, O_API_SOCK },
	{ "no-api", no_argument, NULL, O_NO_API },
	{ "http-api-max-payload-size", required_argument, NULL, O_MAX_BODY },
	{ "boot-timer", no_argument, NULL, O_BOOT_TIMER },
	{ "id", required_argument, NULL, O_ID },
	{ "level", required_argument, NULL, O_LEVEL },
	{ "log-path", required_argument, NULL, O_LOG_PATH },
	{ "show-level", no_argument, NULL, O_SHOW_LEVEL },
	{ "show-log-origin", no_argument, NULL, O_SHOW_ORIGIN },
	{ "module", required_argument, NULL, O_MODULE },
	{ "start-time-us", required_argument, NULL, O_START_US },
	{ "start-time-cpu-us", required_argument, NULL, O_START_CPU_US },
	{ "parent-cpu-time-us", required_argument, NULL, O_PARENT_CPU_US },
	{ "describe-snapshot", required_argument, NULL, O_DESCRIBE_SNAPSHOT },
	{ "metrics-path", required_argument, NULL, O_METRICS_PATH },
	{ "no-seccomp", no_argument, NULL, O_NO_SECCOMP },
	{ "serial-out-limit", required_argument, NULL, O_SERIAL_OUT_LIMIT },
	{ "prefetch", required_argument, NULL, O_PREFETCH },
	{ "warm", required_argument, NULL, O_WARM },
	{ "seccomp-filter", required_argument, NULL, O_SECCOMP_FILTER },
	{ "mmds-size-limit", required_argument, NULL, O_MMDS_LIMIT },
	{ "metadata", required_argument, NULL, O_METADATA },
	{ "version", no_argument, NULL, O_VERSION },
	{ "help", no_argument, NULL, O_HELP },
	{ 0 },
};

static void parse_option(int opt, struct options *o)
{
	switch (opt) {
	case O_CONFIG:
		o->config_file = optarg;
		break;
	case O_API_SOCK:
		o->api_sock = optarg;
		break;
	case O_NO_API:
		o->no_api = true;
		break;
	case O_MAX_BODY:
		o->max_body = parse_size(optarg);
		break;
	case O_BOOT_TIMER:
		o->boot_timer = true;
		break;
	case O_ID:
		o->id = parse_id(optarg);
		break;
	case O_LEVEL:
		parse_level(optarg, &o->logger);
		break;
	case O_LOG_PATH:
		copy_arg(o->logger.path, sizeof(o->logger.path), optarg,
			 "--log-path is too long");
		break;
	case O_SHOW_LEVEL:
		o->logger.show_level = o->logger.has_show_level = true;
		break;
	case O_SHOW_ORIGIN:
		o->logger.show_origin = o->logger.has_show_origin = true;
		break;
	case O_MODULE:
		copy_arg(o->logger.module, sizeof(o->logger.module), optarg,
			 "--module is too long");
		o->logger.has_module = true;
		break;
	case O_START_US:
		o->start_time_us = parse_us(optarg, "invalid --start-time-us");
		break;
	case O_START_CPU_US:
		o->start_time_cpu_us =
			parse_us(optarg, "invalid --start-time-cpu-us");
		break;
	case O_PARENT_CPU_US:
		o->parent_cpu_time_us =
			parse_us(optarg, "invalid --parent-cpu-time-us");
		break;
	case O_DESCRIBE_SNAPSHOT:
		o->describe_snapshot = optarg;
		break;
	case O_METRICS_PATH:
		o->metrics_path = optarg;
		break;
	case O_NO_SECCOMP:
		seccomp_enabled = false;
		break;
	case O_SERIAL_OUT_LIMIT:
		serial_set_out_limit(parse_out_limit(optarg));
		break;
	case O_PREFETCH:
		o->prefetch = optarg;
		break;
	case O_WARM:
		parse_warm(optarg, o);
		break;
	case O_SECCOMP_FILTER:
		o->seccomp_filter = optarg;
		break;
	case O_MMDS_LIMIT:
		o->mmds_limit = parse_mmds_limit(optarg);
		break;
	case O_METADATA:
		o->metadata = optarg;
		break;
	case O_VERSION:
		printf("microvm v%s\n", MICROVM_VERSION);
		exit(EXIT_OK);
	case O_HELP:
		fputs(usage, stdout);
		exit(EXIT_OK);
	default:
		bad_args("unknown or incomplete option", NULL);
	}
}

/* Installed as "firecracker" (make install-compat), the default socket is
 * Firecracker's, /run/firecracker.socket, which its clients rely on. */
static const char *default_api_sock(const char *argv0)
{
	const char *name = strrchr(argv0, '/');

	name = name ? name + 1 : argv0;
	return strcmp(name, "firecracker") ? DEFAULT_API_SOCK :
					     "/run/firecracker.socket";
}

static void parse_args(int argc, char **argv, struct options *o)
{
	int opt;

	opterr = 0;
	o->max_body = API_DEFAULT_MAX_BODY;
	o->id = "anonymous-instance";
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == '?')
			bad_args("unknown or incomplete option",
				 argv[optind - 1]);
		parse_option(opt, o);
	}
	if (optind < argc)
		bad_args("unexpected argument", argv[optind]);
	if (o->no_api && !o->config_file)
		bad_args("--no-api needs --config-file FILE", NULL);
	if (!o->mmds_limit) /* as Firecracker */
		o->mmds_limit = o->max_body;
	if (o->no_api)
		o->api_sock = NULL; /* Firecracker ignores it too */
	else if (!o->api_sock)
		o->api_sock = default_api_sock(argv[0]);
	if (o->seccomp_filter && !seccomp_enabled)
		bad_args("--seccomp-filter and --no-seccomp exclude each other",
			 NULL);
	if (o->warm && (o->no_api || o->config_file))
		bad_args(
			"--warm waits for PUT /snapshot/load: it needs the API and no --config-file",
			NULL);
}

/* Applies the logger of the command line or of the config file. */
static int configure_logger(const struct logger_cfg *l)
{
	int ret = log_configure(l);

	if (ret)
		log_err("cannot open log path %s: %s", l->path, strerror(-ret));
	return ret ? EXIT_BAD_CONFIG : 0;
}

/* The config file's logger (its fields override the command line's, one
 * by one) and the metrics of the config file or the command line. */
static int setup_outputs(const struct options *o, const struct vm_config *cfg)
{
	const char *metrics = cfg->metrics.set ? cfg->metrics.path :
						 o->metrics_path;
	int ret = cfg->logger.set ? configure_logger(&cfg->logger) : 0;

	if (ret)
		return ret;
	ret = metrics ? metrics_open(metrics) : 0;
	if (ret) {
		log_err("cannot open metrics path %s: %s", metrics,
			strerror(-ret));
		return EXIT_BAD_CONFIG;
	}
	return 0;
}

/* --describe-snapshot FILE: prints "v<format version>" as Firecracker
 * does, and exits. */
static void describe_snapshot(const char *path)
{
	char err[CONFIG_PATH_MAX + 64];
	uint32_t version;

	if (snapshot_describe(path, &version, err, sizeof(err))) {
		fprintf(stderr, "microvm: --describe-snapshot: %s\n", err);
		exit(EXIT_INTERNAL);
	}
	printf("v%u\n", version);
	exit(EXIT_OK);
}

/* Microseconds on `clock` now minus `since`, 0 if since is later. */
static uint64_t us_since(clockid_t clock, uint64_t since)
{
	struct timespec now;
	uint64_t us;

	clock_gettime(clock, &now);
	us = (uint64_t)now.tv_sec * 1000000 + (uint64_t)now.tv_nsec / 1000;
	return us > since ? us - since : 0;
}

/* With the API up, the process startup times Firecracker reports when its
 * jailer passed the start times: wall (monotonic) and CPU, the parent's
 * CPU time added. */
static void report_startup_times(const struct options *o)
{
	if (o->start_time_us)
		metrics_store(M_API_STARTUP_US,
			      us_since(CLOCK_MONOTONIC, o->start_time_us));
	if (o->start_time_cpu_us)
		metrics_store(M_API_STARTUP_CPU_US,
			      us_since(CLOCK_PROCESS_CPUTIME_ID,
				       o->start_time_cpu_us) +
				      o->parent_cpu_time_us);
}

static int boot_from_config(struct vmm *m)
{
	char err[512];
	int ret = vmm_instance_start(m, err, sizeof(err));

	if (!ret)
		return 0;
	log_err("cannot start the VM: %s", err);
	return ret == -ENOEXEC || ret == -E2BIG || ret == -EFBIG ||
			       ret == -ENOENT || ret == -EACCES ||
			       ret == -EINVAL || ret == -ENOTSUP ||
			       ret == -ENOMEM ?
		       EXIT_BAD_CONFIG :
		       EXIT_INTERNAL;
}

static int load_config(const struct options *o, struct vm_config *cfg)
{
	struct config_err e;

	if (!o->config_file)
		return 0;
	if (config_load(o->config_file, cfg, &e)) {
		log_err("config %s: %s", o->config_file, e.msg);
		return EXIT_BAD_CONFIG;
	}
	return 0;
}

/* --metadata FILE: read up to a few times the store's limit (the file
 * may be indented), then stored as PUT /mmds would. */
static int load_metadata(const char *path, struct mmds *mmds)
{
	size_t cap = mmds->store.limit * 4 + 4096;
	char *buf = malloc(cap + 1);
	FILE *f = fopen(path, "re");
	int open_errno = f ? 0 : errno;
	size_t n = buf && f ? fread(buf, 1, cap + 1, f) : 0;
	const char *why;
	cJSON *j = NULL;
	int ret = -EINVAL;

	if (!f)
		why = strerror(open_errno);
	else if (!buf)
		why = "out of memory";
	else if (ferror(f))
		why = "cannot read it";
	else if (n > cap)
		why = "larger than 4 times --mmds-size-limit";
	else if (!(j = cJSON_ParseWithLength(buf, n)))
		why = "not valid JSON";
	else
		ret = mmds_store_put(&mmds->store, j, &why);
	if (ret)
		log_err("--metadata %s: %s", path, why);
	cJSON_Delete(j);
	if (f)
		fclose(f);
	free(buf);
	return ret ? EXIT_BAD_CONFIG : 0;
}

/* The built-in filters, or those --seccomp-filter names (kept for the
 * process's life: threads install them as they start). 0 or exit code. */
static int prepare_seccomp(const struct options *o)
{
	static struct sock_fprog custom[SECCOMP_FILE_KINDS];
	const char *why;
	int ret;

	if (!seccomp_enabled)
		return 0;
	why = o->seccomp_filter ? seccomp_file_read(o->seccomp_filter, custom) :
				  NULL;
	if (why) {
		log_err("--seccomp-filter %s: %s", o->seccomp_filter, why);
		return EXIT_BAD_CONFIG;
	}
	ret = seccomp_prepare(o->warm, o->seccomp_filter ? custom : NULL);
	if (ret)
		log_err("cannot prepare the seccomp filters: %s",
			strerror(-ret));
	return ret ? EXIT_INTERNAL : 0;
}

int main(int argc, char **argv)
{
	static struct vmm m;
	struct api_server *api = NULL;
	struct options o = { 0 };
	int ret;

	parse_args(argc, argv, &o);
	if (o.describe_snapshot)
		describe_snapshot(o.describe_snapshot);
	log_set_instance_id(o.id);
	ret = configure_logger(&o.logger);
	if (ret)
		return ret;
	ret = prepare_seccomp(&o);
	if (ret)
		return ret;
	if (vmm_init(&m, o.id, o.boot_timer, o.mmds_limit)) {
		log_err("cannot set up the VMM thread: %s", strerror(errno));
		return EXIT_INTERNAL;
	}
	m.prefetch = o.prefetch;
	ret = load_config(&o, &m.cfg);
	if (!ret && o.metadata)
		ret = load_metadata(o.metadata, &m.mmds);
	if (!ret)
		ret = setup_outputs(&o, &m.cfg);
	if (!ret && o.warm)
		ret = vmm_warm(&m, &o.warm_shape);
	if (!ret && o.api_sock) {
		api = api_server_start(o.api_sock, o.max_body, &m.ch);
		if (!api) {
			log_err("cannot serve the API on %s: %s", o.api_sock,
				strerror(errno));
			ret = EXIT_INTERNAL;
		} else {
			report_startup_times(&o);
		}
	}
	if (!ret && o.warm)
		ret = vmm_seal_warm(&m);
	if (!ret && o.config_file)
		ret = boot_from_config(&m);
	if (!ret)
		ret = vmm_run(&m);
	api_server_stop(api);
	vmm_destroy(&m);
	return ret;
}

// SPDX-License-Identifier: Apache-2.0
/* microvm-jailer's command line: Firecracker's jailer flags. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jailer/jailer.h"
#include "vmm/vmm.h" /* MICROVM_VERSION */

static const char usage[] =
	"Usage: microvm-jailer --id ID --exec-file PATH --uid UID --gid GID\n"
	"         [--chroot-base-dir DIR] [--netns PATH] [--cgroup-version 1|2]\n"
	"         [--cgroup FILE=VALUE]... [--parent-cgroup PATH]\n"
	"         [--resource-limit fsize=N|no-file=N]... [--daemonize]\n"
	"         [--new-pid-ns] [--version] [-- MICROVM ARGS...]\n"
	"\n"
	"Builds <chroot-base-dir>/<exec name>/<id>/root (default base /srv/jailer),\n"
	"copies the binary in, joins the network namespace, sets rlimits, puts the\n"
	"process in cgroup <parent-cgroup>/<id> (cgroup v1 by default, or v2;\n"
	"default parent: the exec name) with the given values (e.g.\n"
	"cpuset.cpus=0, pids.max=64), pivots into the jail, makes dev/kvm,\n"
	"dev/net/tun, dev/urandom, dev/userfaultfd and run/ owned by UID:GID,\n"
	"writes /<exec name>.pid, drops to UID:GID with no capabilities and\n"
	"no_new_privs, and execs \"/<exec name> --id ID --start-time-us T\n"
	"--start-time-cpu-us C --parent-cpu-time-us P ARGS...\".\n"
	"Exit codes: 1 bad arguments or a step failed (named in the message);\n"
	"otherwise the monitor's own (0 with --daemonize or --new-pid-ns).\n"
	"See microvm-jailer(1).\n";

static void bad(const char *msg, const char *arg)
{
	fprintf(stderr, "microvm-jailer: %s%s%s\n%s", msg, arg ? ": " : "",
		arg ? arg : "", usage);
	exit(1);
}

static long long parse_number(const char *s, const char *what)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || !*s || *end || v < 0)
		bad(what, s);
	return v;
}

static void parse_limit(const char *s, struct jail_opts *o)
{
	if (!strncmp(s, "fsize=", 6))
		o->fsize =
			parse_number(s + 6, "invalid --resource-limit fsize");
	else if (!strncmp(s, "no-file=", 8))
		o->no_file =
			parse_number(s + 8, "invalid --resource-limit no-file");
	else
		bad("unknown --resource-limit (fsize=N or no-file=N)", s);
}

/* <controller>.<file>=<value>, one '=' and a value, as Firecracker's
 * jailer takes it; never a path. */
static void parse_cgroup(const char *s, struct jail_opts *o)
{
	const char *eq = strchr(s, '='), *dot = strchr(s, '.');

	if (!eq || eq == s || !eq[1] || strchr(eq + 1, '=') ||
	    o->nr_cgroups == JAIL_MAX_CGROUPS)
		bad("Invalid format for cgroups (FILE=VALUE, e.g. cpuset.cpus=0)",
		    s);
	if (!dot || dot == s || dot > eq || memchr(s, '/', (size_t)(eq - s)))
		bad("Cgroup invalid file (CONTROLLER.FILE, e.g. cpuset.cpus)",
		    s);
	o->cgroups[o->nr_cgroups++] = s;
}

static int parse_cgroup_version(const char *s)
{
	if (strcmp(s, "1") && strcmp(s, "2"))
		bad("invalid cgroup version specifier (1 or 2)", s);
	return s[0] - '0';
}

/* "Jailer v..." as Firecracker's jailer prints it when installed under its
 * name (make install-compat). */
static void print_version(const char *argv0)
{
	const char *name = strrchr(argv0, '/');

	name = name ? name + 1 : argv0;
	printf("%s v%s\n", strcmp(name, "jailer") ? "microvm-jailer" : "Jailer",
	       MICROVM_VERSION);
	exit(0);
}

static bool valid_id(const char *id)
{
	size_t n = strlen(id);

	return n > 0 && n <= 64 &&
	       strspn(id, "abcdefghijklmnopqrstuvwxyz"
			  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == n;
}

/* A relative path with no "", "." or ".." component. */
static bool valid_parent(const char *p)
{
	size_t n;

	if (p[0] == '/' || !p[0])
		return false;
	for (; *p; p += n + (p[n] == '/')) {
		n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && !strncmp(p, "..", 2)))
			return false;
	}
	return true;
}

enum {
	O_ID = 256,
	O_EXEC,
	O_UID,
	O_GID,
	O_BASE,
	O_NETNS,
	O_CGROUP,
	O_PARENT,
	O_LIMIT,
	O_DAEMON,
	O_PIDNS,
	O_CGROUP_VERSION,
	O_VERSION,
	O_HELP
};

static const struct option longopts[] = {
	{ "id", required_argument, NULL, O_ID },
	{ "exec-file", required_argument, NULL, O_EXEC },
	{ "uid", required_argument, NULL, O_UID },
	{ "gid", required_argument, NULL, O_GID },
	{ "chroot-base-dir", required_argument, NULL, O_BASE },
	{ "netns", required_argument, NULL, O_NETNS },
	{ "cgroup", required_argument, NULL, O_CGROUP },
	{ "parent-cgroup", required_argument, NULL, O_PARENT },
	{ "resource-limit", required_argument, NULL, O_LIMIT },
	{ "daemonize", no_argument, NULL, O_DAEMON },
	{ "new-pid-ns", no_argument, NULL, O_PIDNS },
	{ "cgroup-version", required_argument, NULL, O_CGROUP_VERSION },
	{ "version", no_argument, NULL, O_VERSION },
	{ "help", no_argument, NULL, O_HELP },
	{ 0 },
};

static void parse_one(int opt, struct jail_opts *o, const char *argv0)
{
	switch (opt) {
	case O_ID:
		o->id = optarg;
		break;
	case O_EXEC:
		o->exec_file = optarg;
		break;
	case O_UID:
		o->uid = (uid_t)parse_number(optarg, "invalid --uid");
		o->have_uid = true;
		break;
	case O_GID:
		o->gid = (gid_t)parse_number(optarg, "invalid --gid");
		o->have_gid = true;
		break;
	case O_BASE:
		o->base_dir = optarg;
		break;
	case O_NETNS:
		o->netns = optarg;
		break;
	case O_CGROUP:
		parse_cgroup(optarg, o);
		break;
	case O_PARENT:
		o->parent_cgroup = optarg;
		break;
	case O_LIMIT:
		parse_limit(optarg, o);
		break;
	case O_DAEMON:
		o->daemonize = true;
		break;
	case O_PIDNS:
		o->new_pid_ns = true;
		break;
	case O_CGROUP_VERSION:
		o->cgroup_version = parse_cgroup_version(optarg);
		break;
	case O_VERSION:
		print_version(argv0);
		break;
	case O_HELP:
		fputs(usage, stdout);
		exit(0);
	default:
		bad("unknown or incomplete option", NULL);
	}
}

void jail_parse_args(int argc, char **argv, struct jail_opts *o)
{
	int opt;

	memset(o, 0, sizeof(*o));
	o->base_dir = "/srv/jailer";
	o->cgroup_version = 1;
	o->fsize = -1;
	o->no_file = 2048; /* Firecracker's jailer's default */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1)
		parse_one(opt == '?' ? 0 : opt, o, argv[0]);
	o->exec_args = argv + optind;
	o->nr_exec_args = argc - optind;
	if (o->nr_exec_args > JAIL_MAX_ARGS)
		bad("too many arguments for the monitor", NULL);
	if (!o->id || !valid_id(o->id))
		bad("--id must be 1-64 of [A-Za-z0-9-]", o->id);
	if (!o->exec_file || !o->exec_file[0])
		bad("--exec-file is required", NULL);
	if (!o->have_uid || !o->have_gid)
		bad("--uid and --gid are required", NULL);
	if (!o->base_dir[0])
		bad("--chroot-base-dir must not be empty", NULL);
	if (o->parent_cgroup && !valid_parent(o->parent_cgroup))
		bad("Parent cgroup path is invalid. Path should not be absolute or contain '..' or '.'",
		    o->parent_cgroup);
}

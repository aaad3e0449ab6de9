// SPDX-License-Identifier: Apache-2.0
/* microvm-jailer's command line: Firecracker's jailer flags. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jailer/jailer.h"

static const char usage[] =
	"Usage: microvm-jailer --id ID --exec-file PATH --uid UID --gid GID\n"
	"         [--chroot-base-dir DIR] [--netns PATH] [--cgroup KEY=VALUE]...\n"
	"         [--parent-cgroup NAME] [--resource-limit fsize=N|no-file=N]...\n"
	"         [--daemonize] [--new-pid-ns] [-- MICROVM ARGS...]\n"
	"\n"
	"Builds <chroot-base-dir>/<exec name>/<id>/root (default base /srv/jailer),\n"
	"copies the binary in, joins the network namespace, sets rlimits, puts the\n"
	"process in cgroup <parent-cgroup>/<id> (cgroup v2; default parent: the\n"
	"exec name) with the given limits (e.g. memory.max=268435456, pids.max=64),\n"
	"pivots into the jail with only dev/kvm, dev/net/tun, dev/urandom (and\n"
	"dev/userfaultfd) owned by UID:GID, drops to UID:GID with no capabilities\n"
	"and no_new_privs, and execs \"/<exec name> --id ID ARGS...\".\n"
	"Exit codes: 1 a step failed (named in the message), 153 bad arguments;\n"
	"otherwise the monitor's own.\n";

static void bad(const char *msg, const char *arg)
{
	fprintf(stderr, "microvm-jailer: %s%s%s\n%s", msg, arg ? ": " : "",
		arg ? arg : "", usage);
	exit(153);
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

static void parse_cgroup(const char *s, struct jail_opts *o)
{
	const char *eq = strchr(s, '=');

	if (!eq || eq == s || strchr(s, '/') || s[0] == '.' ||
	    o->nr_cgroups == JAIL_MAX_CGROUPS)
		bad("invalid --cgroup (KEY=VALUE, e.g. memory.max=268435456)",
		    s);
	o->cgroups[o->nr_cgroups++] = s;
}

static bool valid_id(const char *id)
{
	size_t n = strlen(id);

	return n > 0 && n <= 64 &&
	       strspn(id, "abcdefghijklmnopqrstuvwxyz"
			  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == n;
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
	{ "help", no_argument, NULL, O_HELP },
	{ 0 },
};

static void parse_one(int opt, struct jail_opts *o)
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
	o->fsize = o->no_file = -1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1)
		parse_one(opt == '?' ? 0 : opt, o);
	o->exec_args = argv + optind;
	o->nr_exec_args = argc - optind;
	if (o->nr_exec_args > JAIL_MAX_ARGS)
		bad("too many arguments for the monitor", NULL);
	if (!o->id || !valid_id(o->id))
		bad("--id must be 1-64 of [A-Za-z0-9-]", o->id);
	if (!o->exec_file || o->exec_file[0] != '/')
		bad("--exec-file must be an absolute path", o->exec_file);
	if (!o->have_uid || !o->have_gid)
		bad("--uid and --gid are required", NULL);
	if (o->base_dir[0] != '/')
		bad("--chroot-base-dir must be an absolute path", o->base_dir);
	if (o->parent_cgroup &&
	    (strstr(o->parent_cgroup, "..") || o->parent_cgroup[0] == '/'))
		bad("invalid --parent-cgroup", o->parent_cgroup);
}

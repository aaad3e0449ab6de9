/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jailer/ — microvm-jailer, a separate binary that cages microvm before it
 * starts, with Firecracker's jailer flags and behaviour (its docs/jailer.md).
 *
 * Contract:
 * - Runs as root, single-threaded, then execs the monitor; it never returns
 *   to a caller. Every step that fails prints "microvm-jailer: <step>:
 *   <why>" and exits 1, as Firecracker's jailer does for every error (bad
 *   arguments included), removing the jail directory and cgroups it
 *   created; a jail or cgroup left over by a killed run is removed on the
 *   next run with the same id.
 * - Steps, in order: close inherited fds, clear the environment, validate
 *   the id and resolve the (possibly relative) paths, build
 *   <base>/<exec name>/<id>/root and copy the binary in (with its loader and
 *   libraries when it is dynamically linked), join the netns, set rlimits
 *   (no-file 2048 unless given), create and join the cgroups (v1 by default,
 *   or v2) with their values, new mount namespace, pivot_root into the jail,
 *   make /, /dev, /dev/net and /run (0700, owned by uid:gid) and the device
 *   nodes, --daemonize (double fork, setsid, stdio to /dev/null),
 *   --new-pid-ns (the monitor is pid 1 of a new pid namespace; the jailer
 *   exits 0 at once), write the monitor's pid to /<exec name>.pid in the
 *   jail, drop to uid/gid with no capabilities and no_new_privs, and exec
 *   "/<exec name> --id ID --start-time-us T --start-time-cpu-us C
 *   --parent-cpu-time-us P ARGS...".
 * - main.c runs the steps; cgroup.c reads the hierarchies from /proc/mounts
 *   and makes the cgroups; args.c the command line; libs.c the shared
 *   libraries; util.c what they all use (jail_fail and its undo list).
 *   Calls point one way: main -> cgroup, args, libs -> util.
 */
#ifndef MICROVM_JAILER_H
#define MICROVM_JAILER_H

#include <stdbool.h>
#include <sys/types.h>

#define JAIL_MAX_CGROUPS 16
#define JAIL_MAX_ARGS 64

struct jail_opts {
	const char *id, *exec_file, *base_dir, *netns, *parent_cgroup;
	uid_t uid;
	gid_t gid;
	bool have_uid, have_gid, daemonize, new_pid_ns;
	int cgroup_version; /* 1 (the default) or 2 */
	const char *cgroups[JAIL_MAX_CGROUPS]; /* "<controller>.<file>=value" */
	unsigned nr_cgroups;
	long long fsize, no_file; /* -1: unchanged */
	char *const *exec_args; /* after "--" */
	int nr_exec_args;
};

/* Parses argv; --help and --version print and exit 0; bad arguments
 * print why and exit 1. */
void jail_parse_args(int argc, char **argv, struct jail_opts *o);

/* ---- util.c: what every step uses ---- */
/* The step being run, for jail_fail's message. */
extern const char *jail_step;

/* Registers what jail_fail undoes (the jail directory, the cgroups). */
void jail_undo_on_fail(void (*undo)(void));
/* After the pivot: nothing is undone any more. */
void jail_undo_forget(void);

/* Prints "microvm-jailer: <step>: <message>", runs the registered undo
 * functions (latest first), exits 1. */
void jail_fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* snprintf for paths: a path that does not fit fails the step. */
void jail_path(char *out, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes text to an existing file (cgroup files); fails the step if not
 * all of it is written. */
void jail_write_file(const char *path, const char *text);

/* mkdir -p; fails the step on an error other than EEXIST. */
void jail_mkdirs(char *path, mode_t mode);

/* ---- cgroup.c ---- */
/* Finds the hierarchy of each --cgroup key (cgroup v1: the one mounted
 * with its controller; v2: the unified one, which must offer the
 * controller) and removes a stale <hierarchy>/<parent>/<id> left by a
 * killed run; one that still holds a process fails the step. */
void jail_cgroups_prepare(const struct jail_opts *o, const char *parent);

/* Creates <hierarchy>/<parent>/<id> in each hierarchy (v1 cpuset: each
 * new level inherits cpuset.cpus and cpuset.mems from the level above;
 * v2: the controllers are enabled down to <parent>), writes the values,
 * then moves this process in. With no --cgroup on v2, joins
 * <hierarchy>/<parent> when it exists, as Firecracker's jailer does. */
void jail_cgroups_join(const struct jail_opts *o, const char *parent);

/* Copies the loader and shared libraries a dynamically linked exec needs
 * into the jail root (same paths), with the given copy and mkdir -p
 * helpers. 0, or -ENOENT/-ENOEXEC/-E2BIG. A static exec needs none. */
int jail_copy_libraries(const char *exec, const char *root,
			void (*copy)(const char *from, const char *to,
				     mode_t mode),
			void (*mkdirs)(char *path, mode_t mode));

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jailer/ — microvm-jailer, a separate binary that cages microvm before it
 * starts (Firecracker's jailer flags).
 *
 * Contract:
 * - Runs as root, single-threaded, then execs the monitor; it never returns
 *   to a caller. Every step that fails prints "microvm-jailer: <step>:
 *   <why>" and exits 1 (bad arguments: 153), removing the jail directory
 *   it created; a jail or cgroup left over by a killed run is removed on
 *   the next run with the same id.
 * - Steps, in order: close inherited fds, clear the environment, validate
 *   the id, build <base>/<exec name>/<id>/root and copy the binary in, join
 *   the netns, set rlimits, create and join the cgroup (v2) with its
 *   limits, note the device nodes, new mount namespace, pivot_root into the
 *   jail, create the device nodes, optionally a new pid namespace, drop to
 *   uid/gid with no capabilities and no_new_privs, exec.
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
	const char *cgroups[JAIL_MAX_CGROUPS]; /* "key=value" */
	unsigned nr_cgroups;
	long long fsize, no_file; /* -1: unchanged */
	char *const *exec_args; /* after "--" */
	int nr_exec_args;
};

/* Copies the loader and shared libraries a dynamically linked exec needs
 * into the jail root (same paths), with the given copy and mkdir -p
 * helpers. 0, or -ENOENT/-ENOEXEC/-E2BIG. */
int jail_copy_libraries(const char *exec, const char *root,
			void (*copy)(const char *from, const char *to,
				     mode_t mode),
			void (*mkdirs)(char *path, mode_t mode));

/* Parses argv; exits 153 with a message on bad arguments. */
void jail_parse_args(int argc, char **argv, struct jail_opts *o);

#endif

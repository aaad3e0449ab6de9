// SPDX-License-Identifier: Apache-2.0
/* microvm-jailer's cgroups, as Firecracker's jailer makes them: each
 * --cgroup <controller>.<file>=VALUE is written to
 * <hierarchy>/<parent>/<id>/<controller>.<file>, where <hierarchy> is the
 * cgroup v1 mount whose options name the controller (--cgroup-version 1,
 * the default) or the cgroup v2 mount (--cgroup-version 2), both read from
 * /proc/mounts. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jailer/jailer.h"

struct hierarchy {
	char mnt[PATH_MAX];
	char dir[PATH_MAX]; /* <mnt>/<parent>/<id> */
	bool created;
};

static struct hierarchy hiers[JAIL_MAX_CGROUPS];
static unsigned nr_hiers, hier_of[JAIL_MAX_CGROUPS]; /* per --cgroup */
static int version;

/* "cpuset" of "cpuset.cpus=0-1" (args.c checked the form). */
static void controller_of(const char *spec, char *out, size_t size)
{
	size_t n = strcspn(spec, ".");

	snprintf(out, size, "%.*s", (int)n, spec);
}

/* The mount point of cgroup v2, or of the v1 hierarchy mounted with
 * `controller` among its options. */
static bool find_mount(const char *controller, char *out)
{
	char line[2048], point[PATH_MAX], type[32], opts[1024], *opt, *save;
	FILE *f = fopen("/proc/mounts", "re");
	bool found = false;

	while (f && !found && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*s %4095s %31s %1023s", point, type, opts) !=
		    3)
			continue;
		if (version == 2) {
			found = !strcmp(type, "cgroup2");
			continue;
		}
		if (strcmp(type, "cgroup"))
			continue;
		for (opt = strtok_r(opts, ",", &save); opt && !found;
		     opt = strtok_r(NULL, ",", &save))
			found = !strcmp(opt, controller);
	}
	if (f)
		fclose(f);
	if (found)
		memcpy(out, point, sizeof(point));
	return found;
}

/* The first line of a small file, without its newline ("" if none). */
static void read_line(const char *path, char *out, size_t size)
{
	FILE *f = fopen(path, "re");

	out[0] = '\0';
	if (f && fgets(out, (int)size, f))
		out[strcspn(out, "\n")] = '\0';
	if (f)
		fclose(f);
}

static bool v2_offers(const char *mnt, const char *controller)
{
	char path[PATH_MAX + 32], list[1024], *w, *save;
	bool found = false;

	jail_path(path, sizeof(path), "%s/cgroup.controllers", mnt);
	read_line(path, list, sizeof(list));
	for (w = strtok_r(list, " ", &save); w && !found;
	     w = strtok_r(NULL, " ", &save))
		found = !strcmp(w, controller);
	return found;
}

static unsigned add_hierarchy(const char *mnt, const char *parent,
			      const char *id)
{
	unsigned i;

	for (i = 0; i < nr_hiers; i++)
		if (!strcmp(hiers[i].mnt, mnt))
			return i;
	memcpy(hiers[i].mnt, mnt, sizeof(hiers[i].mnt));
	jail_path(hiers[i].dir, sizeof(hiers[i].dir), "%s/%s/%s", mnt, parent,
		  id);
	return nr_hiers++;
}

static void undo_cgroups(void);

void jail_cgroups_prepare(const struct jail_opts *o, const char *parent)
{
	char ctrl[64], mnt[PATH_MAX];
	unsigned i;

	jail_step = "cgroup";
	jail_undo_on_fail(undo_cgroups);
	version = o->cgroup_version;
	for (i = 0; i < o->nr_cgroups; i++) {
		controller_of(o->cgroups[i], ctrl, sizeof(ctrl));
		if (!find_mount(ctrl, mnt))
			jail_fail(
				version == 2 ?
					"no cgroup v2 hierarchy is mounted" :
					"Controller %s is unavailable: no cgroup v1 hierarchy is mounted with it",
				ctrl);
		if (version == 2 && !v2_offers(mnt, ctrl))
			jail_fail(
				"Controller %s is unavailable on the cgroup v2 hierarchy %s",
				ctrl, mnt);
		hier_of[i] = add_hierarchy(mnt, parent, o->id);
	}
	for (i = 0; i < nr_hiers; i++)
		if (rmdir(hiers[i].dir) && errno != ENOENT)
			jail_fail(
				"%s exists and is busy: a microvm with id %s still runs; its jail is left alone",
				hiers[i].dir, o->id);
}

/* cgroup v1 cpuset: a new cgroup has empty cpuset.cpus and cpuset.mems,
 * and no task may join it until both are set: take the level above's. */
static void inherit_cpuset(const char *dir)
{
	static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
	char path[PATH_MAX + 16], above[PATH_MAX + 16], value[1024];
	unsigned i;
	size_t up = (size_t)(strrchr(dir, '/') - dir);

	for (i = 0; i < 2; i++) {
		jail_path(path, sizeof(path), "%s/%s", dir, files[i]);
		read_line(path, value, sizeof(value));
		if (access(path, W_OK) || value[0])
			continue; /* not a cpuset hierarchy, or set already */
		jail_path(above, sizeof(above), "%.*s/%s", (int)up, dir,
			  files[i]);
		read_line(above, value, sizeof(value));
		jail_write_file(path, value);
	}
}

/* cgroup v2: lets the cgroups below dir use the controllers of h. */
static void enable_controllers(const struct jail_opts *o, unsigned h,
			       const char *dir)
{
	char path[PATH_MAX + 32], ctrl[64] = "+";
	unsigned i;

	jail_path(path, sizeof(path), "%s/cgroup.subtree_control", dir);
	for (i = 0; i < o->nr_cgroups; i++) {
		if (hier_of[i] != h)
			continue;
		controller_of(o->cgroups[i], ctrl + 1, sizeof(ctrl) - 1);
		jail_write_file(path, ctrl);
	}
}

/* Makes each level of <mnt>/<parent>/<id> below the mount, top down. */
static void make_cgroup(const struct jail_opts *o, unsigned h)
{
	struct hierarchy *hi = &hiers[h];
	char path[PATH_MAX];
	size_t i;

	memcpy(path, hi->dir, sizeof(path));
	if (version == 2)
		enable_controllers(o, h, hi->mnt);
	for (i = strlen(hi->mnt) + 1;; i++) {
		char c = path[i];

		if (c != '/' && c != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0755) && (errno != EEXIST || !c))
			jail_fail("mkdir %s: %s", path, strerror(errno));
		hi->created |= !c;
		if (version == 1)
			inherit_cpuset(path);
		else if (c)
			enable_controllers(o, h, path);
		path[i] = c;
		if (!c)
			return;
	}
}

static void set_value(const char *dir, const char *spec)
{
	char key[256], path[PATH_MAX + 256];
	size_t n = strcspn(spec, "=");

	snprintf(key, sizeof(key), "%.*s", (int)n, spec);
	jail_path(path, sizeof(path), "%s/%s", dir, key);
	if (access(path, W_OK))
		jail_fail("Cgroup invalid file: %s (no %s)", key, path);
	jail_write_file(path, spec + n + 1);
}

static void move_here(const char *dir, const char *file)
{
	char path[PATH_MAX + 32], pid[32];

	jail_path(path, sizeof(path), "%s/%s", dir, file);
	snprintf(pid, sizeof(pid), "%d", getpid());
	jail_write_file(path, pid);
}

/* --cgroup-version 2 without --cgroup: Firecracker's jailer moves itself
 * into <hierarchy>/<parent> when that exists. */
static void join_parent(const char *parent)
{
	char mnt[PATH_MAX], dir[PATH_MAX * 2];
	struct stat st;

	if (!find_mount(NULL, mnt))
		return;
	jail_path(dir, sizeof(dir), "%s/%s", mnt, parent);
	if (!stat(dir, &st) && S_ISDIR(st.st_mode))
		move_here(dir, "cgroup.procs");
}

void jail_cgroups_join(const struct jail_opts *o, const char *parent)
{
	unsigned i;

	jail_step = "cgroup";
	if (!o->nr_cgroups && version == 2)
		join_parent(parent);
	for (i = 0; i < nr_hiers; i++)
		make_cgroup(o, i);
	for (i = 0; i < o->nr_cgroups; i++)
		set_value(hiers[hier_of[i]].dir, o->cgroups[i]);
	for (i = 0; i < nr_hiers; i++)
		move_here(hiers[i].dir,
			  version == 2 ? "cgroup.procs" : "tasks");
}

/* Undo of a failed run: the cgroups it created. */
static void undo_cgroups(void)
{
	unsigned i;

	for (i = 0; i < nr_hiers; i++)
		if (hiers[i].created)
			rmdir(hiers[i].dir);
}

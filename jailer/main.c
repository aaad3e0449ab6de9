// SPDX-License-Identifier: Apache-2.0
/* microvm-jailer: the steps of jailer.h, in order, then exec. */

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jailer/jailer.h"

static const char *step = "start";
static char jail_dir[PATH_MAX]; /* <base>/<exec name>/<id> */
static char cgroup_dir[PATH_MAX];
static bool jail_created, pivoted;

/* The mount an open file is on, or 0. */
static uint64_t mount_id(int fd)
{
	struct statx sx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) ||
	    !(sx.stx_mask & STATX_MNT_ID))
		return 0;
	return sx.stx_mnt_id;
}

/* Removes what the directory `dir` (on mount `mnt`) holds, by handle: a
 * symlink is removed, never followed (openat O_NOFOLLOW), and a directory
 * on another mount (an orchestrator's bind mount) is never entered or
 * removed, so neither do the directories above it. The old VMM, if it
 * still runs, can move things under us, never out of the jail. */
static void remove_contents(int dir, uint64_t mnt)
{
	DIR *d = fdopendir(dup(dir));
	struct dirent *e;

	while (d && (e = readdir(d))) {
		int fd;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (!unlinkat(dir, e->d_name, 0) || errno != EISDIR)
			continue; /* gone, or busy: a file mounted over */
		fd = openat(dir, e->d_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (mount_id(fd) == mnt) {
			remove_contents(fd, mnt);
			unlinkat(dir, e->d_name, AT_REMOVEDIR);
		}
		close(fd);
	}
	if (d)
		closedir(d);
}

/* Removes a jail directory, staying on its own mount. */
static void remove_tree(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	uint64_t mnt = fd < 0 ? 0 : mount_id(fd);

	if (!mnt) {
		if (fd >= 0)
			close(fd);
		return;
	}
	remove_contents(fd, mnt);
	close(fd);
	rmdir(path);
}

/* Names the failed step, removes what this run built, exits 1. */
static void fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "microvm-jailer: %s: ", step);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (jail_created && !pivoted)
		remove_tree(jail_dir);
	if (cgroup_dir[0] && !pivoted)
		rmdir(cgroup_dir);
	exit(1);
}

/* snprintf for paths: a path that does not fit is an error, not cut. */
static void fmt_path(char *out, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fmt_path(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		fail("path too long: %s", out);
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : write(fd, text, strlen(text));

	if (n != (ssize_t)strlen(text))
		fail("cannot write '%s' to %s: %s", text, path,
		     strerror(errno));
	close(fd);
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t n;

	out = in < 0 ? -1 :
		       open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (in < 0 || out < 0)
		fail("cannot copy %s to %s: %s", from, to, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			fail("cannot copy %s: %s", from, strerror(errno));
	if (n < 0 || close(out))
		fail("cannot copy %s: %s", from, strerror(errno));
	close(in);
}

static void mkdirs(char *path, mode_t mode)
{
	char *p;

	for (p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, mode) && errno != EEXIST)
			fail("mkdir %s: %s", path, strerror(errno));
		*p = '/';
	}
	if (mkdir(path, mode) && errno != EEXIST)
		fail("mkdir %s: %s", path, strerror(errno));
}

/* Builds <base>/<name>/<id>/root with the binary in it; a jail left over
 * by an earlier run with this id is removed first. */
static void build_jail(const struct jail_opts *o, const char *name, char *root,
		       size_t size)
{
	struct stat st;
	char dst[PATH_MAX];

	step = "exec-file";
	if (stat(o->exec_file, &st) || !S_ISREG(st.st_mode) ||
	    !(st.st_mode & S_IXUSR))
		fail("%s is not an executable file", o->exec_file);
	step = "jail";
	fmt_path(jail_dir, sizeof(jail_dir), "%s/%s/%s", o->base_dir, name,
		 o->id);
	fmt_path(root, size, "%s/root", jail_dir);
	if (!lstat(jail_dir, &st))
		remove_tree(jail_dir); /* stale: its run was killed */
	jail_created = true;
	mkdirs(root, 0755);
	fmt_path(dst, sizeof(dst), "%s/%s", root, name);
	copy_file(o->exec_file, dst, 0755);
	step = "libraries";
	if (jail_copy_libraries(o->exec_file, root, copy_file, mkdirs))
		fail("cannot find the shared libraries %s needs", o->exec_file);
	step = "jail";
	if (chown(root, o->uid, o->gid))
		fail("chown %s: %s", root, strerror(errno));
}

static void join_netns(const char *path)
{
	int fd;

	step = "netns";
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail("cannot open network namespace %s: %s", path,
		     strerror(errno));
	if (setns(fd, CLONE_NEWNET))
		fail("cannot join %s: %s", path, strerror(errno));
	close(fd);
}

static void set_limit(int resource, long long value, const char *name)
{
	struct rlimit rl = { (rlim_t)value, (rlim_t)value };

	if (value >= 0 && setrlimit(resource, &rl))
		fail("%s=%lld: %s", name, value, strerror(errno));
}

/* The mount point of the cgroup v2 hierarchy, from /proc/self/mountinfo. */
static bool find_cgroup2(char *out, size_t size)
{
	char line[1024], point[PATH_MAX];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	bool found = false;

	while (f && !found && fgets(line, sizeof(line), f)) {
		const char *sep = strstr(line, " - cgroup2 ");

		if (sep && sscanf(line, "%*s %*s %*s %*s %4095s", point) == 1) {
			snprintf(out, size, "%s", point);
			found = true;
		}
	}
	if (f)
		fclose(f);
	return found;
}

/* Enables the controller a "memory.max=..." key needs down to dir. */
static void enable_controller(const char *mnt, const char *parent,
			      const char *key)
{
	char ctrl[64], path[PATH_MAX + 64];
	size_t n = strcspn(key, ".");

	if (n == 0 || n >= sizeof(ctrl) - 1)
		fail("invalid key '%s'", key);
	ctrl[0] = '+';
	memcpy(ctrl + 1, key, n);
	ctrl[n + 1] = '\0';
	fmt_path(path, sizeof(path), "%s/cgroup.subtree_control", mnt);
	write_file(path, ctrl);
	fmt_path(path, sizeof(path), "%s/%s/cgroup.subtree_control", mnt,
		 parent);
	write_file(path, ctrl);
}

static void set_cgroup_value(const char *spec)
{
	char key[128], path[PATH_MAX + 128];
	const char *eq = strchr(spec, '=');
	size_t n = (size_t)(eq - spec);

	snprintf(key, sizeof(key), "%.*s", (int)n, spec);
	fmt_path(path, sizeof(path), "%s/%s", cgroup_dir, key);
	if (access(path, W_OK))
		fail("unknown or unavailable key '%s' (no %s: is its controller enabled on this host's cgroup v2?)",
		     key, path);
	write_file(path, eq + 1);
}

static char cgroup_mnt[PATH_MAX];

/* Before anything of an old jail with this id is touched: its cgroup
 * <mnt>/<parent>/<id> is removed when empty; one that still holds a
 * process (or a child cgroup) means that microvm still runs: stop. */
static void remove_old_cgroup(const struct jail_opts *o, const char *name)
{
	step = "cgroup";
	if (!find_cgroup2(cgroup_mnt, sizeof(cgroup_mnt)))
		fail("no cgroup v2 hierarchy is mounted");
	fmt_path(cgroup_dir, sizeof(cgroup_dir), "%s/%s/%s", cgroup_mnt,
		 o->parent_cgroup ? o->parent_cgroup : name, o->id);
	if (rmdir(cgroup_dir) && errno != ENOENT)
		fail("%s exists and is busy: a microvm with id %s still runs; its jail is left alone",
		     cgroup_dir, o->id);
}

static void join_cgroup(const struct jail_opts *o, const char *name)
{
	const char *parent = o->parent_cgroup ? o->parent_cgroup : name;
	char path[PATH_MAX * 2], pid[32];
	unsigned i;

	step = "cgroup";
	fmt_path(path, sizeof(path), "%s/%s", cgroup_mnt, parent);
	mkdirs(path, 0755);
	for (i = 0; i < o->nr_cgroups; i++)
		enable_controller(cgroup_mnt, parent, o->cgroups[i]);
	if (mkdir(cgroup_dir, 0755))
		fail("mkdir %s: %s", cgroup_dir, strerror(errno));
	for (i = 0; i < o->nr_cgroups; i++)
		set_cgroup_value(o->cgroups[i]);
	fmt_path(path, sizeof(path), "%s/cgroup.procs", cgroup_dir);
	snprintf(pid, sizeof(pid), "%d", getpid());
	write_file(path, pid);
}

struct device {
	const char *path;
	bool required;
	mode_t mode;
	dev_t rdev; /* 0: absent on the host */
};

static struct device devices[] = {
	{ "/dev/kvm", true, 0600, 0 },
	{ "/dev/net/tun", true, 0600, 0 },
	{ "/dev/urandom", true, 0600, 0 },
	{ "/dev/userfaultfd", false, 0600, 0 },
};

/* Reads the host's device numbers while the host /dev is still visible. */
static void find_devices(void)
{
	unsigned i;
	struct stat st;

	step = "devices";
	for (i = 0; i < sizeof(devices) / sizeof(devices[0]); i++) {
		if (!stat(devices[i].path, &st) && S_ISCHR(st.st_mode))
			devices[i].rdev = st.st_rdev;
		else if (devices[i].required)
			fail("%s is missing on this host", devices[i].path);
	}
}

static void make_devices(uid_t uid, gid_t gid)
{
	unsigned i;

	step = "devices";
	if ((mkdir("/dev", 0755) && errno != EEXIST) ||
	    (mkdir("/dev/net", 0755) && errno != EEXIST))
		fail("mkdir /dev: %s", strerror(errno));
	for (i = 0; i < sizeof(devices) / sizeof(devices[0]); i++) {
		if (!devices[i].rdev)
			continue;
		if (mknod(devices[i].path, S_IFCHR | devices[i].mode,
			  devices[i].rdev) ||
		    fchownat(AT_FDCWD, devices[i].path, uid, gid,
			     AT_SYMLINK_NOFOLLOW))
			fail("%s: %s", devices[i].path, strerror(errno));
	}
}

/* New mount namespace; the jail's root becomes "/" and the host's root
 * is detached. */
static void enter_jail(const char *root)
{
	step = "pivot_root";
	if (unshare(CLONE_NEWNS))
		fail("unshare(CLONE_NEWNS): %s", strerror(errno));
	if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) ||
	    mount(root, root, NULL, MS_BIND | MS_REC, NULL) || chdir(root) ||
	    mkdir("old_root", 0700))
		fail("preparing %s: %s", root, strerror(errno));
	if (syscall(SYS_pivot_root, ".", "old_root"))
		fail("pivot_root: %s", strerror(errno));
	pivoted = true;
	if (chdir("/") || umount2("/old_root", MNT_DETACH) ||
	    rmdir("/old_root"))
		fail("detaching the old root: %s", strerror(errno));
}

static pid_t pid_ns_child;

static void forward_signal(int sig)
{
	kill(pid_ns_child, sig);
}

/* Runs the rest in a child that is pid 1 of a new pid namespace; this
 * process passes SIGTERM, SIGINT and SIGHUP on to it, waits, and exits with
 * its status (or at once with --daemonize). */
static void enter_pid_ns(bool daemonize)
{
	struct sigaction sa = { .sa_handler = forward_signal };
	int status;
	pid_t child;

	step = "new-pid-ns";
	if (unshare(CLONE_NEWPID))
		fail("unshare(CLONE_NEWPID): %s", strerror(errno));
	child = fork();
	if (child < 0)
		fail("fork: %s", strerror(errno));
	if (child == 0)
		return;
	if (daemonize)
		exit(0);
	pid_ns_child = child;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			exit(1);
	exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

static void daemonize(int null_fd)
{
	pid_t child;

	step = "daemonize";
	child = fork();
	if (child < 0)
		fail("fork: %s", strerror(errno));
	if (child > 0)
		exit(0);
	if (setsid() < 0 || dup2(null_fd, 0) < 0 || dup2(null_fd, 1) < 0 ||
	    dup2(null_fd, 2) < 0)
		exit(1);
}

static void drop_privileges(uid_t uid, gid_t gid)
{
	step = "drop privileges";
	if (setgroups(0, NULL) || setresgid(gid, gid, gid) ||
	    setresuid(uid, uid, uid))
		fail("to %u:%u: %s", uid, gid, strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		fail("no_new_privs: %s", strerror(errno));
}

static void exec_monitor(const struct jail_opts *o, const char *name)
{
	char path[PATH_MAX], *argv[JAIL_MAX_ARGS + 4], *envp[] = { NULL };
	static char id[72];
	int i, n = 0;

	snprintf(id, sizeof(id), "%s", o->id);
	step = "exec";
	fmt_path(path, sizeof(path), "/%s", name);
	argv[n++] = path;
	argv[n++] = "--id";
	argv[n++] = id;
	for (i = 0; i < o->nr_exec_args; i++)
		argv[n++] = o->exec_args[i];
	argv[n] = NULL;
	execve(path, argv, envp);
	fail("%s: %s", path, strerror(errno));
}

int main(int argc, char **argv)
{
	struct jail_opts o;
	char root[PATH_MAX], exec_copy[PATH_MAX], *name;
	int null_fd;

	jail_parse_args(argc, argv, &o);
	step = "close fds";
	if (syscall(SYS_close_range, 3, ~0U, 0))
		fail("close_range: %s", strerror(errno));
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	clearenv();
	snprintf(exec_copy, sizeof(exec_copy), "%s", o.exec_file);
	name = basename(exec_copy);
	if (o.nr_cgroups || o.parent_cgroup)
		remove_old_cgroup(&o, name);
	build_jail(&o, name, root, sizeof(root));
	if (o.netns)
		join_netns(o.netns);
	step = "resource-limit";
	set_limit(RLIMIT_FSIZE, o.fsize, "fsize");
	set_limit(RLIMIT_NOFILE, o.no_file, "no-file");
	if (o.nr_cgroups || o.parent_cgroup)
		join_cgroup(&o, name);
	find_devices();
	enter_jail(root);
	make_devices(o.uid, o.gid);
	if (o.new_pid_ns)
		enter_pid_ns(o.daemonize);
	else if (o.daemonize)
		daemonize(null_fd);
	drop_privileges(o.uid, o.gid);
	exec_monitor(&o, name);
	return 1;
}

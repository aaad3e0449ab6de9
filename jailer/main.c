// SPDX-License-Identifier: Apache-2.0
/* microvm-jailer: the steps of jailer.h, in order, then exec. */

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
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
#include <time.h>
#include <unistd.h>

#include "jailer/jailer.h"

static char jail_dir[PATH_MAX]; /* <base>/<exec name>/<id> */

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

static void copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t n;

	out = in < 0 ? -1 :
		       open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (in < 0 || out < 0)
		jail_fail("cannot copy %s to %s: %s", from, to,
			  strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			jail_fail("cannot copy %s: %s", from, strerror(errno));
	if (n < 0 || close(out))
		jail_fail("cannot copy %s: %s", from, strerror(errno));
	close(in);
}

/* Undo of a failed run: its jail directory. */
static void remove_jail(void)
{
	remove_tree(jail_dir);
}

/* Builds <base>/<name>/<id>/root with the binary in it. A jail left over
 * by an earlier run with this id (its root holds <name>.pid) is removed
 * first; what an orchestrator placed in a new jail before starting the
 * jailer is kept, as Firecracker's jailer keeps it (Kata Containers puts
 * its config file, kernel and placeholder drives there). */
static void build_jail(const struct jail_opts *o, const char *exec,
		       const char *name, char *root, size_t size)
{
	struct stat st;
	char dst[PATH_MAX];

	jail_step = "jail";
	jail_path(jail_dir, sizeof(jail_dir), "%s/%s/%s", o->base_dir, name,
		  o->id);
	jail_path(root, size, "%s/root", jail_dir);
	jail_path(dst, sizeof(dst), "%s/%s.pid", root, name);
	if (!lstat(dst, &st))
		remove_tree(jail_dir); /* stale: its run was killed */
	if (lstat(jail_dir, &st)) /* else not ours to remove on a failure */
		jail_undo_on_fail(remove_jail);
	jail_mkdirs(root, 0700);
	jail_path(dst, sizeof(dst), "%s/%s", root, name);
	copy_file(exec, dst, 0755);
	jail_step = "libraries";
	if (jail_copy_libraries(exec, root, copy_file, jail_mkdirs))
		jail_fail("cannot find the shared libraries %s needs", exec);
}

static void join_netns(const char *path)
{
	int fd;

	jail_step = "netns";
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		jail_fail("cannot open network namespace %s: %s", path,
			  strerror(errno));
	if (setns(fd, CLONE_NEWNET))
		jail_fail("cannot join %s: %s", path, strerror(errno));
	close(fd);
}

static void set_limit(int resource, long long value, const char *name)
{
	struct rlimit rl = { (rlim_t)value, (rlim_t)value };

	if (value >= 0 && setrlimit(resource, &rl))
		jail_fail("%s=%lld: %s", name, value, strerror(errno));
}

struct device {
	const char *path;
	unsigned major, minor;
	bool optional;
};

/* Firecracker's jailer's nodes, by their fixed numbers (devices.txt);
 * userfaultfd's minor is dynamic: read from /proc/misc, absent when the
 * host has none. */
static struct device devices[] = {
	{ "/dev/net/tun", 10, 200, false },
	{ "/dev/kvm", 10, 232, false },
	{ "/dev/urandom", 1, 9, true },
	{ "/dev/userfaultfd", 10, 0, true },
};

#define UFFD_DEVICE 3

/* Reads userfaultfd's minor while the host's /proc is still visible. */
static void find_userfaultfd(void)
{
	char line[128], name[64];
	unsigned minor;
	FILE *f = fopen("/proc/misc", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%u %63s", &minor, name) == 2 &&
		    !strcmp(name, "userfaultfd"))
			devices[UFFD_DEVICE].minor = minor;
	if (f)
		fclose(f);
}

/* Firecracker's folders in the jail, owned by uid:gid, mode 0700: / (for
 * the API socket), /dev, /dev/net, and /run (its default API socket is
 * /run/firecracker.socket). */
static void make_folders(uid_t uid, gid_t gid)
{
	static const char *const folders[] = { "/", "/dev", "/dev/net",
					       "/run" };
	unsigned i;

	jail_step = "folders";
	for (i = 0; i < sizeof(folders) / sizeof(folders[0]); i++)
		if ((mkdir(folders[i], 0700) && errno != EEXIST) ||
		    chmod(folders[i], 0700) || chown(folders[i], uid, gid))
			jail_fail("%s: %s", folders[i], strerror(errno));
}

static void make_devices(uid_t uid, gid_t gid)
{
	unsigned i;

	jail_step = "devices";
	for (i = 0; i < sizeof(devices) / sizeof(devices[0]); i++) {
		const struct device *d = &devices[i];

		if (i == UFFD_DEVICE && !d->minor)
			continue;
		if (!mknod(d->path, S_IFCHR | 0600,
			   makedev(d->major, d->minor)) &&
		    !fchownat(AT_FDCWD, d->path, uid, gid, AT_SYMLINK_NOFOLLOW))
			continue;
		if (!d->optional)
			jail_fail("%s: %s", d->path, strerror(errno));
		fprintf(stderr, "microvm-jailer: warning: no %s: %s\n", d->path,
			strerror(errno));
	}
}

/* New mount namespace; the jail's root becomes "/" and the host's root
 * is detached. */
static void enter_jail(const char *root)
{
	jail_step = "pivot_root";
	if (unshare(CLONE_NEWNS))
		jail_fail("unshare(CLONE_NEWNS): %s", strerror(errno));
	if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) ||
	    mount(root, root, NULL, MS_BIND | MS_REC, NULL) || chdir(root) ||
	    mkdir("old_root", 0700))
		jail_fail("preparing %s: %s", root, strerror(errno));
	if (syscall(SYS_pivot_root, ".", "old_root"))
		jail_fail("pivot_root: %s", strerror(errno));
	jail_undo_forget(); /* the jail and cgroups are in use from here */
	if (chdir("/") || umount2("/old_root", MNT_DETACH) ||
	    rmdir("/old_root"))
		jail_fail("detaching the old root: %s", strerror(errno));
}

/* --daemonize as Firecracker's jailer: fork (the child is no process group
 * leader, so setsid works), setsid, fork again (no session leader: it
 * cannot get a controlling terminal), stdio to /dev/null. The first two
 * exit 0. */
static void daemonize(int null_fd)
{
	pid_t child;

	jail_step = "daemonize";
	child = fork();
	if (child < 0)
		jail_fail("fork: %s", strerror(errno));
	if (child > 0)
		exit(0);
	if (setsid() < 0)
		jail_fail("setsid: %s", strerror(errno));
	child = fork();
	if (child < 0)
		jail_fail("fork: %s", strerror(errno));
	if (child > 0)
		exit(0);
	if (dup2(null_fd, 0) < 0 || dup2(null_fd, 1) < 0 ||
	    dup2(null_fd, 2) < 0)
		exit(1);
}

/* /<exec name>.pid in the jail: the monitor's pid as the host sees it. */
static void write_pid_file(const char *name, pid_t pid)
{
	char path[PATH_MAX], text[32];
	int fd, n;

	jail_step = "pid file";
	jail_path(path, sizeof(path), "/%s.pid", name);
	n = snprintf(text, sizeof(text), "%d", pid);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0644);
	if (fd < 0 || write(fd, text, (size_t)n) != n || close(fd))
		jail_fail("%s: %s", path, strerror(errno));
}

/* --new-pid-ns as Firecracker's jailer: the child is pid 1 of a new pid
 * namespace and goes on to exec the monitor; this process writes the
 * child's pid file and exits 0 at once. A child of a session leader gets
 * a session of its own, so the jailer's exit sends it no SIGHUP. */
static void enter_pid_ns(const char *name)
{
	bool session_leader = getsid(0) == getpid();
	pid_t child;

	jail_step = "new-pid-ns";
	if (unshare(CLONE_NEWPID))
		jail_fail("unshare(CLONE_NEWPID): %s", strerror(errno));
	child = fork();
	if (child < 0)
		jail_fail("fork: %s", strerror(errno));
	if (child > 0) {
		write_pid_file(name, child);
		exit(0);
	}
	if (session_leader && setsid() < 0)
		jail_fail("setsid: %s", strerror(errno));
}

static void drop_privileges(uid_t uid, gid_t gid)
{
	jail_step = "drop privileges";
	if (setgroups(0, NULL) || setresgid(gid, gid, gid) ||
	    setresuid(uid, uid, uid))
		jail_fail("to %u:%u: %s", uid, gid, strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		jail_fail("no_new_privs: %s", strerror(errno));
}

static unsigned long long now_us(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (unsigned long long)ts.tv_sec * 1000000 +
	       (unsigned long long)ts.tv_nsec / 1000;
}

/* Firecracker's jailer's arguments: --id, then the start times its
 * boot-time metrics use (the jailer's start, this process's CPU time now,
 * the jailer's CPU time), then the caller's. */
static void exec_monitor(const struct jail_opts *o, const char *name,
			 unsigned long long start_us,
			 unsigned long long parent_cpu_us)
{
	char path[PATH_MAX], *argv[JAIL_MAX_ARGS + 10], *envp[] = { NULL };
	static char id[72], start[24], cpu[24], parent_cpu[24];
	int i, n = 0;

	snprintf(id, sizeof(id), "%s", o->id);
	snprintf(start, sizeof(start), "%llu", start_us);
	snprintf(parent_cpu, sizeof(parent_cpu), "%llu", parent_cpu_us);
	snprintf(cpu, sizeof(cpu), "%llu", now_us(CLOCK_PROCESS_CPUTIME_ID));
	jail_step = "exec";
	jail_path(path, sizeof(path), "/%s", name);
	argv[n++] = path;
	argv[n++] = "--id";
	argv[n++] = id;
	argv[n++] = "--start-time-us";
	argv[n++] = start;
	argv[n++] = "--start-time-cpu-us";
	argv[n++] = cpu;
	argv[n++] = "--parent-cpu-time-us";
	argv[n++] = parent_cpu;
	for (i = 0; i < o->nr_exec_args; i++)
		argv[n++] = o->exec_args[i];
	argv[n] = NULL;
	execve(path, argv, envp);
	jail_fail("%s: %s", path, strerror(errno));
}

/* --exec-file and --chroot-base-dir may be relative, as Firecracker's
 * jailer takes them (it canonicalizes both); the base is made if missing. */
static void resolve_paths(struct jail_opts *o, char *exec, char *base)
{
	struct stat st;
	char dir[PATH_MAX];

	jail_step = "exec-file";
	if (!realpath(o->exec_file, exec) || stat(exec, &st) ||
	    !S_ISREG(st.st_mode) || !(st.st_mode & S_IXUSR))
		jail_fail("%s is not an executable file", o->exec_file);
	jail_step = "chroot-base-dir";
	snprintf(dir, sizeof(dir), "%s", o->base_dir);
	jail_mkdirs(dir, 0755);
	if (!realpath(o->base_dir, base))
		jail_fail("%s: %s", o->base_dir, strerror(errno));
	o->exec_file = exec;
	o->base_dir = base;
}

/* The name the exec file is given by: a symlink's own name, not its
 * target's (Firecracker's jailer takes the target's), so that the jail
 * folder, the exec'd name and the pid file are what a client computes
 * from the path it passes (the Go SDK: <base>/<basename>/<id>/root) when
 * `firecracker` is make install-compat's symlink to microvm. */
static const char *exec_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;

	jail_step = "exec-file";
	if (!name[0] || !strcmp(name, ".") || !strcmp(name, ".."))
		jail_fail("%s names no file", path);
	return name;
}

int main(int argc, char **argv)
{
	unsigned long long start_us = now_us(CLOCK_MONOTONIC),
			   start_cpu_us = now_us(CLOCK_PROCESS_CPUTIME_ID);
	struct jail_opts o;
	char root[PATH_MAX], exec[PATH_MAX], base[PATH_MAX];
	const char *name;
	unsigned long long jailer_cpu_us;
	int null_fd;

	jail_parse_args(argc, argv, &o);
	jail_step = "close fds";
	if (syscall(SYS_close_range, 3, ~0U, 0))
		jail_fail("close_range: %s", strerror(errno));
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	clearenv();
	name = exec_name(o.exec_file);
	resolve_paths(&o, exec, base);
	jail_cgroups_prepare(&o, o.parent_cgroup ? o.parent_cgroup : name);
	build_jail(&o, exec, name, root, sizeof(root));
	if (o.netns)
		join_netns(o.netns);
	jail_step = "resource-limit";
	set_limit(RLIMIT_FSIZE, o.fsize, "fsize");
	set_limit(RLIMIT_NOFILE, o.no_file, "no-file");
	jail_cgroups_join(&o, o.parent_cgroup ? o.parent_cgroup : name);
	find_userfaultfd();
	enter_jail(root);
	make_folders(o.uid, o.gid);
	make_devices(o.uid, o.gid);
	/* before the forks: a child's CPU clock starts at 0 */
	jailer_cpu_us = now_us(CLOCK_PROCESS_CPUTIME_ID) - start_cpu_us;
	if (o.daemonize)
		daemonize(null_fd);
	if (o.new_pid_ns)
		enter_pid_ns(name);
	else
		write_pid_file(name, getpid());
	drop_privileges(o.uid, o.gid);
	exec_monitor(&o, name, start_us, jailer_cpu_us);
	return 1;
}

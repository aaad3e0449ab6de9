// SPDX-License-Identifier: Apache-2.0
/* The VMM thread's filter checks arguments (finding 11): no executable
 * memory, Unix sockets only, tgkill with the kick signal only, openat with
 * the flags microvm uses only. Each call runs in a child under the filter;
 * a blocked one ends it with 148 through microvm's SIGSYS handler.
 * --seccomp-filter files (Firecracker's seccompiler-bin format): hostile
 * files refused with a reason, a valid one's programs installed as they
 * are, an empty program installing nothing. */
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/unit.h"

/* Runs call() on a child under the VMM thread's filter: its exit code.
 * The child prepares the filters itself, so that microvm's SIGSYS handler
 * replaces the one cmocka installs for each test. */
static int under_vmm_filter(long (*call)(void))
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		signal(VCPU_KICK_SIGNAL, SIG_IGN);
		if (seccomp_prepare(false, NULL) ||
		    seccomp_install(SECCOMP_THREAD_VMM))
			_exit(1);
		_exit(call() < 0 ? 2 : 0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static long map(int prot)
{
	void *p = mmap(NULL, 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? -1 : 0;
}

static long map_rw(void)
{
	return map(PROT_READ | PROT_WRITE);
}

static long map_exec(void)
{
	return map(PROT_READ | PROT_EXEC);
}

static long protect_exec(void)
{
	static char page[4096] __attribute__((aligned(4096)));

	return mprotect(page, sizeof(page), PROT_READ | PROT_EXEC);
}

static long unix_socket(void)
{
	return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

static long inet_socket(void)
{
	return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

static long netlink_socket(void)
{
	return socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
}

static long kick_self(void)
{
	return syscall(SYS_tgkill, getpid(), gettid(), VCPU_KICK_SIGNAL);
}

static long term_self(void)
{
	return syscall(SYS_tgkill, getpid(), gettid(), SIGTERM);
}

static long open_log(void)
{
	return openat(AT_FDCWD, "/dev/null",
		      O_RDWR | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC,
		      0600);
}

static long open_path(void)
{
	return openat(AT_FDCWD, "/", O_PATH | O_CLOEXEC);
}

static long open_directory(void)
{
	return openat(AT_FDCWD, "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void test_vmm_thread_arguments(void **state)
{
#ifdef __SANITIZE_ADDRESS__
	skip(); /* ASan's runtime makes calls no filter allows (sigaltstack) */
#endif
	assert_int_equal(under_vmm_filter(map_rw), 0);
	assert_int_equal(under_vmm_filter(map_exec), EXIT_SECCOMP);
	assert_int_equal(under_vmm_filter(protect_exec), EXIT_SECCOMP);
	assert_int_equal(under_vmm_filter(unix_socket), 0);
	assert_int_equal(under_vmm_filter(inet_socket), EXIT_SECCOMP);
	assert_int_equal(under_vmm_filter(netlink_socket), EXIT_SECCOMP);
	assert_int_equal(under_vmm_filter(kick_self), 0);
	assert_int_equal(under_vmm_filter(term_self), EXIT_SECCOMP);
	assert_int_equal(under_vmm_filter(open_log), 0);
	assert_int_equal(under_vmm_filter(open_path), EXIT_SECCOMP);
	assert_int_equal(under_vmm_filter(open_directory), EXIT_SECCOMP);
}

/* ---- --seccomp-filter files ---- */

struct file {
	uint8_t b[120000];
	size_t n;
};

static void put_u64(struct file *f, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		f->b[f->n++] = (uint8_t)(v >> (8 * i));
}

static void put_insn(struct file *f, uint16_t code, uint32_t k)
{
	struct sock_filter insn = { .code = code, .k = k };

	memcpy(f->b + f->n, &insn, sizeof(insn)); /* little-endian host */
	f->n += sizeof(insn);
}

static void put_name(struct file *f, const char *name)
{
	put_u64(f, strlen(name));
	memcpy(f->b + f->n, name, strlen(name));
	f->n += strlen(name);
}

/* A program that traps getppid and allows the rest (the test's marker
 * call), or one that allows everything, or an empty one. */
enum prog { TRAP_GETPPID, ALLOW_ALL, EMPTY };

static void put_prog(struct file *f, const char *name, enum prog p)
{
	put_name(f, name);
	if (p == EMPTY) {
		put_u64(f, 0);
		return;
	}
	if (p == ALLOW_ALL) {
		put_u64(f, 1);
		put_insn(f, BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
		return;
	}
	put_u64(f, 4);
	put_insn(f, BPF_LD | BPF_W | BPF_ABS,
		 offsetof(struct seccomp_data, nr));
	put_insn(f, BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid);
	f->b[f->n - 8 + 3] = 1; /* jf: skip the trap */
	put_insn(f, BPF_RET | BPF_K, SECCOMP_RET_TRAP);
	put_insn(f, BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
}

static struct file *three(enum prog api, enum prog vmm, enum prog vcpu)
{
	static struct file f;

	f.n = 0;
	put_u64(&f, 3);
	put_prog(&f, "vcpu", vcpu); /* any order, as a hash map writes it */
	put_prog(&f, "api", api);
	put_prog(&f, "vmm", vmm);
	return &f;
}

static const char *parse(struct file *f)
{
	struct sock_fprog progs[SECCOMP_FILE_KINDS];
	const char *why = seccomp_file_parse(f->b, f->n, progs);

	seccomp_file_free(progs);
	return why;
}

static void assert_refused(struct file *f, const char *reason)
{
	const char *why = parse(f);

	assert_non_null(why);
	if (!strstr(why, reason))
		fail_msg("\"%s\" does not say \"%s\"", why, reason);
}

static void test_file_hostile(void **state)
{
	struct file *f = three(EMPTY, EMPTY, EMPTY);
	size_t whole = f->n, cut;

	assert_null(parse(f));
	for (cut = 0; cut < whole; cut++) { /* every truncation */
		f->n = cut;
		assert_refused(f, "truncated");
	}
	f = three(ALLOW_ALL, EMPTY, EMPTY);
	memcpy(f->b + 8 + 20 + 8, "xyz", 3); /* "api" -> "xyz" */
	assert_refused(f, "invalid thread category");
	f->n = 0;
	put_u64(f, 2);
	put_prog(f, "api", EMPTY);
	put_prog(f, "vmm", EMPTY);
	assert_refused(f, "missing thread category: vcpu");
	f->n = 0;
	put_u64(f, 3);
	put_prog(f, "api", EMPTY);
	put_prog(f, "api", EMPTY);
	put_prog(f, "vmm", EMPTY);
	assert_refused(f, "named twice");
	f->n = 0;
	put_u64(f, UINT64_MAX);
	assert_refused(f, "more thread categories");
	f->n = 0;
	put_u64(f, 1);
	put_u64(f, UINT64_MAX); /* a name's length */
	assert_refused(f, "invalid thread category");
	f->n = 0;
	put_u64(f, 1);
	put_name(f, "vmm");
	put_u64(f, UINT64_MAX / 8); /* instructions, without the bytes */
	assert_refused(f, "longer than 4096");
	f->n = 0;
	put_u64(f, 1);
	put_name(f, "vmm");
	put_u64(f, 4096);
	assert_refused(f, "truncated");
	f->n = 100001;
	assert_refused(f, "larger than 100000 bytes");
}

/* Runs getppid() in a child under one custom thread kind: exit code. */
static int under_custom(struct file *f, unsigned thread)
{
	struct sock_fprog progs[SECCOMP_FILE_KINDS];
	pid_t pid;
	int status;

	assert_null(seccomp_file_parse(f->b, f->n, progs));
	pid = fork();
	if (pid == 0) {
		if (seccomp_prepare(false, progs) || seccomp_install(thread))
			_exit(1);
		_exit(getppid() > 0 ? 0 : 2);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	seccomp_file_free(progs);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_file_programs_installed(void **state)
{
#ifdef __SANITIZE_ADDRESS__
	skip(); /* ASan's runtime makes calls the test filter traps */
#endif
	struct file *f = three(TRAP_GETPPID, ALLOW_ALL, EMPTY);

	assert_int_equal(under_custom(f, SECCOMP_THREAD_API), EXIT_SECCOMP);
	assert_int_equal(under_custom(f, SECCOMP_THREAD_VMM), 0);
	assert_int_equal(under_custom(f, SECCOMP_THREAD_VCPU), 0);
	f = three(EMPTY, TRAP_GETPPID, ALLOW_ALL);
	assert_int_equal(under_custom(f, SECCOMP_THREAD_API), 0);
	assert_int_equal(under_custom(f, SECCOMP_THREAD_VMM), EXIT_SECCOMP);
	f = three(EMPTY, EMPTY, TRAP_GETPPID);
	assert_int_equal(under_custom(f, SECCOMP_THREAD_VCPU), EXIT_SECCOMP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmm_thread_arguments),
		cmocka_unit_test(test_file_hostile),
		cmocka_unit_test(test_file_programs_installed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

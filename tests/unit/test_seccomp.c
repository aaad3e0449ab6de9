// SPDX-License-Identifier: Apache-2.0
/* The VMM thread's filter checks arguments (finding 11): no executable
 * memory, Unix sockets only, tgkill with the kick signal only, openat with
 * the flags microvm uses only. Each call runs in a child under the filter;
 * a blocked one ends it with 148 through microvm's SIGSYS handler. */
#include <fcntl.h>
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
		if (seccomp_prepare(false) ||
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmm_thread_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Only KVM faked: a test binary that includes this defines ioctl(), which
 * the library's calls then reach instead of libc's. Requests on
 * FAKE_VM_FD go to the test's fake_kvm_ioctl(); every other fd (taps,
 * io_uring, ...) goes to the kernel. Include it in one file per binary. */
#ifndef MICROVM_FAKE_KVM_H
#define MICROVM_FAKE_KVM_H

#include <linux/kvm.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FAKE_VM_FD 1000 /* never opened by the tests */

/* The test's answer to a KVM request on FAKE_VM_FD. */
static int fake_kvm_ioctl(unsigned long req, void *arg);

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (fd == FAKE_VM_FD)
		return fake_kvm_ioctl(req, arg);
	return (int)syscall(SYS_ioctl, fd, req, arg);
}

#endif

// SPDX-License-Identifier: Apache-2.0
/* The monitor's side of the Uffd memory backend (API-CONTRACT.md): guest
 * RAM is anonymous memory registered with a userfaultfd, which goes to the
 * page-fault handler listening on backend_path with a JSON description of
 * the mapping. The connection stays open for the VM's life: the handler
 * sees it close when microvm exits. With a balloon, UFFD_FEATURE_EVENT_REMOVE
 * is asked for, as Firecracker does: pages the balloon gives back
 * (MADV_DONTNEED) reach the handler as a remove event, which it must read
 * before the madvise returns, so that it serves them as zero pages
 * afterwards and not the memory file's stale contents. Without a balloon it
 * is not: a rewind's MADV_DONTNEED must send the next touch to the handler
 * for the snapshot's page, not have it note a removal. */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "snapshot/snapshot.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

/* userfaultfd(2), or /dev/userfaultfd where the syscall is restricted. */
static int open_uffd(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	int dev;

	if (fd >= 0)
		return fd;
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -errno;
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	close(dev);
	return fd < 0 ? -errno : fd;
}

static int register_memory(int uffd, const struct guest_mem *mem,
			   bool remove_events)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = remove_events ? UFFD_FEATURE_EVENT_REMOVE : 0,
	};
	struct uffdio_register reg = {
		.range = { (uint64_t)(uintptr_t)mem->host, mem->size },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	if (ioctl(uffd, UFFDIO_API, &api) < 0 ||
	    ioctl(uffd, UFFDIO_REGISTER, &reg) < 0)
		return -errno;
	return 0;
}

size_t snap_uffd_message(const struct guest_mem *mem, char *buf, size_t size)
{
	return (size_t)snprintf(
		buf, size,
		"[{\"base_host_virt_addr\":%llu,\"size\":%llu,\"offset\":0,\"page_size\":%zu,\"page_size_kib\":%zu}]",
		(unsigned long long)(uintptr_t)mem->host,
		(unsigned long long)mem->size, mem->page_size,
		mem->page_size / 1024);
}

static int send_to_handler(int sock, int uffd, const struct guest_mem *mem)
{
	char json[SNAP_UFFD_MESSAGE_MAX],
		control[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { json, 0 };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = control,
			      .msg_controllen = sizeof(control) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	iov.iov_len = snap_uffd_message(mem, json, sizeof(json));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &uffd, sizeof(int));
	return sendmsg(sock, &msg, MSG_NOSIGNAL) == (ssize_t)iov.iov_len ?
		       0 :
		       -errno;
}

int snap_uffd_attach(const struct guest_mem *mem, const char *sock_path,
		     bool remove_events, int *sock_out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int uffd = open_uffd(), sock = -1, ret;

	if (uffd < 0)
		return uffd;
	ret = register_memory(uffd, mem, remove_events);
	if (!ret && strlen(sock_path) >= sizeof(sa.sun_path))
		ret = -ENAMETOOLONG;
	if (!ret) {
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
		sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (sock < 0 ||
		    connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			ret = -errno;
	}
	if (!ret)
		ret = send_to_handler(sock, uffd, mem);
	close(uffd); /* the handler has its own copy */
	if (ret && sock >= 0)
		close(sock);
	*sock_out = ret ? -1 : sock;
	return ret;
}

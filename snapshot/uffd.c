// SPDX-License-Identifier: Apache-2.0
/* The monitor's side of the Uffd memory backend (API-CONTRACT.md): guest
 * RAM, and the hot-plug region when there is one, are anonymous memory
 * registered with a userfaultfd, which goes to the page-fault handler
 * listening on backend_path with a JSON description of the mappings (one
 * entry each, with its place in the memory file: RAM at 0, the region
 * after it, as snapshot/create writes them). The connection stays open for
 * the VM's life: the handler sees it close when microvm exits. With a
 * balloon or a hot-plug region, UFFD_FEATURE_EVENT_REMOVE is asked for, as
 * Firecracker does: pages given back (MADV_DONTNEED: the balloon, an
 * unplugged block) reach the handler as a remove event, which it must
 * read before the madvise returns, so that it serves them as zero pages
 * afterwards and not the memory file's stale contents. Without either it
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

static int register_range(int uffd, const uint8_t *host, uint64_t size)
{
	struct uffdio_register reg = {
		.range = { (uint64_t)(uintptr_t)host, size },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	return ioctl(uffd, UFFDIO_REGISTER, &reg) < 0 ? -errno : 0;
}

static int register_memory(int uffd, const struct guest_mem *mem,
			   bool remove_events)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = remove_events ? UFFD_FEATURE_EVENT_REMOVE : 0,
	};
	int ret = ioctl(uffd, UFFDIO_API, &api) < 0 ? -errno : 0;

	if (!ret)
		ret = register_range(uffd, mem->host, mem->size);
	if (!ret && mem->hp.host)
		ret = register_range(uffd, mem->hp.host, mem->hp.size);
	return ret;
}

/* One region's entry: its place in this process and in the memory file. */
static void region_entry(char *buf, size_t size, const uint8_t *host,
			 uint64_t len, uint64_t offset, size_t page_size)
{
	snprintf(
		buf, size,
		"{\"base_host_virt_addr\":%llu,\"size\":%llu,\"offset\":%llu,\"page_size\":%zu,\"page_size_kib\":%zu}",
		(unsigned long long)(uintptr_t)host, (unsigned long long)len,
		(unsigned long long)offset, page_size, page_size / 1024);
}

size_t snap_uffd_message(const struct guest_mem *mem, char *buf, size_t size)
{
	char ram[SNAP_UFFD_MESSAGE_MAX / 2], hp[SNAP_UFFD_MESSAGE_MAX / 2] = "";

	region_entry(ram, sizeof(ram), mem->host, mem->size, 0, mem->page_size);
	if (mem->hp.host) {
		hp[0] = ',';
		region_entry(hp + 1, sizeof(hp) - 1, mem->hp.host, mem->hp.size,
			     mem->size, mem->page_size);
	}
	return (size_t)snprintf(buf, size, "[%s%s]", ram, hp);
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

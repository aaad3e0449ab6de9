// SPDX-License-Identifier: Apache-2.0
/*
 * blkbench MODE DEV COUNT: a tiny block benchmark for the test guest.
 *   seqread / seqwrite: COUNT MiB in 1 MiB O_DIRECT requests
 *   randread: COUNT 4 KiB O_DIRECT reads at random aligned offsets
 * Prints "blkbench MODE <value> MiB/s|IOPS" timed with CLOCK_MONOTONIC.
 */
#define _GNU_SOURCE /* O_DIRECT */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#define MIB (1 << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long count = argc == 4 ? atol(argv[3]) : 0, i;
	int write_mode = argc == 4 && !strcmp(argv[1], "seqwrite");
	int rand_mode = argc == 4 && !strcmp(argv[1], "randread");
	unsigned long long dev_size = 0;
	void *buf;
	double t0;
	int fd;

	if (count <= 0) {
		fprintf(stderr,
			"usage: blkbench seqread|seqwrite|randread DEV COUNT\n");
		return 2;
	}
	fd = open(argv[2], (write_mode ? O_WRONLY : O_RDONLY) | O_DIRECT);
	if (fd < 0 || posix_memalign(&buf, 4096, MIB) ||
	    ioctl(fd, BLKGETSIZE64, &dev_size) < 0 || dev_size < MIB) {
		perror("blkbench");
		return 1;
	}
	memset(buf, 0x5a, MIB);
	srandom(1);
	t0 = now();
	for (i = 0; i < count; i++) {
		off_t off =
			rand_mode ?
				(off_t)(random() % (long)(dev_size / 4096)) *
					4096 :
				(off_t)((i * (long)MIB) % (long)dev_size);
		size_t len = rand_mode ? 4096 : MIB;
		ssize_t n = write_mode ? pwrite(fd, buf, len, off) :
					 pread(fd, buf, len, off);

		if (n != (ssize_t)len) {
			perror("blkbench: I/O");
			return 1;
		}
	}
	if (rand_mode)
		printf("blkbench %s %.0f IOPS\n", argv[1],
		       (double)count / (now() - t0));
	else
		printf("blkbench %s %.1f MiB/s\n", argv[1],
		       (double)count / (now() - t0));
	return 0;
}

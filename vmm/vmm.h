/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmm/ — the KVM virtual machine and everything around it.
 *
 * Contract:
 * - Owns the KVM VM and vCPU file descriptors, guest memory, the x86 boot
 *   (ELF/PVH and bzImage/64-bit boot protocol, e820, command line, MP
 *   table), CPUID and MSR setup, the legacy devices (8250 serial, i8042,
 *   boot timer), the port-I/O and MMIO buses and the VMM event loop.
 * - Threads: main() becomes the VMM thread and runs the epoll loop; each
 *   vCPU runs KVM_RUN in its own thread and handles its port-I/O and MMIO
 *   exits itself, under the target device's lock.
 * - Every guest-physical access goes through gmem_ptr(), which checks the
 *   whole range and returns NULL when any byte is outside guest RAM.
 * - Fallible functions return 0 or -errno (or a pointer/NULL) and are
 *   warn_unused_result; die() is for the command line only, before the
 *   guest runs.
 */
#ifndef MICROVM_VMM_H
#define MICROVM_VMM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define MUST_CHECK __attribute__((warn_unused_result))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define MICROVM_VERSION "0.1.0"

/* Exit codes of the microvm process (API-CONTRACT.md). */
enum {
	EXIT_OK = 0,
	EXIT_INTERNAL = 1,
	EXIT_SECCOMP = 148,
	EXIT_BAD_CONFIG = 152,
	EXIT_BAD_ARGS = 153,
};

/* ---- log.c: leveled log lines on stderr (or --log-path) ---- */
enum log_level { LOG_OFF, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
void log_set_level(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define log_err(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* ---- memory.c: guest RAM ---- */
/* Guest RAM above this address starts again at 4 GiB (MMIO gap below). */
#define GMEM_LOW_LIMIT 0xC0000000ULL
#define GMEM_HIGH_START 0x100000000ULL

struct guest_mem {
	uint8_t *host; /* one mapping of `size` bytes */
	uint64_t size; /* bytes of guest RAM */
	size_t page_size; /* 4 KiB, or 2 MiB with huge pages */
	int memfd; /* backing memfd, -1 when anonymous */
};

/* Maps `size` bytes of RAM: anonymous, or a hugetlb memfd when huge_2m.
 * Returns 0 or -errno. */
MUST_CHECK int gmem_create(struct guest_mem *mem, uint64_t size, bool huge_2m);
void gmem_destroy(struct guest_mem *mem);
/* Host pointer to [gpa, gpa + len) or NULL if any byte is not RAM. */
MUST_CHECK void *gmem_ptr(const struct guest_mem *mem, uint64_t gpa,
			  uint64_t len);
/* Copies into guest memory; 0 or -EFAULT when the range is not RAM. */
MUST_CHECK int gmem_write(const struct guest_mem *mem, uint64_t gpa,
			  const void *src, uint64_t len);
/* Number of RAM regions (1 or 2) and the i-th one, for KVM slots/e820. */
unsigned gmem_regions(const struct guest_mem *mem);
void gmem_region(const struct guest_mem *mem, unsigned i, uint64_t *gpa,
		 uint64_t *size, uint64_t *host_offset);

/* ---- bus.c: port-I/O and MMIO dispatch ---- */
typedef void (*bus_access_fn)(void *dev, uint64_t offset, uint8_t *data,
			      uint32_t len, bool is_write);
struct bus_range {
	uint64_t base, len;
	bus_access_fn access;
	void *dev;
};
#define BUS_MAX_RANGES 16
struct bus {
	struct bus_range ranges[BUS_MAX_RANGES];
	unsigned count;
};
/* Adds a device range; -EEXIST on overlap, -ENOSPC when full. */
MUST_CHECK int bus_add(struct bus *bus, uint64_t base, uint64_t len,
		       bus_access_fn access, void *dev);
/* Dispatches an access; returns false when no device claims it (reads
 * then return all-ones). Called from vCPU threads. */
bool bus_dispatch(const struct bus *bus, uint64_t addr, uint8_t *data,
		  uint32_t len, bool is_write);

/* ---- event_loop.c: the VMM thread's epoll loop ---- */
typedef void (*evl_fn)(void *opaque, uint32_t events);
struct evl_source {
	int fd;
	evl_fn fn;
	void *opaque;
};
#define EVL_MAX_SOURCES 32
struct event_loop {
	int epfd;
	bool stop;
	struct evl_source sources[EVL_MAX_SOURCES];
};
MUST_CHECK int evl_init(struct event_loop *loop);
void evl_destroy(struct event_loop *loop);
/* Watches fd for EPOLLIN (and errors); fn runs on the VMM thread. */
MUST_CHECK int evl_add(struct event_loop *loop, int fd, evl_fn fn,
		       void *opaque);
void evl_remove(struct event_loop *loop, int fd);
/* Runs until evl_stop(); returns 0 or -errno on an epoll failure. */
MUST_CHECK int evl_run(struct event_loop *loop);
void evl_stop(struct event_loop *loop);

/* ---- loader.c: kernel images ---- */
struct kernel_image {
	uint64_t entry; /* guest-physical entry point */
	bool pvh; /* entry is the 32-bit PVH entry (ELF note) */
	bool bzimage; /* entry is the 64-bit boot-protocol entry */
	uint64_t end; /* first byte after the loaded kernel */
	/* bzImage only: the setup header to copy into boot_params */
	uint8_t setup_header[0x80];
	uint32_t setup_header_len;
	uint64_t initrd_addr_max;
};
/* Loads an ELF vmlinux or a bzImage (detected from its bytes) into guest
 * memory. Returns 0, -ENOEXEC for an unrecognised or malformed image,
 * -E2BIG/-EFAULT when it does not fit in guest memory. */
MUST_CHECK int load_kernel(const struct guest_mem *mem, const uint8_t *img,
			   size_t size, struct kernel_image *out);
MUST_CHECK int load_elf(const struct guest_mem *mem, const uint8_t *img,
			size_t size, struct kernel_image *out);
MUST_CHECK int load_bzimage(const struct guest_mem *mem, const uint8_t *img,
			    size_t size, struct kernel_image *out);
/* Reads a whole file of at most max bytes into a malloc'd buffer. */
MUST_CHECK int read_file_capped(const char *path, size_t max, uint8_t **buf,
				size_t *size);

/* ---- bootparams.c: memory layout, e820, command line, zero page, PVH ---- */
#define BOOT_GDT_ADDR 0x500
#define BOOT_PVH_INFO_ADDR 0x6000
#define BOOT_ZERO_PAGE_ADDR 0x7000
#define BOOT_PML4_ADDR 0x9000
#define BOOT_CMDLINE_ADDR 0x20000
#define BOOT_CMDLINE_MAX 2048 /* x86 COMMAND_LINE_SIZE, with the NUL */
#define BOOT_EBDA_START 0x9fc00
#define BOOT_HIGH_START 0x100000 /* 1 MiB: kernels load above this */
#define BOOT_KERNEL_MIN_END 0x400000

struct e820_ent {
	uint64_t addr, size;
	uint32_t type; /* 1 RAM, 2 reserved */
};
#define E820_MAX 8
/* Fills the e820 map for mem; returns the number of entries. */
unsigned e820_build(const struct guest_mem *mem, struct e820_ent *out,
		    unsigned max);
/* Joins the user's boot args and the monitor's additions; the additions
 * go before a " -- " that separates init's arguments. Returns 0, or
 * -E2BIG when the result (with its NUL) exceeds BOOT_CMDLINE_MAX. */
MUST_CHECK int cmdline_build(char *out, size_t out_size, const char *user,
			     const char *additions);
struct boot_layout {
	uint64_t initrd_addr, initrd_size;
	const char *cmdline;
};
/* Places the initrd at the top of low RAM below max_addr; 0 or -E2BIG. */
MUST_CHECK int initrd_place(const struct guest_mem *mem, uint64_t kernel_end,
			    uint64_t max_addr, uint64_t size, uint64_t *addr);
/* Writes the PVH hvm_start_info (+ memmap, module) or the zero page. */
MUST_CHECK int pvh_write_start_info(const struct guest_mem *mem,
				    const struct boot_layout *b);
MUST_CHECK int zero_page_write(const struct guest_mem *mem,
			       const struct kernel_image *k,
			       const struct boot_layout *b);

/* ---- mptable.c ---- */
#define MPTABLE_ADDR BOOT_EBDA_START
#define IOAPIC_ADDR 0xfec00000u
#define LAPIC_ADDR 0xfee00000u
/* Writes an Intel MP 1.4 table for nr_cpus CPUs; 0 or -E2BIG/-EFAULT. */
MUST_CHECK int mptable_write(const struct guest_mem *mem, unsigned nr_cpus);

/* ---- cpuid.c ---- */
struct kvm_cpuid2;
struct cpu_topology {
	unsigned index; /* vCPU index == APIC id */
	unsigned nr_vcpus;
	bool smt; /* two threads per core */
};
/* Rewrites KVM's supported CPUID for one vCPU: APIC ids, topology,
 * hypervisor leaves, features this machine's KVM cannot honour.
 * The single place to grow CPU templates from. */
void cpuid_normalize(struct kvm_cpuid2 *cpuid, const struct cpu_topology *t);
/* KVM_GET_SUPPORTED_CPUID into a malloc'd struct; NULL on failure. */
MUST_CHECK struct kvm_cpuid2 *cpuid_get_supported(int kvm_fd);

/* ---- devices: serial.c, i8042.c, boot_timer.c ---- */
#define SERIAL_PORT 0x3f8
#define SERIAL_IRQ 4
#define I8042_PORT 0x60
#define BOOT_TIMER_ADDR 0xC0000000ULL
#define BOOT_TIMER_MAGIC 123

struct vm;
struct serial;
/* 8250 UART: output to out_fd; interrupts through irq_fn. */
MUST_CHECK struct serial *
serial_create(int out_fd, void (*irq_fn)(void *, unsigned), void *irq_opaque);
void serial_destroy(struct serial *s);
void serial_access(void *dev, uint64_t off, uint8_t *data, uint32_t len,
		   bool is_write);
/* Queues host input bytes for the guest (VMM thread); returns how many
 * were accepted (the receive FIFO may be full). */
size_t serial_feed(struct serial *s, const uint8_t *buf, size_t len);

/* i8042: a CPU reset (0xFE on port 0x64) calls reset_fn. */
struct i8042 {
	pthread_mutex_t lock;
	uint8_t cmd_byte, pending_cmd;
	void (*reset_fn)(void *opaque);
	void *opaque;
};
void i8042_init(struct i8042 *k, void (*reset_fn)(void *), void *opaque);
void i8042_access(void *dev, uint64_t off, uint8_t *data, uint32_t len,
		  bool is_write);

struct boot_timer {
	struct timespec start_wall, start_cpu; /* InstanceStart */
	bool reported;
	pthread_mutex_t lock;
};
void boot_timer_start(struct boot_timer *t);
void boot_timer_access(void *dev, uint64_t off, uint8_t *data, uint32_t len,
		       bool is_write);

/* ---- vcpu.c / kvm.c ---- */
struct vcpu {
	struct vm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool started;
};

struct vm_boot_config; /* api/api.h */

#define VM_MAX_VCPUS 32

struct vm {
	int kvm_fd, vm_fd;
	struct guest_mem mem;
	unsigned nr_vcpus;
	struct vcpu vcpus[VM_MAX_VCPUS];
	struct bus pio, mmio;
	struct serial *serial;
	struct i8042 i8042;
	struct boot_timer boot_timer;
	bool has_boot_timer;
	struct event_loop loop;
	int exit_efd; /* written when the VM must stop */
	int exit_code; /* under exit_lock */
	bool exit_requested;
	pthread_mutex_t exit_lock;
	int stdin_fd; /* -1 when stdin is not a terminal */
};

/* kvm.c */
MUST_CHECK int kvm_open_vm(struct vm *vm);
MUST_CHECK int kvm_set_memory(struct vm *vm);
/* Asserts and releases an edge-triggered ISA interrupt (any thread). */
void vm_irq_pulse(void *vm, unsigned irq);
/* Asks the VMM thread to stop the VM with this exit code (any thread);
 * the first request wins. */
void vm_request_exit(struct vm *vm, int code);

/* vcpu.c */
MUST_CHECK int vcpu_create(struct vm *vm, unsigned index,
			   const struct kvm_cpuid2 *supported, bool smt);
/* Sets the boot CPU's registers for the loaded kernel. */
MUST_CHECK int vcpu_setup_boot_regs(struct vcpu *v,
				    const struct kernel_image *k);
MUST_CHECK int vcpu_start(struct vcpu *v);
/* Makes a running vCPU leave KVM_RUN and its thread exit. */
void vcpu_stop(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);

/* builder.c: assembles a VM from its config in one readable order. */
MUST_CHECK int vm_build(struct vm *vm, const struct vm_boot_config *cfg,
			bool boot_timer);
/* Runs the VMM loop until the guest stops; returns the exit code. */
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

#endif

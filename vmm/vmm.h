/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmm/ — the KVM virtual machine and everything around it.
 *
 * Contract:
 * - Owns the KVM VM and vCPU file descriptors, guest memory, the x86 boot
 *   (ELF/PVH and bzImage/64-bit boot protocol, e820, command line, MP
 *   table), CPUID and MSR setup, the legacy devices (8250 serial, i8042,
 *   CMOS RTC, boot timer), the port-I/O and MMIO buses, the VMM event loop, the VMM
 *   thread's state machine (controller.c), the logger, metrics and the
 *   per-thread seccomp filters.
 * - Threads: main() becomes the VMM thread and runs the epoll loop: API
 *   requests (from api/ through the api_channel), device queue kicks,
 *   io_uring completions, timers, signals. Each vCPU runs KVM_RUN in its own
 *   thread and handles its port-I/O and MMIO exits itself, under the target
 *   device's lock; pause and stop kick it with a signal + immediate_exit.
 * - Every guest-physical access goes through gmem_ptr(), which checks the
 *   whole range and returns NULL when any byte is outside guest RAM.
 * - Each thread installs its seccomp filter (seccomp.c) before it handles
 *   untrusted input; code on a filtered thread may only make the calls that
 *   list allows (a new call means a new line there, with its reason).
 * - With --warm, the VM, its memory slots and parked vCPU threads exist
 *   before the first request (vm_warm) and every thread is filtered; a
 *   snapshot load then only maps memory, makes devices and sets state
 *   (vm_restore), under the VMM + LOAD filter.
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

#include "api/api.h"

#define MUST_CHECK __attribute__((warn_unused_result))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* MAJOR.MINOR: the Firecracker release whose API, CLI and config file
 * microvm implements (README "Version"); PATCH: microvm's own releases at
 * that level. The same string for --version, GET / and GET /version. */
#define MICROVM_VERSION "1.16.0"

/* Exit codes of the microvm process (API-CONTRACT.md). */
enum {
	EXIT_OK = 0,
	EXIT_INTERNAL = 1,
	EXIT_SECCOMP = 148,
	EXIT_BAD_CONFIG = 152,
	EXIT_BAD_ARGS = 153,
};

/* ---- log.c: the logger (stderr, or the file/FIFO of PUT /logger) ---- */
enum log_level { LOG_OFF, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE };
void log_set_instance_id(const char *id);
/* Names the calling thread in its log lines ("main", "api", "vcpu 0"). */
void log_set_thread_name(const char *name);
/* Applies the fields l sets (the others keep their value); a path is
 * created and opened non-blocking and replaces the current target (at
 * first stderr). 0, or -errno when the path cannot be opened. */
MUST_CHECK int log_configure(const struct logger_cfg *l);
void log_write(enum log_level level, const char *file, int line,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#define log_err(...) log_write(LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...) log_write(LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)
#define log_trace(...) log_write(LOG_TRACE, __FILE__, __LINE__, __VA_ARGS__)

/* ---- metrics.c: counters, flushed as JSON lines ---- */
/* X(id, group, name): one counter; reported as the delta since the last
 * flush, like Firecracker's. */
#define METRICS_LIST(X)                                                      \
	X(M_API_GET_INFO, "get_api_requests", "instance_info_count")         \
	X(M_API_GET_VERSION, "get_api_requests", "vmm_version_count")        \
	X(M_API_GET_MACHINE, "get_api_requests", "machine_cfg_count")        \
	X(M_API_GET_VM_CONFIG, "get_api_requests", "vm_config_count")        \
	X(M_API_ACTIONS, "put_api_requests", "actions_count")                \
	X(M_API_ACTIONS_FAILS, "put_api_requests", "actions_fails")          \
	X(M_API_BOOT, "put_api_requests", "boot_source_count")               \
	X(M_API_BOOT_FAILS, "put_api_requests", "boot_source_fails")         \
	X(M_API_DRIVE, "put_api_requests", "drive_count")                    \
	X(M_API_DRIVE_FAILS, "put_api_requests", "drive_fails")              \
	X(M_API_LOGGER, "put_api_requests", "logger_count")                  \
	X(M_API_LOGGER_FAILS, "put_api_requests", "logger_fails")            \
	X(M_API_MACHINE, "put_api_requests", "machine_cfg_count")            \
	X(M_API_MACHINE_FAILS, "put_api_requests", "machine_cfg_fails")      \
	X(M_API_METRICS, "put_api_requests", "metrics_count")                \
	X(M_API_METRICS_FAILS, "put_api_requests", "metrics_fails")          \
	X(M_API_NET, "put_api_requests", "network_count")                    \
	X(M_API_NET_FAILS, "put_api_requests", "network_fails")              \
	X(M_API_VSOCK, "put_api_requests", "vsock_count")                    \
	X(M_API_VSOCK_FAILS, "put_api_requests", "vsock_fails")              \
	X(M_API_ENTROPY, "put_api_requests", "entropy_count")                \
	X(M_API_ENTROPY_FAILS, "put_api_requests", "entropy_fails")          \
	X(M_API_SNAP_CREATE, "put_api_requests", "create_snapshot_count")    \
	X(M_API_SNAP_CREATE_FAILS, "put_api_requests",                       \
	  "create_snapshot_fails")                                           \
	X(M_API_SNAP_LOAD, "put_api_requests", "load_snapshot_count")        \
	X(M_API_SNAP_LOAD_FAILS, "put_api_requests", "load_snapshot_fails")  \
	X(M_API_PATCH_DRIVE, "patch_api_requests", "drive_count")            \
	X(M_API_PATCH_DRIVE_FAILS, "patch_api_requests", "drive_fails")      \
	X(M_API_PATCH_NET, "patch_api_requests", "network_count")            \
	X(M_API_PATCH_NET_FAILS, "patch_api_requests", "network_fails")      \
	X(M_API_PATCH_MACHINE, "patch_api_requests", "machine_cfg_count")    \
	X(M_API_PATCH_MACHINE_FAILS, "patch_api_requests",                   \
	  "machine_cfg_fails")                                               \
	X(M_API_PATCH_VM, "patch_api_requests", "vm_count")                  \
	X(M_API_PATCH_VM_FAILS, "patch_api_requests", "vm_fails")            \
	X(M_API_BAD_REQUESTS, "api_server", "bad_request_count")             \
	X(M_API_STARTUP_US, "api_server", "process_startup_time_us")         \
	X(M_API_STARTUP_CPU_US, "api_server", "process_startup_time_cpu_us") \
	X(M_VCPU_IO_IN, "vcpu", "exit_io_in")                                \
	X(M_VCPU_IO_OUT, "vcpu", "exit_io_out")                              \
	X(M_VCPU_MMIO_READ, "vcpu", "exit_mmio_read")                        \
	X(M_VCPU_MMIO_WRITE, "vcpu", "exit_mmio_write")                      \
	X(M_VCPU_FAILURES, "vcpu", "failures")                               \
	X(M_UART_TX_BYTES, "uart", "write_count")                            \
	X(M_UART_RX_BYTES, "uart", "read_count")                             \
	X(M_UART_MISSED_RX, "uart", "missed_read_count")                     \
	X(M_UART_MISSED_TX, "uart", "missed_write_count")                    \
	X(M_UART_OVER_LIMIT, "uart", "over_limit_count")                     \
	X(M_I8042_RESETS, "i8042", "reset_count")                            \
	X(M_LOGGER_MISSED, "logger", "missed_log_count")

#define METRIC_ENUM(id, group, name) id,
enum metric_id { METRICS_LIST(METRIC_ENUM) M__COUNT };
#undef METRIC_ENUM

void metrics_inc(enum metric_id id);
void metrics_add(enum metric_id id, uint64_t n);
/* Sets a value reported as is in every flush (not a delta). */
void metrics_store(enum metric_id id, uint64_t value);
/* Sends flushes to path (created, opened non-blocking). 0 or -errno;
 * -EALREADY when metrics were already configured. */
MUST_CHECK int metrics_open(const char *path);
/* Writes one JSON line with every counter's delta; 0, -ENODEV when no
 * metrics path is set, or -errno. VMM thread. */
MUST_CHECK int metrics_flush(void);

/* The signal that kicks a vCPU thread out of KVM_RUN (vcpu.c); the only
 * one the VMM thread's filter lets tgkill send. */
#define VCPU_KICK_SIGNAL SIGUSR1

/* ---- seccomp.c: per-thread filters ---- */
enum {
	SECCOMP_THREAD_API = 1,
	SECCOMP_THREAD_VMM = 2,
	SECCOMP_THREAD_VCPU = 4,
	/* with VMM: a warm VMM thread until its snapshot is loaded */
	SECCOMP_THREAD_LOAD = 8,
};
/* Whether filters are installed at all (--no-seccomp clears it). */
extern bool seccomp_enabled;
/* Compiles every thread kind's filter (with `warm`, also VMM + LOAD),
 * sets no_new_privs and installs the SIGSYS handler that logs a blocked
 * call and exits 148; call once, before any thread. 0 or -errno. */
MUST_CHECK int seccomp_prepare(bool warm);
/* Loads the filter of one thread kind on the calling thread. 0 or -errno. */
MUST_CHECK int seccomp_install(unsigned thread);
/* Test builds only (make TEST_HOOKS=1): when MICROVM_TEST_FORBIDDEN names
 * this point ("api", "vmm", "vcpu" threads; "restored": a loaded VM's
 * devices about to read the guest's rings), make a forbidden system call. */
void seccomp_test_hook(const char *thread);

/* ---- memory.c: guest RAM ---- */
/* Guest RAM above this address starts again at 4 GiB (MMIO gap below). */
#define GMEM_LOW_LIMIT 0xC0000000ULL
#define GMEM_HIGH_START 0x100000000ULL

struct guest_mem {
	uint8_t *host; /* one mapping of `size` bytes */
	uint64_t size; /* bytes of guest RAM */
	size_t page_size; /* 4 KiB, or 2 MiB with huge pages */
	int memfd; /* backing memfd, -1 when anonymous */
	/* Diff snapshots: KVM logs the guest's writes; devices' writes into
	 * guest RAM are marked here (a bit per 4 KiB page), NULL when off. */
	uint64_t *dev_dirty;
};

/* Maps `size` bytes of RAM: anonymous (2 MiB-aligned), or a hugetlb memfd
 * when huge_2m. Returns 0 or -errno. */
MUST_CHECK int gmem_create(struct guest_mem *mem, uint64_t size, bool huge_2m);
/* Asks for transparent huge pages (MADV_HUGEPAGE) on anonymous RAM a
 * kernel will boot in: its first touch of each 2 MiB then costs one fault
 * instead of 512. Not for RAM a snapshot load fills (userfaultfd copies
 * 4 KiB pages into it; the kernel would clear a huge page before each
 * first fault only to drop it). 0 or -errno (-EINVAL: hugetlbfs RAM, or
 * no THP in this kernel). */
MUST_CHECK int gmem_advise_huge(struct guest_mem *mem);
/* Maps a snapshot's memory file MAP_PRIVATE: pages are read on first
 * touch and writes stay private to this process. 0 or -errno. */
MUST_CHECK int gmem_map_file(struct guest_mem *mem, uint64_t size, int fd);
/* The same over anonymous RAM already mapped (same size, same addresses:
 * KVM's slots stay valid). 0 or -errno. */
MUST_CHECK int gmem_remap_file(struct guest_mem *mem, int fd);
/* Starts tracking the pages devices write (for diff snapshots). */
MUST_CHECK int gmem_track_dirty(struct guest_mem *mem);
/* Marks host bytes [p, p + len) of guest RAM as written by a device. */
void gmem_mark_dirty(const struct guest_mem *mem, const void *p, size_t len);
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
#define BUS_MAX_RANGES 32 /* virtio devices, the boot timer */
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
#define EVL_MAX_SOURCES 128 /* up to 6 per virtio device, and ours */
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
/* Stops or resumes watching a source without removing it (a device with
 * nowhere to put input stops reading it, not the loop spinning). */
MUST_CHECK int evl_watch(struct event_loop *loop, int fd, bool on);
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
/* KVM_GET_SUPPORTED_CPUID into a malloc'd struct, plus the TSC-deadline
 * timer when KVM_CAP_TSC_DEADLINE_TIMER says KVM emulates it; NULL on
 * failure. */
MUST_CHECK struct kvm_cpuid2 *cpuid_get_supported(int kvm_fd);
/* KVM_GET_CPUID2: the CPUID a vCPU has as KVM reports it (which may hold
 * more than KVM_SET_CPUID2 gave it: kvm_pvm shows the host's). Malloc'd;
 * NULL on failure. */
MUST_CHECK struct kvm_cpuid2 *cpuid_get_vcpu(int vcpu_fd);
/* Whether `have` offers every CPU feature flag `want` has (leaves 1, 7,
 * 0xd.1, 0x40000001, 0x80000001/7/8; bits that follow guest state
 * excepted); if not, err names the first missing bits. */
bool cpuid_features_subset(const struct kvm_cpuid2 *want,
			   const struct kvm_cpuid2 *have, char *err,
			   size_t err_size);
/* Whether two vCPU CPUIDs are the same entries, bits KVM rewrites from the
 * vCPU's state (OSXSAVE, APIC, OSPKE, XSAVE sizes) aside. */
bool cpuid_same(const struct kvm_cpuid2 *a, const struct kvm_cpuid2 *b);

/* ---- devices: serial.c, i8042.c, cmos.c, boot_timer.c ---- */
#define SERIAL_PORT 0x3f8
#define SERIAL_IRQ 4
#define I8042_PORT 0x60
#define BOOT_TIMER_ADDR 0xC0000000ULL
#define BOOT_TIMER_MAGIC 123

struct vm;
struct serial;
struct vblk; /* virtio/virtio.h */
struct vrng;
struct vnet;
struct vvsock;
struct vdev;
/* 8250 UART: output to out_fd; interrupts through irq_fn. */
/* The most bytes a VM's console writes to out_fd (--serial-out-limit; 0:
 * no limit): a guest cannot fill the host's disk through a console
 * redirected to a file. Later bytes are dropped and counted (uart
 * over_limit_count). Set before serial_create. */
#define SERIAL_OUT_LIMIT_DEFAULT (64ULL << 20)
void serial_set_out_limit(uint64_t bytes);
MUST_CHECK struct serial *
serial_create(int out_fd, void (*irq_fn)(void *, unsigned), void *irq_opaque);
void serial_destroy(struct serial *s);
void serial_access(void *dev, uint64_t off, uint8_t *data, uint32_t len,
		   bool is_write);
/* Queues host input bytes for the guest (VMM thread); returns how many
 * were accepted (the receive FIFO may be full). */
size_t serial_feed(struct serial *s, const uint8_t *buf, size_t len);
/* Register state for snapshots (received bytes not yet read are not kept). */
struct serial_state {
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm, pad;
};
void serial_save(struct serial *s, struct serial_state *out);
void serial_restore(struct serial *s, const struct serial_state *in);

/* i8042: answers the controller and keyboard commands Linux waits for
 * (the AUX port is absent); a CPU reset (0xFE on port 0x64) calls
 * reset_fn; key scancodes queued by i8042_send_ctrl_alt_del() are read
 * from port 0x60 with IRQ 1. */
#define I8042_KBD_IRQ 1
struct i8042 {
	pthread_mutex_t lock;
	uint8_t ctr; /* the controller's control register ("command byte") */
	uint8_t outp; /* its output port */
	uint8_t pending_cmd; /* controller command waiting for its byte */
	uint8_t kbd_pending; /* keyboard command waiting for its parameter */
	uint8_t out[16]; /* output buffer: scancodes and command replies */
	unsigned out_head, out_count;
	void (*reset_fn)(void *opaque);
	void (*irq_fn)(void *opaque, unsigned irq);
	void *opaque;
};
void i8042_init(struct i8042 *k, void (*reset_fn)(void *),
		void (*irq_fn)(void *, unsigned), void *opaque);
/* Queues Ctrl+Alt+Del key presses and releases for the guest (any thread). */
void i8042_send_ctrl_alt_del(struct i8042 *k);
void i8042_access(void *dev, uint64_t off, uint8_t *data, uint32_t len,
		  bool is_write);

/* CMOS RTC on ports 0x70-0x71: the time of clock_fn (NULL: the host's
 * UTC time) and 128 bytes of registers and NVRAM. */
#define CMOS_PORT 0x70
struct cmos {
	pthread_mutex_t lock;
	uint8_t index; /* selected by a write to port 0x70 */
	uint8_t ram[128];
	time_t (*clock_fn)(void);
};
void cmos_init(struct cmos *c, time_t (*clock_fn)(void));
void cmos_access(void *dev, uint64_t off, uint8_t *data, uint32_t len,
		 bool is_write);

struct boot_timer {
	struct timespec start_wall, start_cpu; /* InstanceStart */
	bool reported;
	pthread_mutex_t lock;
};
void boot_timer_start(struct boot_timer *t);
/* Microseconds on `clock` since *from. */
uint64_t elapsed_us(const struct timespec *from, clockid_t clock);
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
	bool stop_requested, paused; /* under vm->run_lock */
	/* its CPUID as KVM reports it before a snapshot load (a warm VM reads
	 * it ahead), NULL until then: the load checks the snapshot's CPU
	 * features against it and sets the saved CPUID only if it differs */
	struct kvm_cpuid2 *cpuid;
};

#define VM_MAX_VCPUS 32

struct vm {
	int kvm_fd, vm_fd;
	struct guest_mem mem;
	unsigned nr_vcpus;
	struct vcpu vcpus[VM_MAX_VCPUS];
	struct bus pio, mmio;
	struct serial *serial;
	struct i8042 i8042;
	struct cmos cmos;
	struct boot_timer boot_timer;
	struct event_loop *loop; /* the VMM thread's, not owned */
	int exit_efd; /* written when the VM must stop */
	int uffd_sock; /* Uffd restore: the handler's connection, or -1 */
	int exit_code; /* under exit_lock */
	bool exit_requested;
	pthread_mutex_t exit_lock;
	/* vCPU run state: pause requests, how many threads run/are paused */
	pthread_mutex_t run_lock;
	pthread_cond_t run_cond;
	bool pause_requested;
	unsigned nr_running, nr_paused;
	char cmdline[BOOT_CMDLINE_MAX];
	char cmdline_extra[BOOT_CMDLINE_MAX]; /* what devices add */
	unsigned nr_vdevs; /* virtio-mmio slots used */
	struct vdev *vdevs[CONFIG_MAX_DEVICES]; /* by slot */
	struct vblk *blks[CONFIG_MAX_DRIVES];
	unsigned nr_blks;
	struct vrng *rng; /* NULL without /entropy */
	struct vvsock *vsock; /* NULL without /vsock */
	struct vnet *nets[CONFIG_MAX_NETS];
	unsigned nr_nets;
	char err[512]; /* why vm_build/vm_start failed */
	bool smt;
	/* Built by vm_warm() and waiting for a snapshot load: vm_restore()
	 * uses its KVM VM, memory slots and (parked) vCPU threads. A load
	 * refused before it replaced the memory leaves it warm (!warm_used). */
	bool warm, warm_used;
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

/* Pauses every running vCPU and waits until all are out of KVM_RUN;
 * resumes them. VMM thread. */
void vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);

/* builder.c: assembles a VM from its config in one readable order; on
 * failure vm->err says why. The VM's exit eventfd is not yet watched. */
MUST_CHECK int vm_build(struct vm *vm, const struct vm_config *cfg,
			bool boot_timer, struct event_loop *loop);
/* The same VM from a snapshot: memory from the backend, the devices of
 * cfg in the same slots, then every saved state; the vCPUs have not run. */
struct snap_state;
struct restore_opts {
	bool boot_timer;
	const char *prefetch; /* File backend: working-set file, or NULL */
};
MUST_CHECK int vm_restore(struct vm *vm, const struct vm_config *cfg,
			  const struct snap_state *s,
			  const struct snapshot_load_cfg *l,
			  const struct restore_opts *o,
			  struct event_loop *loop);
/* After vm_restore and vm_start, once the VMM thread's final filter is
 * installed: the devices' first look at the guest's rings (kicks pending
 * at snapshot time, vsock's transport reset). A guest's rings are never
 * read by an unfiltered thread. */
void vm_serve_restored(struct vm *vm);
/* Starts every vCPU thread not yet started and lets them run, or keeps
 * them parked when `paused`. */
MUST_CHECK int vm_start(struct vm *vm, bool paused);
/* A VM made ahead of a snapshot load (--warm): KVM VM and irqchip, memory
 * slots over placeholder anonymous memory of m's size, m's vCPUs with
 * their threads parked. */
MUST_CHECK int vm_warm(struct vm *vm, const struct machine_cfg *m,
		       struct event_loop *loop);
/* Stops the vCPUs and frees everything vm_build made. */
void vm_destroy(struct vm *vm);

/* ---- controller.c: the VMM thread's state machine ----
 * Owns the configuration before InstanceStart and the VM after it, and
 * answers every API request the api_channel brings. VMM thread. */
enum vmm_state { VMM_NOT_STARTED, VMM_RUNNING, VMM_PAUSED };

struct vmm {
	struct event_loop loop;
	struct vm_config cfg;
	enum vmm_state state;
	struct vm vm;
	char id[72];
	bool boot_timer;
	const char *prefetch; /* --prefetch */
	bool warm; /* --warm: vm was built ahead, for one snapshot load */
	struct api_channel ch;
	int metrics_timer_fd, signal_fd;
	int exit_code;
};

/* Sets up the event loop, the API channel and the metrics timer. */
MUST_CHECK int vmm_init(struct vmm *m, const char *id, bool boot_timer);
/* Builds and starts the VM from m->cfg. 0, or -errno with err filled. */
MUST_CHECK int vmm_instance_start(struct vmm *m, char *err, size_t err_size);
/* --warm: builds the VM ahead (vm_warm) and watches its exit; then, once
 * the API thread runs, seals the VMM thread with the VMM filter plus what
 * a load needs (the VMM filter proper is stacked after the load). Both
 * return 0 or an exit code. */
int vmm_warm(struct vmm *m, const struct machine_cfg *shape);
int vmm_seal_warm(struct vmm *m);
/* Runs the VMM loop until the guest stops; returns the exit code. */
int vmm_run(struct vmm *m);
void vmm_destroy(struct vmm *m);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmm/ — the machine: the KVM virtual machine and its legacy devices.
 *
 * Contract:
 * - Owns the KVM VM and vCPU file descriptors, guest memory, the kernel
 *   command line, the legacy devices (one file each) and the port-I/O and
 *   MMIO buses. What differs by architecture is behind vmm/arch.h:
 *   x86_64 (x86.c: irqchip, vCPU registers, CPUID and MSRs; the ELF/PVH
 *   and bzImage boot, e820, MP table; 8250 serial on port I/O, i8042,
 *   CMOS RTC) and arm64 (vmm/arm64: vCPU init with PSCI, the GIC, the
 *   Image loader and device tree; the 8250 on MMIO, PL031 RTC). The boot
 *   timer is on MMIO on both. Makefile's ARCH_*_SRCS pick the files.
 *   It builds on base/ and config/ only; virtio/ devices plug into its MMIO
 *   bus, and microvm/builder.c puts a VM together.
 * - Threads: the VMM thread (microvm/) runs the event loop: API requests,
 *   device queue kicks, io_uring completions, timers, signals. Each vCPU
 *   runs KVM_RUN in its own thread and handles its port-I/O and MMIO exits
 *   itself, under the target device's lock; pause and stop kick it with a
 *   signal + immediate_exit. A parked vCPU thread runs the tasks the VMM
 *   thread hands it (vm_run_on_vcpus), all vCPUs in parallel.
 * - Every guest-physical access goes through gmem_ptr(), which checks the
 *   whole range and returns NULL when any byte is outside guest RAM.
 * - Fallible functions return 0 or -errno (or a pointer/NULL) and are
 *   MUST_CHECK.
 */
#ifndef MICROVM_VMM_H
#define MICROVM_VMM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/base.h"
#include "config/config.h"
#include "vmm/arm64/layout.h"

/* ---- memory.c: guest RAM ---- */
#ifdef __aarch64__
/* One region from 2 GiB (vmm/arm64/layout.h). */
#define GMEM_BASE ARM64_DRAM_START
#define GMEM_LOW_LIMIT (ARM64_DRAM_START + ARM64_DRAM_MAX_SIZE)
#else
/* From 0; RAM above GMEM_LOW_LIMIT starts again at 4 GiB (MMIO gap). */
#define GMEM_BASE 0ULL
#define GMEM_LOW_LIMIT 0xC0000000ULL
#endif
#define GMEM_HIGH_START 0x100000000ULL

struct guest_mem {
	uint8_t *host; /* one mapping of `size` bytes */
	uint64_t size; /* bytes of guest RAM */
	size_t page_size; /* 4 KiB, or 2 MiB with huge pages */
	int memfd; /* backing memfd, -1 when anonymous */
	bool file_private; /* a snapshot's memory file, mapped MAP_PRIVATE */
	/* Diff snapshots: KVM logs the guest's writes; devices' writes into
	 * guest RAM are marked here (a bit per 4 KiB page), NULL when off. */
	uint64_t *dev_dirty;
	/* With dev_dirty: the pages the dirty logs named since the load (or
	 * the last rewind), kept when a snapshot empties the logs: what a
	 * rewind drops (snapshot/memory_file.c). */
	uint64_t *logged;
	/* virtio-mem's region (gmem_hotplug_create), or host NULL: its own
	 * anonymous mapping, at guest-physical gpa, in blocks the guest plugs
	 * and unplugs. gmem_ptr() reaches only plugged blocks. */
	struct gmem_hotplug {
		uint8_t *host;
		uint64_t gpa, size, block_size;
		/* a bit per block, set while plugged; read by vCPU threads,
		 * written by the VMM thread (atomics) */
		uint64_t *plugged;
		bool file_private; /* gmem_hotplug_map_file's: */
		int file_fd; /* its memory file, kept for a rewind */
		uint64_t file_off;
	} hp;
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
/* Gives host bytes [p, p + len) of guest RAM back to the host (the
 * balloon); they read as zero afterwards, whatever backs them: anonymous
 * RAM is dropped (MADV_DONTNEED; under the Uffd backend the page server
 * is told, UFFD_EVENT_REMOVE); a hugetlb memfd's pages are punched out of
 * it (whole 2 MiB pages: p and len multiples of mem->page_size); a
 * snapshot's file mapped MAP_PRIVATE is replaced by anonymous memory
 * (MADV_DONTNEED there would bring the file's bytes back). The range is
 * marked dirty for diff snapshots. Bytes of virtio-mem's region (4 KiB
 * pages) are dropped too (anonymous memory over them when the region was
 * mapped from a memory file). 0, or -EINVAL (not guest memory, or
 * misaligned) or -errno. */
MUST_CHECK int gmem_discard(const struct guest_mem *mem, void *p, size_t len);
/* Maps virtio-mem's region of `size` bytes at guest-physical `gpa`, all
 * of it unplugged (blocks of block_size: size and gpa multiples of it).
 * 0 or -errno. */
MUST_CHECK int gmem_hotplug_create(struct guest_mem *mem, uint64_t gpa,
				   uint64_t size, uint64_t block_size);
/* Maps bytes [off, off + region size) of a snapshot's memory file
 * MAP_PRIVATE over the region, at the same addresses; blocks unplugged
 * later are replaced by anonymous memory. Takes fd (closed with the
 * region) on success. 0 or -errno. */
MUST_CHECK int gmem_hotplug_map_file(struct guest_mem *mem, int fd,
				     uint64_t off);
/* A rewind: the whole region mapped from the memory file again (what the
 * guest wrote and the blocks unplugged since are dropped) and `plugged`
 * (a bit per block) the blocks plugged. -ENOTSUP unless the region came
 * from a memory file (gmem_hotplug_map_file). VMM thread, vCPUs parked. */
MUST_CHECK int gmem_hotplug_rewind(struct guest_mem *mem,
				   const uint64_t *plugged);
/* Plugs or unplugs blocks [first, first + n) of the region (in range: the
 * caller checked); unplugged blocks go back to the host (gmem_discard).
 * VMM thread. */
void gmem_hotplug_set(const struct guest_mem *mem, uint64_t first, uint64_t n,
		      bool plugged);
bool gmem_hotplug_plugged(const struct guest_mem *mem, uint64_t block);
/* Unmaps the region (gmem_destroy does it too). */
void gmem_hotplug_destroy(struct guest_mem *mem);
/* Starts tracking the pages devices write (diff snapshots, rewind). */
MUST_CHECK int gmem_track_dirty(struct guest_mem *mem);
/* Marks host bytes [p, p + len) of guest RAM as written by a device. */
void gmem_mark_dirty(const struct guest_mem *mem, const void *p, size_t len);
void gmem_destroy(struct guest_mem *mem);
/* Host pointer to [gpa, gpa + len) or NULL if any byte is not RAM (boot
 * RAM, or plugged blocks of virtio-mem's region). */
MUST_CHECK void *gmem_ptr(const struct guest_mem *mem, uint64_t gpa,
			  uint64_t len);
/* The same in boot RAM only (gmem_region's; the balloon's pages). */
MUST_CHECK void *gmem_ram_ptr(const struct guest_mem *mem, uint64_t gpa,
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
/* boot.c: reads a whole file of at most max bytes into a malloc'd buffer. */
MUST_CHECK int read_file_capped(const char *path, size_t max, uint8_t **buf,
				size_t *size);

/* ---- bootparams.c (x86: memory layout, e820, zero page, PVH) and
 * boot.c (command line) ---- */
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
 * hypervisor leaves, features this machine's KVM cannot honour. A CPU
 * template's changes are made before it (vmm/cpu_template.h); it wins. */
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
#define I8042_PORT 0x60
#ifdef __aarch64__
#define SERIAL_IRQ ARM64_SERIAL_SPI
#define BOOT_TIMER_ADDR ARM64_BOOT_TIMER_START
#else
#define SERIAL_IRQ 4
#define BOOT_TIMER_ADDR 0xC0000000ULL
#endif
#define BOOT_TIMER_MAGIC 123

struct vm;
struct serial;
struct vdev; /* virtio/virtio.h */
struct mmds; /* mmds/mmds.h */
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

/* PL031 RTC (arm64): the time of clock_fn (NULL: the host's) plus the
 * offset the guest set through LR; no alarm interrupt. */
struct pl031 {
	pthread_mutex_t lock;
	int64_t offset; /* guest time - clock_fn() */
	uint32_t lr, mr, imsc;
	time_t (*clock_fn)(void);
};
void pl031_init(struct pl031 *r, time_t (*clock_fn)(void));
void pl031_access(void *dev, uint64_t off, uint8_t *data, uint32_t len,
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
	bool stop_requested, paused; /* under vm->run_lock */
	/* vm_run_on_vcpus: a task for this parked thread, and its result
	 * (under vm->run_lock) */
	bool task_pending;
	int task_ret;
	bool exited; /* its thread has returned (under vm->run_lock) */
	bool named; /* its thread has its name, fc_vcpu N (under run_lock) */
	/* its CPUID as KVM reports it before a snapshot load (a warm VM reads
	 * it ahead), NULL until then: the load checks the snapshot's CPU
	 * features against it and sets the saved CPUID only if it differs */
	struct kvm_cpuid2 *cpuid;
};

#define VM_MAX_VCPUS 32

struct vm {
	int kvm_fd, vm_fd;
	int irqchip_fd; /* arm64: the GIC (KVM_CREATE_DEVICE); -1 on x86 */
	unsigned gic_version; /* arm64: 3, or 2 where KVM has no GICv3 */
	struct guest_mem mem;
	unsigned nr_vcpus;
	struct vcpu vcpus[VM_MAX_VCPUS];
	struct bus pio, mmio;
	struct serial *serial;
	struct i8042 i8042;
	struct cmos cmos;
	struct pl031 rtc; /* arm64 */
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
	/* vm_run_on_vcpus's task, how many vCPUs have yet to run it, and
	 * where the VMM thread waits for the last (the parked vCPU threads
	 * wait on run_cond: they are not woken again when it is done) */
	int (*vcpu_task)(struct vcpu *v, void *arg);
	void *vcpu_task_arg;
	unsigned nr_tasks_left;
	pthread_cond_t tasks_cond;
	char cmdline[BOOT_CMDLINE_MAX];
	char cmdline_extra[BOOT_CMDLINE_MAX]; /* what devices add */
	/* The virtio devices, by slot: every kind alike (virtio/virtio.h's
	 * vdev_find() looks one up by type and id) */
	unsigned nr_vdevs;
	struct vdev *vdevs[CONFIG_MAX_DEVICES];
	struct mmds *mmds; /* the VMM's metadata service (not owned) */
	char err[512]; /* why vm_build/vm_start failed */
	bool smt;
	/* x86: the CPU template's MSRs; snapshots save them with KVM's list */
	uint32_t template_msrs[CPU_TEMPLATE_MAX_MSRS];
	unsigned nr_template_msrs;
	/* Built by vm_warm() and waiting for a snapshot load: snapshot_load()
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
/* KVM_CREATE_VCPU and its kvm_run mapping: the architecture's vCPU set-up
 * (vcpu_create on x86, arm64_vcpu_init) follows. */
MUST_CHECK int vcpu_open(struct vm *vm, unsigned index);
/* x86.c: vcpu_open, then CPUID, MSRs, LAPIC and FPU. With the CPU
 * template t (NULL: none), its MSRs as this vCPU reads them, changed by
 * the template, set before the boot MSRs (which win, as in Firecracker). */
MUST_CHECK int vcpu_create(struct vm *vm, unsigned index,
			   const struct kvm_cpuid2 *supported, bool smt,
			   const struct cpu_template *t);
/* x86.c: the boot CPU's registers for the loaded kernel. */
MUST_CHECK int vcpu_setup_boot_regs(struct vcpu *v,
				    const struct kernel_image *k);
MUST_CHECK int vcpu_start(struct vcpu *v);
/* Waits until a started vCPU's thread has its name (or has ended). */
void vcpu_wait_named(struct vcpu *v);
/* Makes a running vCPU leave KVM_RUN and its thread exit. */
void vcpu_stop(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);

/* Pauses every running vCPU and waits until all are out of KVM_RUN;
 * resumes them. VMM thread. */
void vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);
/* Runs fn(v, arg) on every vCPU's own thread, all at once, and waits until
 * each has returned: a vCPU's state is set from the thread that runs it
 * (KVM then keeps it loaded on that thread's CPU), in parallel. Every
 * vCPU thread must be started and parked (vm_start paused, vm_pause), its
 * seccomp filter allowing what fn calls. Returns 0, or the first failing
 * vCPU's -errno with its index in *failed. VMM thread. */
MUST_CHECK int vm_run_on_vcpus(struct vm *vm,
			       int (*fn)(struct vcpu *v, void *arg), void *arg,
			       unsigned *failed);

#endif

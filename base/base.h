/* SPDX-License-Identifier: Apache-2.0 */
/*
 * base/ — the ground floor: what every other folder may use and what uses
 * nothing of theirs.
 *
 * Contract:
 * - Shared macros (MUST_CHECK, ARRAY_SIZE), the version string and the
 *   process's exit codes; the monotonic clock helper (clock.c).
 * - The logger (log.c) and the metrics counters (metrics.c): callable from
 *   any thread, never blocking (a FIFO with no reader drops lines).
 * - The per-thread seccomp filters (seccomp.c; seccomp_file.c reads the
 *   ones --seccomp-filter names instead): each thread installs its
 *   filter before it handles untrusted input; code on a filtered thread may
 *   only make the calls that table allows (a new call means a new line
 *   there, with its reason).
 * - The VMM thread's epoll loop (event_loop.c).
 * - Includes only the C library and system headers: nothing here knows of a
 *   VM, a device, the configuration or the API.
 * - Fallible functions return 0 or -errno and are MUST_CHECK.
 */
#ifndef MICROVM_BASE_H
#define MICROVM_BASE_H

#include <endian.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define MUST_CHECK __attribute__((warn_unused_result))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Little-endian integers of a file format, at any alignment. */
static inline uint32_t read_le32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static inline uint64_t read_le64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

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

#define LOG_MODULE_MAX 128

/* The logger's settings, which it owns: PUT /logger, the config file's
 * "logger" and the command line fill them (config/). As in Firecracker,
 * a field left out keeps its current value. */
struct logger_cfg {
	bool set;
	char path[PATH_MAX]; /* "" keeps the current target */
	bool has_level, has_show_level, has_show_origin, has_module;
	enum log_level level;
	bool show_level, show_origin;
	/* only messages from source files under this path ("virtio",
	 * "api/server"); "" lets every message through */
	char module[LOG_MODULE_MAX];
};

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
	X(M_API_GET_MMDS, "get_api_requests", "mmds_count")                  \
	X(M_API_GET_BALLOON, "get_api_requests", "balloon_count")            \
	X(M_API_GET_HOTPLUG, "get_api_requests", "hotplug_memory_count")     \
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
	X(M_API_CPU_CONFIG, "put_api_requests", "cpu_cfg_count")             \
	X(M_API_CPU_CONFIG_FAILS, "put_api_requests", "cpu_cfg_fails")       \
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
	X(M_API_SNAP_REWIND, "put_api_requests", "rewind_snapshot_count")    \
	X(M_API_SNAP_REWIND_FAILS, "put_api_requests",                       \
	  "rewind_snapshot_fails")                                           \
	X(M_API_MMDS, "put_api_requests", "mmds_count")                      \
	X(M_API_MMDS_FAILS, "put_api_requests", "mmds_fails")                \
	X(M_API_BALLOON, "put_api_requests", "balloon_count")                \
	X(M_API_BALLOON_FAILS, "put_api_requests", "balloon_fails")          \
	X(M_API_HOTPLUG, "put_api_requests", "hotplug_memory_count")         \
	X(M_API_HOTPLUG_FAILS, "put_api_requests", "hotplug_memory_fails")   \
	X(M_API_PATCH_DRIVE, "patch_api_requests", "drive_count")            \
	X(M_API_PATCH_DRIVE_FAILS, "patch_api_requests", "drive_fails")      \
	X(M_API_PATCH_NET, "patch_api_requests", "network_count")            \
	X(M_API_PATCH_NET_FAILS, "patch_api_requests", "network_fails")      \
	X(M_API_PATCH_MACHINE, "patch_api_requests", "machine_cfg_count")    \
	X(M_API_PATCH_MACHINE_FAILS, "patch_api_requests",                   \
	  "machine_cfg_fails")                                               \
	X(M_API_PATCH_VM, "patch_api_requests", "vm_count")                  \
	X(M_API_PATCH_VM_FAILS, "patch_api_requests", "vm_fails")            \
	X(M_API_PATCH_MMDS, "patch_api_requests", "mmds_count")              \
	X(M_API_PATCH_MMDS_FAILS, "patch_api_requests", "mmds_fails")        \
	X(M_API_PATCH_BALLOON, "patch_api_requests", "balloon_count")        \
	X(M_API_PATCH_BALLOON_FAILS, "patch_api_requests", "balloon_fails")  \
	X(M_API_PATCH_HOTPLUG, "patch_api_requests", "hotplug_memory_count") \
	X(M_API_PATCH_HOTPLUG_FAILS, "patch_api_requests",                   \
	  "hotplug_memory_fails")                                            \
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
struct sock_fprog;
/* Compiles every thread kind's filter (with `warm`, also VMM + LOAD),
 * sets no_new_privs and installs the SIGSYS handler that logs a blocked
 * call and exits 148; call once, before any thread. With `custom`
 * (seccomp_file_read), its programs replace the built-in lists (a warm
 * VMM thread gets the vmm one). 0 or -errno. */
MUST_CHECK int seccomp_prepare(bool warm, const struct sock_fprog *custom);
/* Loads the filter of one thread kind on the calling thread (nothing for
 * an empty custom program). 0 or -errno. */
MUST_CHECK int seccomp_install(unsigned thread);

/* ---- seccomp_file.c: --seccomp-filter, Firecracker's compiled format ---- */
/* progs[] of seccomp_file_*: api, vmm, vcpu; an empty one: no filter */
#define SECCOMP_FILE_KINDS 3
/* Parses a file seccompiler-bin wrote into progs[SECCOMP_FILE_KINDS]:
 * NULL, or why it is refused (progs then empty). */
const char *seccomp_file_parse(const uint8_t *buf, size_t len,
			       struct sock_fprog *progs);
/* Reads PATH (at most 100,000 bytes) and parses it as above. */
const char *seccomp_file_read(const char *path, struct sock_fprog *progs);
void seccomp_file_free(struct sock_fprog *progs);
/* Test builds only (make TEST_HOOKS=1): when MICROVM_TEST_FORBIDDEN names
 * this point ("api", "vmm", "vcpu" threads; "restored": a loaded VM's
 * devices about to read the guest's rings), make a forbidden system call. */
void seccomp_test_hook(const char *thread);

/* ---- event_loop.c: the VMM thread's epoll loop ---- */
typedef void (*evl_fn)(void *opaque, uint32_t events);
struct evl_source {
	int fd;
	evl_fn fn;
	void *opaque;
};
#define EVL_MAX_SOURCES 160 /* up to 7 per virtio device, and ours */
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

/* ---- clock.c ---- */
/* Microseconds on `clock` since *from. */
uint64_t elapsed_us(const struct timespec *from, clockid_t clock);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config/ — the configuration model: what a VM is made of, as data.
 *
 * Contract:
 * - The structs below are the configuration of every resource (boot
 *   source, machine, drives, network interfaces, vsock, entropy, metrics,
 *   the MMDS configuration (not its data store: mmds/), snapshot
 *   requests; the logger's settings are its own, in base/) and struct
 *   vm_config holds a whole VM's.
 *   vmm/, virtio/ and snapshot/ take their settings from here; nothing here
 *   knows of KVM, devices or HTTP.
 * - Each resource's JSON form is one table (resources.c): every field's
 *   name, type, place, range and whether a PATCH may change it. One engine
 *   (schema.c) reads PUT and PATCH bodies and the config file with the
 *   tables, checking every field, and writes GET /vm/config with them; a
 *   rejection carries a message that names the field. The rules between
 *   resources (one root drive, unique ids, host devices and MACs, room for
 *   a device) are config.c's, shared by the config file and the API. Phase
 *   rules (pre-boot / post-boot) are the VMM thread's
 *   (microvm/controller.c).
 * - The JSON text of the configuration (GET /vm/config, a snapshot's saved
 *   config) is written and read here too (config.c's table of keys).
 * - The api_channel (channel.c) carries one typed request at a time from
 *   the API thread to the VMM thread and its reply back.
 * - Everything read from a client or a config file is size-capped.
 */
#ifndef MICROVM_CONFIG_H
#define MICROVM_CONFIG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "config/cpu_template.h"

#define CONFIG_MAX_FILE_SIZE (1u << 20) /* a config file is small */
#define CONFIG_PATH_MAX 4096
#define CONFIG_BOOT_ARGS_MAX 2048
#define CONFIG_ID_MAX 64
#define CONFIG_MAX_VCPUS 32
#define CONFIG_MAX_MEM_MIB (1u << 20) /* 1 TiB */
/* virtio-mmio devices of all kinds: one per interrupt line, from IRQ 5
 * (1 and 4 are the i8042's and the serial port's, 8 the CMOS RTC's, which
 * raises none) to the I/O APIC's last pin, 23 (virtio/virtio.h): 19, as
 * Firecracker on x86. A PUT past the limit is refused. */
#define CONFIG_MAX_DEVICES 19
#define CONFIG_MAX_DRIVES CONFIG_MAX_DEVICES
#define CONFIG_MAX_NETS CONFIG_MAX_DEVICES
#define CONFIG_ERR_MAX 512
#define DEFAULT_BOOT_ARGS "console=ttyS0 reboot=k panic=1"

/* Firecracker's bound on refill_time: in nanoseconds it must fit in 64
 * bits (its TokenBucket::new multiplies with checked_mul). Larger values
 * are refused at parse time. */
#define RL_MAX_REFILL_TIME_MS (UINT64_MAX / 1000000)

struct token_bucket {
	bool set; /* a limit: size and refill_time both non-zero */
	uint64_t size, one_time_burst, refill_time_ms;
	/* The JSON named this bucket. A PATCH changes only the buckets it
	 * names (Firecracker's BucketUpdate); a 0-sized one removes the
	 * limit. */
	bool present;
};
struct rate_limiter_cfg {
	struct token_bucket bandwidth, ops;
};

struct boot_source_cfg {
	bool set;
	char kernel_path[CONFIG_PATH_MAX];
	char initrd_path[CONFIG_PATH_MAX]; /* "" when none */
	char boot_args[CONFIG_BOOT_ARGS_MAX];
};

struct machine_cfg {
	unsigned vcpu_count;
	unsigned mem_size_mib;
	bool smt;
	bool track_dirty_pages;
	bool huge_pages_2m;
	/* a static template (enum cpu_template_kind, C3..T2A) or None; given
	 * when a body named it (a PUT without it keeps the one configured) */
	unsigned cpu_template;
	bool cpu_template_given;
};

/* PUT /machine-config fills v (first: a PUT reads a machine_cfg); PATCH
 * fills v and marks the fields it names, and only those are applied. */
struct machine_patch {
	struct machine_cfg v;
	bool has_vcpu_count, has_mem_size_mib, has_smt, has_track_dirty_pages,
		has_huge_pages, has_cpu_template;
};

enum cache_type { CACHE_UNSAFE, CACHE_WRITEBACK };
enum io_engine { IO_ENGINE_SYNC, IO_ENGINE_ASYNC };

struct drive_cfg {
	char id[CONFIG_ID_MAX];
	char path[CONFIG_PATH_MAX];
	char partuuid[CONFIG_ID_MAX];
	bool is_root, read_only;
	enum cache_type cache;
	enum io_engine engine;
	struct rate_limiter_cfg rl;
};

/* PATCH /drives/{id}: path and/or rate limiter. */
struct drive_patch {
	char id[CONFIG_ID_MAX];
	bool has_path, has_rl;
	char path[CONFIG_PATH_MAX];
	struct rate_limiter_cfg rl;
};

#define NET_MTU_MIN 68 /* Firecracker's bounds, IPv4's minimum */
#define NET_MTU_MAX 65535

struct net_cfg {
	char id[CONFIG_ID_MAX];
	char host_dev[16]; /* IFNAMSIZ */
	bool has_mac;
	uint8_t mac[6];
	unsigned mtu; /* 0: not set */
	struct rate_limiter_cfg rx, tx;
};

struct net_patch {
	char id[CONFIG_ID_MAX];
	struct rate_limiter_cfg rx, tx; /* absent: no bucket present */
};

struct vsock_cfg {
	bool set;
	uint32_t guest_cid;
	char uds_path[108]; /* sun_path */
};

struct entropy_cfg {
	bool set;
	struct rate_limiter_cfg rl;
};

/* PUT /balloon (before boot), as Firecracker's: the target size, what the
 * guest may do on its own, and how often it reports statistics (0: never;
 * stats cannot be turned on or off after boot). */
struct balloon_cfg {
	bool set;
	unsigned amount_mib;
	bool deflate_on_oom;
	unsigned stats_interval_s;
	bool free_page_reporting;
	bool free_page_hinting;
};
/* PATCH /balloon {amount_mib} (after boot). */
struct balloon_patch {
	unsigned amount_mib;
	bool has_amount_mib;
};
/* PATCH /balloon/statistics {stats_polling_interval_s} (after boot). */
struct balloon_stats_patch {
	unsigned stats_interval_s;
	bool has_stats_interval_s;
};

/* PUT /hotplug/memory (before boot), as Firecracker's: a virtio-mem
 * region of total_size_mib above guest RAM, plugged and unplugged by the
 * guest in blocks of block_size_mib (a power of two, >= 2), toward the
 * size PATCH /hotplug/memory requests; slot_size_mib (>= 128, a multiple
 * of the block) is the host's granularity: the usable part of the region
 * grows in slots. The total is a multiple of the slot. */
struct hotplug_cfg {
	bool set;
	unsigned total_size_mib, block_size_mib, slot_size_mib;
};
/* PATCH /hotplug/memory {requested_size_mib} (after boot). */
struct hotplug_patch {
	unsigned requested_size_mib;
	bool has_requested_size_mib;
};
#define HOTPLUG_DEFAULT_BLOCK_MIB 2
#define HOTPLUG_DEFAULT_SLOT_MIB 128

struct metrics_cfg {
	bool set;
	char path[CONFIG_PATH_MAX];
};

/* PUT /snapshot/create (VM paused). */
struct snapshot_create_cfg {
	char snapshot_path[CONFIG_PATH_MAX];
	char mem_file_path[CONFIG_PATH_MAX];
	bool diff; /* snapshot_type Diff */
};

/* PUT /snapshot/load (fresh process). */
struct snapshot_load_cfg {
	char snapshot_path[CONFIG_PATH_MAX];
	bool uffd; /* mem_backend.backend_type Uffd (else File) */
	char backend_path[CONFIG_PATH_MAX]; /* memory file or uffd socket */
	bool track_dirty_pages, resume_vm;
	/* KVM_CLOCK_REALTIME: the guest's kvmclock advances by the wall time
	 * since the snapshot (else it continues from the saved value) */
	bool clock_realtime;
	unsigned nr_net_overrides;
	struct net_override {
		char iface_id[CONFIG_ID_MAX];
		char host_dev[16];
	} net_overrides[CONFIG_MAX_NETS];
	bool has_vsock_override;
	char vsock_uds[108];
};

/* PUT /mmds/config (before boot): which interfaces reach the metadata
 * service, at which address, in which version. The data store itself is
 * not configuration (mmds/). */
struct mmds_cfg {
	bool set;
	bool v2; /* version V2 (session tokens), else V1 */
	bool imds_compat;
	uint32_t ipv4; /* host order; 169.254.169.254 by default */
	unsigned nr_ifaces;
	char ifaces[CONFIG_MAX_NETS][CONFIG_ID_MAX];
};

/* The whole configuration of a VM: what GET /vm/config returns. */
struct vm_config {
	struct boot_source_cfg boot;
	struct machine_cfg machine;
	struct drive_cfg drives[CONFIG_MAX_DRIVES];
	unsigned nr_drives;
	struct net_cfg nets[CONFIG_MAX_NETS];
	unsigned nr_nets;
	struct vsock_cfg vsock;
	struct entropy_cfg entropy;
	struct balloon_cfg balloon;
	struct hotplug_cfg hotplug; /* the file's key: memory-hotplug */
	struct logger_cfg logger; /* the logger's own settings (base/base.h) */
	struct metrics_cfg metrics;
	struct mmds_cfg mmds;
	/* PUT /cpu-config's custom template (kind CPU_TEMPLATE_CUSTOM), or
	 * kind CPU_TEMPLATE_NONE; it and machine.cpu_template: the last one
	 * configured wins (config_cpu_template) */
	struct cpu_template cpu_config;
};

/* Sets the defaults: 1 vCPU, 128 MiB, nothing else configured. */
void vm_config_init(struct vm_config *cfg);

/* ---- schema.c: one table per resource drives every JSON form of it ----
 *
 * A resource is described once, as a table of its fields (resources.c).
 * The engine reads a PUT body, a PATCH body and a config file's object with
 * it, and writes GET /vm/config with it: a field added to the table is
 * accepted, checked, patched and reported everywhere at once. */
struct cJSON;
struct config_err {
	char msg[CONFIG_ERR_MAX];
};

enum field_type {
	T_STRING, /* a C string of the member's size */
	T_ID, /* a resource id: [A-Za-z0-9_]{1,63} */
	T_BOOL,
	T_INT, /* an integer in [min, max], stored by the member's size */
	T_ENUM, /* one of names[], stored as its index */
	T_TEXT, /* a string that a codec turns into a value (a MAC) */
	T_OBJECT, /* a nested object read with `sub`, at `off` */
	T_STRINGS, /* an array of strings, each in size / max_items bytes,
		      counted at `count` */
	T_LIST, /* an array of `sub` objects: at `off`, counted at `count` */
	T_IGNORED, /* accepted with any value, kept nowhere */
	T_REFUSED, /* refused unless null: `why` says why */
};

/* Field flags. */
#define F_REQUIRED (1u << 0) /* a PUT must name it */
#define F_NONEMPTY (1u << 1) /* a string that must not be "" */
#define F_READABLE \
	(1u << 2) /* a path that must be readable (if optional:
				 unless "") */
#define F_KEY (1u << 3) /* the id: required in PUT and PATCH, in the path */
#define F_DEPRECATED \
	(1u << 4) /* naming it marks the request deprecated;
				 a bool alias can only turn its field on */
#define F_QUIET (1u << 5) /* read, never written (GET /vm/config) */
#define F_OMIT_EMPTY (1u << 6) /* written only when not 0 or "" */

/* A value that is a string in JSON but not in C. */
struct codec {
	int (*parse)(const char *s, void *out); /* 0 or -EINVAL */
	void (*print)(const void *in, char *buf, size_t size);
	const char *expect; /* "a unicast MAC like 06:00:ac:10:00:02" */
};

struct schema;
struct field {
	const char *name; /* the JSON key */
	enum field_type type;
	unsigned flags;
	size_t off, size; /* the value in the resource's struct (size 0:
			     checked, not kept) */
	/* offset + 1 of a bool set when the body names the field; 0: none */
	size_t given;
	/* offset + 1 of the value in the resource's PATCH struct: a PATCH may
	 * name the field (0: it may not); patch_given as `given` there */
	size_t patch_off, patch_given;
	double min, max; /* T_INT */
	const char *const *names; /* T_ENUM, NULL-terminated */
	const struct codec *codec; /* T_TEXT */
	const struct schema *sub; /* T_OBJECT, T_LIST */
	size_t count; /* T_LIST, T_STRINGS: offset of its unsigned count */
	unsigned max_items; /* T_LIST, T_STRINGS */
	const char *dflt; /* T_STRING: the value when the body leaves it out */
	const char *why; /* T_REFUSED */
};

/* Helpers for the tables: FIELD("name", T_x, struct, member, ...). */
#define FIELD(json, t, st, member, ...)                                   \
	{                                                                 \
		.name = (json), .type = (t), .off = offsetof(st, member), \
		.size = sizeof(((st *)0)->member), __VA_ARGS__            \
	}
#define GIVEN(type, member) .given = offsetof(type, member) + 1
#define PATCH(type, member) .patch_off = offsetof(type, member) + 1
#define PATCH_GIVEN(type, member) .patch_given = offsetof(type, member) + 1
#define CONFIGURED(type, member) .set = offsetof(type, member) + 1

struct schema {
	const struct field *fields; /* ends with a { .name = NULL } row */
	size_t size; /* of the struct a PUT fills */
	size_t patch_size; /* of the struct a PATCH fills; 0: no PATCH */
	/* offset + 1 of a bool: the resource is configured (set by a PUT;
	 * written only when true); 0: none */
	size_t set;
	bool open; /* unknown fields are ignored, not refused (metrics) */
	/* Rules between fields, after a PUT's fields are read. */
	int (*check)(void *obj, const struct cJSON *j, const char *where,
		     struct config_err *e);
};

/* The resources (resources.c). */
extern const struct schema boot_source_schema, machine_schema, drive_schema,
	net_schema, vsock_schema, entropy_schema, logger_schema, metrics_schema,
	snapshot_create_schema, snapshot_load_schema, rate_limiter_schema,
	mmds_schema, balloon_schema, balloon_stats_schema, hotplug_schema,
	hotplug_patch_schema;
#define MMDS_CONFIG_ERR "MMDS config error: " /* Firecracker's messages */

/* Reads a body into `out` (zeroed first): a PUT fills the resource's
 * struct (schema->size bytes); a PATCH (patch = true) fills its PATCH
 * struct with the fields that may be patched. 0, or -EINVAL with a message
 * naming the field (prefixed by `where`: the route or the config key).
 * `deprecated` (may be NULL) is set when a deprecated field is named. */
MUST_CHECK int config_read(const struct schema *s, const struct cJSON *j,
			   const char *where, bool patch, void *out,
			   bool *deprecated, struct config_err *e);
/* The id (F_KEY field) a body read by config_read carried, or NULL. */
const char *config_key(const struct schema *s, bool patch, const void *out);
/* Copies the fields a PATCH struct names into the resource's struct. */
void config_apply_patch(const struct schema *s, void *obj, const void *patch);
/* A PATCH's rate limiter into a device's config: the buckets it names. */
void config_patch_rate_limiter(struct rate_limiter_cfg *cfg,
			       const struct rate_limiter_cfg *p);
/* Whether a resource is configured (always, if it has no `set` flag). */
bool config_is_set(const struct schema *s, const void *obj);
/* The JSON object of a resource (GET /vm/config); cJSON_Delete it. */
struct cJSON *config_write(const struct schema *s, const void *obj);

/* A log level name as Firecracker reads it: case-insensitive Off, Error,
 * Warning (or Warn), Info, Debug, Trace. Its level, or -1. */
int config_parse_log_level(const char *name);
/* Checks the rules between machine-config fields (smt, huge pages). */
MUST_CHECK int machine_check(const struct machine_cfg *m, struct config_err *e);
/* Resource ids: [A-Za-z0-9_]{1,63}. */
bool config_valid_id(const char *id);
int config_fail(struct config_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- config.c: the config file and GET /vm/config ---- */
/* The CPU template InstanceStart applies: the custom one, the static one
 * (filled into *buf), or NULL for None. */
const struct cpu_template *config_cpu_template(const struct vm_config *cfg,
					       struct cpu_template *buf);
/* Parses and validates a config text. 0, or -EINVAL with e->msg. */
MUST_CHECK int config_parse(const char *json, size_t len, struct vm_config *cfg,
			    struct config_err *e);
/* A snapshot's saved config: as config_parse, without the boot source
 * (the kernel is already in guest memory). */
MUST_CHECK int config_parse_saved(const char *json, size_t len,
				  struct vm_config *cfg, struct config_err *e);
/* Reads (size-capped) and parses a config file. */
MUST_CHECK int config_load(const char *path, struct vm_config *cfg,
			   struct config_err *e);
/* Rules between resources, shared by the config file and the API:
 * PATCH-style machine update (then machine_check), drive/interface insert
 * or replace by id (one root drive, unique host devices and MACs), and
 * room for a new device (CONFIG_MAX_DEVICES in all). */
void config_put_machine(struct vm_config *cfg, const struct machine_cfg *m);
void config_put_cpu_config(struct vm_config *cfg, const struct cpu_template *t);
MUST_CHECK int config_patch_machine(struct vm_config *cfg,
				    const struct machine_patch *p,
				    struct config_err *e);
MUST_CHECK int config_put_drive(struct vm_config *cfg,
				const struct drive_cfg *d,
				struct config_err *e);
MUST_CHECK int config_put_net(struct vm_config *cfg, const struct net_cfg *n,
			      struct config_err *e);
MUST_CHECK int config_put_vsock(struct vm_config *cfg,
				const struct vsock_cfg *v,
				struct config_err *e);
MUST_CHECK int config_put_entropy(struct vm_config *cfg,
				  const struct entropy_cfg *en,
				  struct config_err *e);
/* PUT /balloon: one balloon, no larger than guest memory. */
MUST_CHECK int config_put_balloon(struct vm_config *cfg,
				  const struct balloon_cfg *b,
				  struct config_err *e);
/* PUT /hotplug/memory: one virtio-mem region. */
MUST_CHECK int config_put_hotplug(struct vm_config *cfg,
				  const struct hotplug_cfg *h,
				  struct config_err *e);
/* PUT /mmds/config: version, address (link-local, not empty: checked
 * when read) and interfaces, each of which must be configured. */
MUST_CHECK int config_put_mmds(struct vm_config *cfg, const struct mmds_cfg *c,
			       struct config_err *e);
/* Whether interface id reaches the metadata service. */
bool config_mmds_iface(const struct mmds_cfg *c, const char *id);
/* The configuration as the JSON text of GET /vm/config (malloc'd). */
char *config_to_json(const struct vm_config *cfg);
/* One resource as JSON (GET /machine-config). */
char *machine_to_json(const struct machine_cfg *m);

/* ---- channel.c: the API thread -> the VMM thread ---- */
/* One request of the API, typed (api/routes.c makes them). */
enum api_op {
	OP_GET_INFO,
	OP_GET_VERSION,
	OP_GET_MACHINE,
	OP_GET_VM_CONFIG,
	OP_GET_MMDS,
	OP_GET_BALLOON,
	OP_GET_BALLOON_STATS,
	OP_GET_BALLOON_HINTING,
	OP_GET_HOTPLUG,
	OP_PUT_BOOT_SOURCE,
	OP_PUT_MACHINE,
	OP_PATCH_MACHINE,
	OP_PUT_CPU_CONFIG,
	OP_PUT_DRIVE,
	OP_PATCH_DRIVE,
	OP_PUT_NET,
	OP_PATCH_NET,
	OP_PUT_VSOCK,
	OP_PUT_ENTROPY,
	OP_PUT_LOGGER,
	OP_PUT_METRICS,
	OP_PATCH_VM,
	OP_SNAPSHOT_CREATE,
	OP_SNAPSHOT_LOAD,
	OP_SNAPSHOT_REWIND, /* microvm's own: PUT /snapshot/rewind */
	OP_INSTANCE_START,
	OP_SEND_CTRL_ALT_DEL,
	OP_FLUSH_METRICS,
	OP_PUT_MMDS_CONFIG,
	OP_PUT_MMDS,
	OP_PATCH_MMDS,
	OP_PUT_BALLOON,
	OP_PATCH_BALLOON,
	OP_PATCH_BALLOON_STATS,
	OP_BALLOON_HINT_START, /* PATCH /balloon/hinting/start */
	OP_BALLOON_HINT_STOP,
	OP_PUT_HOTPLUG,
	OP_PATCH_HOTPLUG,
	OP_UNKNOWN, /* the route could not be told */
};

struct api_request {
	enum api_op op;
	bool deprecated; /* the body used a deprecated field */
	union {
		struct boot_source_cfg boot;
		struct machine_patch machine;
		struct cpu_template cpu_config;
		struct drive_cfg drive;
		struct drive_patch drive_patch;
		struct net_cfg net;
		struct net_patch net_patch;
		struct vsock_cfg vsock;
		struct entropy_cfg entropy;
		struct logger_cfg logger;
		struct metrics_cfg metrics;
		struct snapshot_create_cfg snap_create;
		struct snapshot_load_cfg snap_load;
		struct mmds_cfg mmds_cfg;
		struct balloon_cfg balloon;
		struct balloon_patch balloon_patch;
		struct balloon_stats_patch balloon_stats;
		struct hotplug_cfg hotplug;
		struct hotplug_patch hotplug_patch;
		struct cJSON *mmds_data; /* PUT/PATCH /mmds: owned by the
					    request (api_request_release) */
		bool pause; /* PATCH /vm: true = Paused, false = Resumed */
		bool rewind_resume; /* PUT /snapshot/rewind: resume_vm */
		bool hint_ack_on_stop; /* /balloon/hinting/start's */
	} u;
};

struct api_response {
	int status; /* 200, 204, 400... */
	char *body; /* malloc'd JSON or NULL */
	bool deprecation;
};

/* Frees what a request owns (the API thread, once it is answered). */
void api_request_release(struct api_request *req);

/* A 400 (or other status) response with {"fault_message": msg}. */
void api_error(struct api_response *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Carries one request at a time from the API thread to the VMM thread. */
struct api_channel {
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	int wake_fd; /* eventfd the VMM thread's loop watches */
	const struct api_request *req;
	struct api_response *resp;
	bool done;
	bool shutdown; /* the VMM thread is gone: fail every call */
};
/* The VMM thread's side: called when wake_fd fires. */
typedef void (*api_handler_fn)(void *opaque, const struct api_request *req,
			       struct api_response *resp);
MUST_CHECK int api_channel_init(struct api_channel *ch);
void api_channel_serve(struct api_channel *ch, api_handler_fn fn, void *opaque);
/* The API thread's side: hands req over and waits for the reply. */
void api_channel_call(struct api_channel *ch, const struct api_request *req,
		      struct api_response *resp);
/* Fails the pending and every later call (the VMM thread is stopping). */
void api_channel_shutdown(struct api_channel *ch);

#endif

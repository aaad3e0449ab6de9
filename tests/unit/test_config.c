// SPDX-License-Identifier: Apache-2.0
/* The config-file parser: accepted shapes and every rejection's message. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config/config.h"
#include "tests/unit/unit.h"

static struct config_err e;
static struct vm_config cfg;
#define err (e.msg)

static int parse(const char *json)
{
	return config_parse(json, strlen(json), &cfg, &e);
}

#define BOOT "\"boot-source\": {\"kernel_image_path\": \"/dev/null\"}"

/* Asserts a rejection whose message contains `needle`. */
static void rejects(const char *json, const char *needle)
{
	assert_int_equal(parse(json), -EINVAL);
	if (!strstr(err, needle))
		fail_msg("for %s: message '%s' lacks '%s'", json, err, needle);
}

static void test_minimal_and_defaults(void **state)
{
	assert_int_equal(parse("{" BOOT "}"), 0);
	assert_string_equal(cfg.boot.kernel_path, "/dev/null");
	assert_string_equal(cfg.boot.boot_args, DEFAULT_BOOT_ARGS);
	assert_int_equal(cfg.machine.vcpu_count, 1);
	assert_int_equal(cfg.machine.mem_size_mib, 128);
	assert_string_equal(cfg.boot.initrd_path, "");
}

static void test_full(void **state)
{
	assert_int_equal(
		parse("{\n\t\"boot-source\": {\"kernel_image_path\": \"/dev/null\","
		      " \"initrd_path\": \"/dev/zero\", \"boot_args\": \"a=b -- ls\"},"
		      "\"machine-config\": {\"vcpu_count\": 4, \"mem_size_mib\": 256,"
		      " \"smt\": true, \"track_dirty_pages\": false,"
		      " \"huge_pages\": \"2M\", \"cpu_template\": \"None\"},"
		      "\"drives\": [], \"network-interfaces\": [], \"vsock\": null}\n"),
		0);
	assert_string_equal(cfg.boot.initrd_path, "/dev/zero");
	assert_string_equal(cfg.boot.boot_args, "a=b -- ls");
	assert_int_equal(cfg.machine.vcpu_count, 4);
	assert_int_equal(cfg.machine.mem_size_mib, 256);
	assert_true(cfg.machine.smt);
	assert_true(cfg.machine.huge_pages_2m);
}

static void test_rejections(void **state)
{
	rejects("", "invalid JSON");
	rejects("{", "invalid JSON");
	rejects("[]", "must be a JSON object");
	rejects("{}", "missing 'boot-source'");
	rejects("{\"boot-source\": {}}", "missing 'kernel_image_path'");
	rejects("{\"boot-source\": 3}", "expected a JSON object");
	rejects("{\"boot-source\": {\"kernel_image_path\": 7}}",
		"kernel_image_path: expected a string");
	rejects("{\"boot-source\": {\"kernel_image_path\": \"/nonexistent/k\"}}",
		"cannot read '/nonexistent/k'");
	rejects("{\"boot-source\": {\"kernel_image_path\": \"/dev/null\","
		" \"initrd_path\": \"/nonexistent/i\"}}",
		"initrd_path: cannot read");
	rejects("{\"boot-source\": {\"kernel_image_path\": \"/dev/null\", \"x\": 1}}",
		"unknown field 'x'");
	rejects("{" BOOT ", \"drives\": [{}]}", "drives[]: missing 'drive_id'");
	rejects("{" BOOT ", \"drives\": {}}", "drives: expected an array");
	rejects("{" BOOT ", \"balloon\": {}}", "balloon: missing 'amount_mib'");
	rejects("{" BOOT ", \"pmem\": [{}]}", "'pmem' is not supported");
}

static void test_machine_config_rejections(void **state)
{
	rejects("{" BOOT ", \"machine-config\": {\"mem_size_mib\": 128}}",
		"missing 'vcpu_count'");
	rejects("{" BOOT
		", \"machine-config\": {\"vcpu_count\": 0, \"mem_size_mib\": 128}}",
		"vcpu_count: 0 is out of range [1, 32]");
	rejects("{" BOOT
		", \"machine-config\": {\"vcpu_count\": 33, \"mem_size_mib\": 128}}",
		"out of range");
	rejects("{" BOOT
		", \"machine-config\": {\"vcpu_count\": 1.5, \"mem_size_mib\": 128}}",
		"vcpu_count: expected an integer");
	rejects("{" BOOT
		", \"machine-config\": {\"vcpu_count\": \"2\", \"mem_size_mib\": 128}}",
		"expected an integer");
	rejects("{" BOOT
		", \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": -1}}",
		"mem_size_mib: -1 is out of range");
	rejects("{" BOOT
		", \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 1e30}}",
		"out of range");
	rejects("{" BOOT
		", \"machine-config\": {\"vcpu_count\": 3, \"mem_size_mib\": 128, \"smt\": true}}",
		"with smt, vcpu_count must be 1 or even");
	rejects("{" BOOT
		", \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 128, \"smt\": 1}}",
		"smt: expected true or false");
	rejects("{" BOOT
		", \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 128, \"huge_pages\": \"1G\"}}",
		"huge_pages: '1G' is not one of None, 2M");
	rejects("{" BOOT
		", \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 127, \"huge_pages\": \"2M\"}}",
		"mem_size_mib must be even");
	rejects("{" BOOT
		", \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 128, \"cpu_template\": \"T3\"}}",
		"cpu_template: 'T3' is not one of None, C3, T2, T2S, T2CL, T2A");
	rejects("{" BOOT
		", \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 128, \"bogus\": 1}}",
		"unknown field 'bogus'");
}

/* What Firecracker's GET /vm/config emits is a config file: every key is
 * accepted (null where microvm lacks the feature); unknown top-level keys
 * are ignored, as Firecracker ignores them. */
static void test_firecracker_vm_config_accepted(void **state)
{
	assert_int_equal(
		parse("{\"balloon\": null, \"drives\": [{\"drive_id\": \"rootfs\","
		      " \"partuuid\": null, \"is_root_device\": true,"
		      " \"cache_type\": \"Unsafe\", \"is_read_only\": false,"
		      " \"path_on_host\": \"/dev/null\", \"rate_limiter\": null,"
		      " \"io_engine\": \"Sync\", \"socket\": null}],"
		      " \"boot-source\": {\"kernel_image_path\": \"/dev/null\","
		      " \"initrd_path\": null, \"boot_args\": \"console=ttyS0\"},"
		      " \"cpu-config\": null, \"logger\": null,"
		      " \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 256,"
		      " \"smt\": false, \"track_dirty_pages\": false,"
		      " \"huge_pages\": \"None\"}, \"metrics\": null,"
		      " \"mmds-config\": null, \"network-interfaces\": [{"
		      "\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\","
		      " \"guest_mac\": \"06:00:ac:10:00:02\", \"mtu\": null,"
		      " \"rx_rate_limiter\": null, \"tx_rate_limiter\": null}],"
		      " \"vsock\": null, \"entropy\": null, \"pmem\": [],"
		      " \"memory-hotplug\": null, \"frobnicate\": {\"x\": 1}}"),
		0);
	assert_int_equal(cfg.nr_drives, 1);
	assert_int_equal(cfg.nr_nets, 1);
	assert_int_equal(cfg.nets[0].mtu, 0);
	assert_int_equal(cfg.machine.vcpu_count, 2);
	/* metrics: unknown fields ignored, as Firecracker's serde does */
	assert_int_equal(parse("{" BOOT
			       ", \"metrics\": {\"metrics_path\": \"/m\","
			       " \"emit_id\": true, \"properties\": {}}}"),
			 0);
	assert_string_equal(cfg.metrics.path, "/m");
	rejects("{" BOOT ", \"metrics\": {\"emit_id\": true}}",
		"metrics: missing 'metrics_path'");
}

#define NET                                                       \
	"\"network-interfaces\": [{\"iface_id\": \"eth0\","       \
	" \"host_dev_name\": \"tap0\"}, {\"iface_id\": \"eth1\"," \
	" \"host_dev_name\": \"tap1\"}]"

/* mmds-config as Firecracker's: version, interfaces that exist (read after
 * the interfaces, wherever it stands), a link-local address; and back out
 * as GET /vm/config writes it, which parses to the same. */
static void test_mmds_config(void **state)
{
	static struct vm_config again;
	char *json;

	assert_int_equal(parse("{" BOOT
			       ", \"mmds-config\": {\"network_interfaces\":"
			       " [\"eth1\", \"eth1\"]}, " NET "}"),
			 0);
	assert_true(cfg.mmds.set && !cfg.mmds.v2 && !cfg.mmds.imds_compat);
	assert_int_equal(cfg.mmds.ipv4, 0xa9fea9fe);
	assert_int_equal(cfg.mmds.nr_ifaces, 1);
	assert_true(config_mmds_iface(&cfg.mmds, "eth1"));
	assert_false(config_mmds_iface(&cfg.mmds, "eth0"));
	assert_int_equal(
		parse("{" BOOT ", " NET ", \"mmds-config\": {\"version\":"
		      " \"V2\", \"network_interfaces\": [\"eth1\","
		      " \"eth0\"], \"ipv4_address\": \"169.254.170.2\","
		      " \"imds_compat\": true}}"),
		0);
	assert_true(cfg.mmds.v2 && cfg.mmds.imds_compat);
	assert_int_equal(cfg.mmds.ipv4, 0xa9feaa02);
	json = config_to_json(&cfg);
	assert_non_null(strstr(
		json,
		"\"mmds-config\":{\"version\":\"V2\",\"network_interfaces\":[\"eth1\",\"eth0\"],\"ipv4_address\":\"169.254.170.2\",\"imds_compat\":true}"));
	assert_int_equal(config_parse(json, strlen(json), &again, &e), 0);
	assert_true(again.mmds.v2 && again.mmds.imds_compat);
	assert_int_equal(again.mmds.ipv4, cfg.mmds.ipv4);
	assert_int_equal(again.mmds.nr_ifaces, 2);
	assert_true(config_mmds_iface(&again.mmds, "eth0") &&
		    config_mmds_iface(&again.mmds, "eth1"));
	free(json);
	assert_int_equal(parse("{" BOOT "}"), 0);
	json = config_to_json(&cfg);
	assert_non_null(strstr(json, "\"mmds-config\":null"));
	free(json);
}

static void test_mmds_config_rejections(void **state)
{
	rejects("{" BOOT
		", \"mmds-config\": {\"network_interfaces\": [\"eth0\"]}}",
		"MMDS config error: The list of network interface IDs provided "
		"contains at least one ID that does not correspond to any "
		"existing network interface.");
	rejects("{" BOOT ", " NET
		", \"mmds-config\": {\"network_interfaces\": []}}",
		"MMDS config error: The list of network interface IDs that "
		"allow forwarding MMDS requests is empty.");
	rejects("{" BOOT ", " NET ", \"mmds-config\": {}}",
		"mmds-config: missing 'network_interfaces'");
	rejects("{" BOOT ", " NET
		", \"mmds-config\": {\"network_interfaces\": [1]}}",
		"network_interfaces: expected strings");
	rejects("{" BOOT ", " NET ", \"mmds-config\": {\"network_interfaces\":"
		" [\"eth0\"], \"version\": \"V3\"}}",
		"mmds-config.version: 'V3' is not one of V1, V2");
	rejects("{" BOOT ", " NET ", \"mmds-config\": {\"network_interfaces\":"
		" [\"eth0\"], \"ipv4_address\": \"10.0.0.1\"}}",
		"MMDS config error: The MMDS IPv4 address is not link local.");
	/* Firecracker keeps 169.254.0.0/24 and 169.254.255.0/24 out */
	rejects("{" BOOT ", " NET ", \"mmds-config\": {\"network_interfaces\":"
		" [\"eth0\"], \"ipv4_address\": \"169.254.0.9\"}}",
		"not link local");
	rejects("{" BOOT ", " NET ", \"mmds-config\": {\"network_interfaces\":"
		" [\"eth0\"], \"ipv4_address\": \"169.254.255.1\"}}",
		"not link local");
	rejects("{" BOOT ", " NET ", \"mmds-config\": {\"network_interfaces\":"
		" [\"eth0\"], \"ipv4_address\": \"169.254.1\"}}",
		"ipv4_address: '169.254.1' is not an IPv4 address");
	rejects("{" BOOT ", " NET ", \"mmds-config\": {\"network_interfaces\":"
		" [\"eth0\"], \"imds_compat\": 1}}",
		"imds_compat: expected true or false");
	rejects("{" BOOT ", " NET ", \"mmds-config\": {\"network_interfaces\":"
		" [\"eth0\"], \"ttl\": 1}}",
		"unknown field 'ttl'");
}

/* The logger as Firecracker reads it: level in any case (Warn too), a
 * module filter; what is left out is marked so. */
static void test_logger(void **state)
{
	assert_int_equal(config_parse_log_level("warn"), LOG_WARN);
	assert_int_equal(config_parse_log_level("WARNING"), LOG_WARN);
	assert_int_equal(config_parse_log_level("Trace"), LOG_TRACE);
	assert_int_equal(config_parse_log_level("off"), LOG_OFF);
	assert_int_equal(config_parse_log_level("Warnings"), -1);
	assert_int_equal(config_parse_log_level(""), -1);
	assert_int_equal(parse("{" BOOT ", \"logger\": {\"level\": \"debug\","
			       " \"module\": \"virtio/net\"}}"),
			 0);
	assert_true(cfg.logger.has_level && cfg.logger.has_module);
	assert_int_equal(cfg.logger.level, LOG_DEBUG);
	assert_string_equal(cfg.logger.module, "virtio/net");
	assert_false(cfg.logger.has_show_level || cfg.logger.has_show_origin);
	assert_int_equal(
		parse("{" BOOT ", \"logger\": {\"show_level\": false}}"), 0);
	assert_true(cfg.logger.has_show_level && !cfg.logger.has_level);
	rejects("{" BOOT ", \"logger\": {\"level\": \"Loud\"}}",
		"logger.level: 'Loud' is not one of");
	rejects("{" BOOT ", \"logger\": {\"module\": 3}}",
		"logger.module: expected a string");
}

/* A config of n drives (ids d0...), then `tail` (", ..." or ""). */
static int parse_drives(unsigned n, const char *tail)
{
	static char json[8192];
	size_t len = (size_t)snprintf(json, sizeof(json),
				      "{" BOOT ", \"drives\": [");
	unsigned i;

	for (i = 0; i < n; i++)
		len += (size_t)snprintf(
			json + len, sizeof(json) - len,
			"%s{\"drive_id\": \"d%u\", \"path_on_host\": \"/dev/null\", \"is_root_device\": false}",
			i ? ", " : "", i);
	snprintf(json + len, sizeof(json) - len, "]%s}", tail);
	return parse(json);
}

/* CONFIG_MAX_DEVICES virtio devices of any kinds (one per interrupt
 * line), no more. */
static void test_device_capacity(void **state)
{
	const unsigned max = CONFIG_MAX_DEVICES;

	assert_int_equal(parse_drives(max, ""), 0);
	assert_int_equal(cfg.nr_drives, max);
	assert_int_equal(parse_drives(max + 1, ""), -EINVAL);
	assert_non_null(strstr(err, "drive: no room for another device"));
	assert_int_equal(parse_drives(max - 2, ", \"vsock\": {\"guest_cid\": 3,"
					       " \"uds_path\": \"/v\"},"
					       " \"entropy\": {}"),
			 0);
	assert_int_equal(
		parse_drives(max - 1,
			     ", \"entropy\": {}, \"vsock\": "
			     "{\"guest_cid\": 3, \"uds_path\": \"/v\"}"),
		-EINVAL);
	assert_non_null(strstr(err, "vsock: no room for another device"));
	assert_int_equal(parse_drives(max, ", \"network-interfaces\": [{"
					   "\"iface_id\": \"n\","
					   " \"host_dev_name\": \"tap0\"}]"),
			 -EINVAL);
	assert_non_null(strstr(err, "network interface: no room"));
	/* a device replaced by id takes no new room */
	assert_int_equal(parse_drives(max, ""), 0);
	assert_int_equal(config_put_drive(&cfg, &cfg.drives[3], &e), 0);
	assert_int_equal(cfg.nr_drives, max);
}

static void test_size_caps(void **state)
{
	static char long_args[CONFIG_BOOT_ARGS_MAX + 100];
	char *json;
	size_t n;

	memset(long_args, 'a', sizeof(long_args) - 1);
	n = sizeof(long_args) + 200;
	json = malloc(n);
	snprintf(
		json, n,
		"{\"boot-source\": {\"kernel_image_path\": \"/dev/null\", \"boot_args\": \"%s\"}}",
		long_args);
	rejects(json, "boot_args: longer than 2047 bytes");
	free(json);
	assert_int_equal(config_parse("{}", CONFIG_MAX_FILE_SIZE + 1, &cfg, &e),
			 -EINVAL);
	assert_non_null(strstr(err, "config larger than"));
}

static void test_load_missing_file(void **state)
{
	assert_int_equal(config_load("/nonexistent.json", &cfg, &e), -ENOENT);
	assert_non_null(
		strstr(err, "cannot open config file /nonexistent.json"));
}

/* A PATCH changes the buckets it names, a 0-sized one clears a limit. */
static void test_patch_rate_limiter(void **state)
{
	const struct token_bucket limit = { true, 1000, 0, 100, true };
	struct rate_limiter_cfg rl = { limit, limit }, p = { 0 };

	p.ops = (struct token_bucket){ .present = true };
	config_patch_rate_limiter(&rl, &p);
	assert_true(rl.bandwidth.set);
	assert_false(rl.ops.set);
}

/* GET /vm/config writes what the tables say, in their order, and reads
 * back as the same config (a snapshot's saved config is this text). */
static void test_vm_config_round_trip(void **state)
{
	static const char expected[] =
		"{\"boot-source\":{\"kernel_image_path\":\"/dev/null\","
		"\"initrd_path\":\"/dev/zero\",\"boot_args\":\"a=b\"},"
		"\"machine-config\":{\"vcpu_count\":2,\"mem_size_mib\":256,"
		"\"smt\":true,\"track_dirty_pages\":false,\"huge_pages\":\"2M\"},"
		"\"drives\":[{\"drive_id\":\"root\",\"path_on_host\":\"/dev/null\","
		"\"is_root_device\":true,\"is_read_only\":true,\"partuuid\":\"p-1\","
		"\"cache_type\":\"Writeback\",\"io_engine\":\"Async\","
		"\"rate_limiter\":{\"ops\":{\"size\":10,\"one_time_burst\":2,"
		"\"refill_time\":100}}},{\"drive_id\":\"d\",\"path_on_host\":"
		"\"/dev/zero\",\"is_root_device\":false,\"is_read_only\":false,"
		"\"cache_type\":\"Unsafe\",\"io_engine\":\"Sync\"}],"
		"\"network-interfaces\":[{\"iface_id\":\"eth0\",\"host_dev_name\":"
		"\"tap0\",\"guest_mac\":\"06:00:ac:10:00:02\",\"mtu\":1400,"
		"\"tx_rate_limiter\":{\"bandwidth\":{\"size\":1000,"
		"\"one_time_burst\":0,\"refill_time\":10}}},{\"iface_id\":\"eth1\","
		"\"host_dev_name\":\"tap1\"}],"
		"\"vsock\":{\"guest_cid\":3,\"uds_path\":\"/v\"},\"entropy\":{},"
		"\"balloon\":{\"amount_mib\":100,\"deflate_on_oom\":true,"
		"\"stats_polling_interval_s\":2,\"free_page_hinting\":false,"
		"\"free_page_reporting\":true},"
		"\"memory-hotplug\":{\"total_size_mib\":1024,"
		"\"block_size_mib\":4,\"slot_size_mib\":256},"
		"\"metrics\":{\"metrics_path\":\"/m\"},\"mmds-config\":null,\"cpu-config\":null}";
	char *first, *second;

	assert_int_equal(parse(expected), 0);
	first = config_to_json(&cfg);
	assert_string_equal(first, expected);
	assert_int_equal(config_parse_saved(first, strlen(first), &cfg, &e), 0);
	second = config_to_json(&cfg);
	/* the same, but for the boot source that a saved config skips */
	assert_int_equal(second[0], '{');
	assert_string_equal(second + 1, strstr(first, "\"machine-config\""));
	free(first);
	free(second);
	/* unset resources are null, a missing boot source left out */
	assert_int_equal(config_parse_saved("{}", 2, &cfg, &e), 0);
	first = config_to_json(&cfg);
	assert_string_equal(
		first,
		"{\"machine-config\":{\"vcpu_count\":1,\"mem_size_mib\":128,"
		"\"smt\":false,\"track_dirty_pages\":false,\"huge_pages\":\"None\"},"
		"\"drives\":[],\"network-interfaces\":[],\"vsock\":null,"
		"\"entropy\":null,\"balloon\":null,\"memory-hotplug\":null,"
		"\"metrics\":null,"
		"\"mmds-config\":null,\"cpu-config\":null}");
	free(first);
}

/* The balloon: read after machine-config wherever it stands, no larger
 * than guest memory. */
static void test_balloon(void **state)
{
	assert_int_equal(
		parse("{" BOOT ", \"balloon\": {\"amount_mib\": 300,"
		      " \"deflate_on_oom\": false, \"free_page_reporting\":"
		      " true}, \"machine-config\": {\"vcpu_count\": 1,"
		      " \"mem_size_mib\": 512}}"),
		0);
	assert_true(cfg.balloon.set && cfg.balloon.free_page_reporting);
	assert_int_equal(cfg.balloon.amount_mib, 300);
	assert_int_equal(cfg.balloon.stats_interval_s, 0);
	rejects("{" BOOT ", \"balloon\": {\"amount_mib\": 129,"
		" \"deflate_on_oom\": false}}",
		"balloon.amount_mib: 129 MiB is more than the guest's memory (128 MiB)");
	rejects("{" BOOT ", \"balloon\": {\"amount_mib\": 1}}",
		"balloon: missing 'deflate_on_oom'");
	assert_int_equal(
		parse("{" BOOT
		      ", \"balloon\": {\"amount_mib\": 1, \"deflate_on_oom\":"
		      " true, \"free_page_hinting\": true}}"),
		0);
	assert_true(cfg.balloon.free_page_hinting);
	rejects("{" BOOT
		", \"balloon\": {\"amount_mib\": 1, \"deflate_on_oom\":"
		" true, \"stats_polling_interval_s\": 65536}}",
		"stats_polling_interval_s");
	assert_int_equal(parse("{" BOOT ", \"balloon\": null}"), 0);
	assert_false(cfg.balloon.set);
}

/* Memory hot-plug (the file's "memory-hotplug"): Firecracker's defaults
 * and rules, in its words. */
static void test_memory_hotplug(void **state)
{
	static const struct {
		const char *body, *error;
	} bad[] = {
		{ "{}", "missing 'total_size_mib'" },
		{ "{\"total_size_mib\": 1024, \"block_size_mib\": 1}",
		  "Block size must not be lower than 2 MiB" },
		{ "{\"total_size_mib\": 1024, \"block_size_mib\": 6}",
		  "Block size must be a power of 2" },
		{ "{\"total_size_mib\": 1024, \"slot_size_mib\": 127}",
		  "Slot size must not be lower than 128 MiB" },
		{ "{\"total_size_mib\": 1024, \"block_size_mib\": 256}",
		  "Slot size must be a multiple of block size (256 MiB)" },
		{ "{\"total_size_mib\": 64}",
		  "Total size must not be lower than slot size (128 MiB)" },
		{ "{\"total_size_mib\": 200}",
		  "Total size must be a multiple of slot size (128 MiB)" },
		{ "{\"total_size_mib\": 2097152}", "total_size_mib" },
	};
	char text[256];
	unsigned i;

	assert_int_equal(
		parse("{" BOOT
		      ", \"memory-hotplug\": {\"total_size_mib\": 512}}"),
		0);
	assert_true(cfg.hotplug.set);
	assert_int_equal(cfg.hotplug.total_size_mib, 512);
	assert_int_equal(cfg.hotplug.block_size_mib, 2);
	assert_int_equal(cfg.hotplug.slot_size_mib, 128);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(text, sizeof(text),
			 "{" BOOT ", \"memory-hotplug\": %s}", bad[i].body);
		rejects(text, bad[i].error);
	}
	assert_int_equal(parse("{" BOOT ", \"memory-hotplug\": null}"), 0);
	assert_false(cfg.hotplug.set);
}

/* cpu_template in machine-config (static templates) and a custom template
 * (PUT /cpu-config, the config file's "cpu-config" path): kept, shown as
 * Firecracker shows them, the last one configured wins. */
static void test_cpu_templates(void **state)
{
	static const char custom[] =
		"{\"cpuid_modifiers\": [{\"leaf\": \"0x7\", \"subleaf\": \"0x0\","
		" \"flags\": 0, \"modifiers\": [{\"register\": \"ebx\","
		" \"bitmap\": \"0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx0x\"}]}],"
		" \"msr_modifiers\": [{\"addr\": \"0x10a\", \"bitmap\": \"0b1\"}]}";
	char path[] = "/tmp/test_config_cpuXXXXXX", json[512];
	struct cpu_template buf, custom_t = { 0 };
	struct machine_cfg m;
	struct machine_patch p = { 0 };
	char *text;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, custom, strlen(custom)), strlen(custom));
	close(fd);

	/* a static one is kept and shown; None is not shown */
	assert_int_equal(parse("{" BOOT ", \"machine-config\": {\"vcpu_count\":"
			       " 1, \"mem_size_mib\": 128, \"cpu_template\":"
			       " \"T2\"}}"),
			 0);
	assert_int_equal(cfg.machine.cpu_template, CPU_TEMPLATE_T2);
	assert_int_equal(config_cpu_template(&cfg, &buf)->kind,
			 CPU_TEMPLATE_T2);
	text = machine_to_json(&cfg.machine);
	assert_non_null(strstr(text, "\"cpu_template\":\"T2\""));
	free(text);
	text = config_to_json(&cfg);
	assert_non_null(strstr(text, "\"cpu_template\":\"T2\""));
	assert_non_null(strstr(text, "\"cpu-config\":null"));
	free(text);

	/* a PUT without cpu_template keeps it, one with None drops it */
	m = cfg.machine;
	m.cpu_template = 0;
	m.cpu_template_given = false;
	m.vcpu_count = 2;
	config_put_machine(&cfg, &m);
	assert_int_equal(cfg.machine.vcpu_count, 2);
	assert_int_equal(cfg.machine.cpu_template, CPU_TEMPLATE_T2);
	m.cpu_template_given = true;
	config_put_machine(&cfg, &m);
	assert_null(config_cpu_template(&cfg, &buf));
	text = machine_to_json(&cfg.machine);
	assert_null(strstr(text, "cpu_template"));
	free(text);

	/* a custom one replaces the static one and hides it ... */
	custom_t.kind = CPU_TEMPLATE_CUSTOM;
	custom_t.nr_msrs = 1;
	m.cpu_template = CPU_TEMPLATE_T2S;
	config_put_machine(&cfg, &m);
	config_put_cpu_config(&cfg, &custom_t);
	assert_ptr_equal(config_cpu_template(&cfg, &buf), &cfg.cpu_config);
	text = machine_to_json(&cfg.machine);
	assert_null(strstr(text, "cpu_template"));
	free(text);
	/* ... until a PATCH names a static one */
	p.has_cpu_template = true;
	p.v.cpu_template = CPU_TEMPLATE_T2CL;
	assert_int_equal(config_patch_machine(&cfg, &p, &e), 0);
	assert_int_equal(config_cpu_template(&cfg, &buf)->kind,
			 CPU_TEMPLATE_T2CL);
	text = machine_to_json(&cfg.machine);
	assert_non_null(strstr(text, "\"cpu_template\":\"T2CL\""));
	free(text);

	/* the config file's cpu-config names a template file; it wins over
	 * machine-config's, before or after it */
	snprintf(json, sizeof(json),
		 "{\"cpu-config\": \"%s\", " BOOT
		 ", \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\":"
		 " 128, \"cpu_template\": \"T2\"}}",
		 path);
	assert_int_equal(parse(json), 0);
	assert_int_equal(config_cpu_template(&cfg, &buf)->kind,
			 CPU_TEMPLATE_CUSTOM);
	assert_int_equal(cfg.cpu_config.nr_leaves, 1);
	assert_int_equal(cfg.cpu_config.leaves[0].filter[CPUID_EBX], 0x2);
	assert_int_equal(cfg.cpu_config.nr_msrs, 1);
	assert_int_equal(cfg.cpu_config.msrs[0].addr, 0x10a);
	unlink(path);
	rejects("{" BOOT ", \"cpu-config\": \"/nonexistent.json\"}",
		"cannot open cpu-config /nonexistent.json");
	rejects("{" BOOT ", \"cpu-config\": {}}",
		"cpu-config: expected a file path");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_and_defaults),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_machine_config_rejections),
		cmocka_unit_test(test_logger),
		cmocka_unit_test(test_mmds_config),
		cmocka_unit_test(test_mmds_config_rejections),
		cmocka_unit_test(test_firecracker_vm_config_accepted),
		cmocka_unit_test(test_device_capacity),
		cmocka_unit_test(test_size_caps),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_patch_rate_limiter),
		cmocka_unit_test(test_vm_config_round_trip),
		cmocka_unit_test(test_cpu_templates),
		cmocka_unit_test(test_balloon),
		cmocka_unit_test(test_memory_hotplug),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

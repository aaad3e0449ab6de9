// SPDX-License-Identifier: Apache-2.0
/* CPU templates are x86_64's (config/cpu_template.h): on arm64 a
 * machine-config cpu_template other than None and any cpu-config are
 * refused where they are configured (API bodies: 400; the config file),
 * None is taken. Runs natively, where the same requests are taken, and
 * under qemu-aarch64-static, where they are refused. */
#include <stdio.h>
#include <unistd.h>

#include "api/api.h"
#include "config/config.h"
#include "tests/unit/unit.h"

#define REFUSED "CPU templates are x86_64's"
#define BOOT "\"boot-source\": {\"kernel_image_path\": \"/dev/null\"}"
#define CUSTOM                                                                \
	"{\"cpuid_modifiers\": [], \"msr_modifiers\": [{\"addr\": \"0x10a\"," \
	" \"bitmap\": \"0b1\"}]}"

static bool on_arm64(void)
{
#ifdef __aarch64__
	return true;
#else
	return false;
#endif
}

/* Taken natively; on arm64 refused with a message naming where and why. */
static void expect(int ret, const char *msg, const char *where)
{
	if (!on_arm64()) {
		assert_int_equal(ret, 0);
		return;
	}
	assert_int_equal(ret, -EINVAL);
	if (!msg || !strstr(msg, where) || !strstr(msg, REFUSED))
		fail_msg("message '%s' lacks '%s' or '%s'", msg ? msg : "",
			 where, REFUSED);
}

/* An API request's answer: 0, or -EINVAL with the 400 in resp. */
static int route(int method, const char *path, const char *body,
		 struct api_response *resp)
{
	struct http_request h = { .method = method,
				  .body = body,
				  .body_len = strlen(body) };
	struct api_request req;

	snprintf(h.path, sizeof(h.path), "%s", path);
	memset(resp, 0, sizeof(*resp));
	return route_request(&h, &req, resp);
}

static void expect_route(int method, const char *path, const char *body,
			 const char *where)
{
	struct api_response resp;
	int ret = route(method, path, body, &resp);

	if (ret)
		assert_int_equal(resp.status, 400);
	expect(ret, resp.body, where);
	free(resp.body);
}

static void test_api(void **state)
{
	struct api_response resp;

	/* None is taken on both */
	assert_int_equal(route(HTTP_PUT, "/machine-config",
			       "{\"vcpu_count\": 1, \"mem_size_mib\": 128,"
			       " \"cpu_template\": \"None\"}",
			       &resp),
			 0);
	expect_route(HTTP_PUT, "/machine-config",
		     "{\"vcpu_count\": 1, \"mem_size_mib\": 128,"
		     " \"cpu_template\": \"T2A\"}",
		     "machine-config: cpu_template: ");
	expect_route(HTTP_PUT, "/cpu-config", CUSTOM, "cpu-config: ");
}

static void test_patch_and_config_file(void **state)
{
	char path[] = "/tmp/test_arm64_cpu_templateXXXXXX", json[256];
	struct machine_patch p = { .has_cpu_template = true,
				   .v.cpu_template = CPU_TEMPLATE_T2 };
	struct config_err e = { "" };
	struct vm_config cfg;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, CUSTOM, strlen(CUSTOM)), strlen(CUSTOM));
	close(fd);

	vm_config_init(&cfg);
	/* a PATCH is checked on the merged result */
	expect(config_patch_machine(&cfg, &p, &e), e.msg,
	       "machine-config: cpu_template: ");
	/* a refused PATCH leaves the configuration as it was */
	assert_int_equal(cfg.machine.cpu_template,
			 on_arm64() ? CPU_TEMPLATE_NONE : CPU_TEMPLATE_T2);

	e.msg[0] = '\0';
	snprintf(json, sizeof(json),
		 "{" BOOT ", \"machine-config\": {\"vcpu_count\": 1,"
		 " \"mem_size_mib\": 128, \"cpu_template\": \"T2\"}}");
	expect(config_parse(json, strlen(json), &cfg, &e), e.msg,
	       "machine-config: cpu_template: ");
	e.msg[0] = '\0';
	snprintf(json, sizeof(json), "{" BOOT ", \"cpu-config\": \"%s\"}",
		 path);
	expect(config_parse(json, strlen(json), &cfg, &e), e.msg,
	       "cpu-config: ");
	/* null is "none configured" on both */
	snprintf(json, sizeof(json), "{" BOOT ", \"cpu-config\": null}");
	assert_int_equal(config_parse(json, strlen(json), &cfg, &e), 0);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_api),
		cmocka_unit_test(test_patch_and_config_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

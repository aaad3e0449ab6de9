// SPDX-License-Identifier: Apache-2.0
/* The HTTP request parser and the router: shapes real clients send, and
 * every rejection. */
#include <cjson/cJSON.h>

#include "api/api.h"
#include "tests/unit/unit.h"

static long parse(const char *s, struct http_request *r, const char **why)
{
	return http_parse_request(s, strlen(s), 100, r, why);
}

static void test_complete_and_partial(void **state)
{
	struct http_request r;
	const char *why;
	const char *put =
		"PUT /machine-config HTTP/1.1\r\ncontent-length: 5\r\n\r\nhello";
	size_t n;

	assert_int_equal(parse("GET / HTTP/1.1\r\n\r\n", &r, &why), 18);
	assert_int_equal(r.method, HTTP_GET);
	assert_string_equal(r.path, "/");
	assert_false(r.close);
	assert_int_equal(parse(put, &r, &why), (long)strlen(put));
	assert_int_equal(r.method, HTTP_PUT);
	assert_int_equal(r.body_len, 5);
	assert_memory_equal(r.body, "hello", 5);
	for (n = 0; n < strlen(put); n++) /* every prefix: need more */
		assert_int_equal(http_parse_request(put, n, 100, &r, &why), 0);
	/* LF-only line ends, query strings, HTTP/1.0 closes */
	assert_int_equal(parse("PATCH /vm?x=1 HTTP/1.0\n\n", &r, &why), 24);
	assert_int_equal(r.method, HTTP_PATCH);
	assert_string_equal(r.path, "/vm");
	assert_true(r.close);
	assert_true(parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &r,
			  &why) > 0);
	assert_true(r.close);
	assert_int_equal(parse("DELETE / HTTP/1.1\r\n\r\n", &r, &why), 21);
	assert_int_equal(r.method, HTTP_OTHER);
}

static void test_expect_continue(void **state)
{
	struct http_request r;
	const char *why;

	assert_int_equal(parse("PUT /a HTTP/1.1\r\nExpect: 100-continue\r\n"
			       "Content-Length: 10\r\n\r\n",
			       &r, &why),
			 0);
	assert_true(r.expect_continue);
}

static void expect_400(const char *s, const char *why_part)
{
	struct http_request r;
	const char *why;
	long n = parse(s, &r, &why);

	if (n != -400 || !strstr(why, why_part))
		fail_msg("'%s': got %ld (%s), want -400 (%s)", s, n, why,
			 why_part);
}

static void test_rejections(void **state)
{
	static char big[HTTP_MAX_HEADER_BYTES + 10];

	expect_400("GET\r\n\r\n", "malformed request line");
	expect_400("GET /\r\n\r\n", "malformed request line");
	expect_400("GET / HTTP/2.0\r\n\r\n", "unsupported HTTP version");
	expect_400("GET x HTTP/1.1\r\n\r\n", "invalid request target");
	expect_400("GET / HTTP/1.1\r\nNoColon\r\n\r\n", "malformed header");
	expect_400("GET / HTTP/1.1\r\n: v\r\n\r\n", "malformed header");
	expect_400("PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
		   "Content-Length");
	expect_400("PUT / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
		   "Content-Length");
	expect_400(
		"PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
		"Content-Length");
	expect_400(
		"PUT / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"Content-Length");
	expect_400("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
		   "Transfer-Encoding");
	expect_400("PUT / HTTP/1.1\r\nContent-Length: 101\r\n\r\n",
		   "request body too large");
	memset(big, 'a', sizeof(big) - 1);
	expect_400(big, "request headers too large");
}

static int route(const char *method, const char *path, const char *body,
		 struct api_request *req, struct api_response *resp)
{
	struct http_request h = { 0 };

	h.method = !strcmp(method, "GET")   ? HTTP_GET :
		   !strcmp(method, "PUT")   ? HTTP_PUT :
		   !strcmp(method, "PATCH") ? HTTP_PATCH :
					      HTTP_OTHER;
	strcpy(h.path, path);
	h.body = body;
	h.body_len = body ? strlen(body) : 0;
	memset(resp, 0, sizeof(*resp));
	return route_request(&h, req, resp);
}

static void test_routes(void **state)
{
	struct api_request req;
	struct api_response resp;

	assert_int_equal(route("GET", "/", NULL, &req, &resp), 0);
	assert_int_equal(req.op, OP_GET_INFO);
	assert_int_equal(route("GET", "/vm/config", NULL, &req, &resp), 0);
	assert_int_equal(req.op, OP_GET_VM_CONFIG);
	assert_int_equal(route("PUT", "/actions",
			       "{\"action_type\":\"FlushMetrics\"}", &req,
			       &resp),
			 0);
	assert_int_equal(req.op, OP_FLUSH_METRICS);
	assert_int_equal(route("PATCH", "/vm", "{\"state\":\"Paused\"}", &req,
			       &resp),
			 0);
	assert_int_equal(req.op, OP_PATCH_VM);
	assert_true(req.u.pause);
	assert_int_equal(route("PATCH", "/machine-config", "{\"smt\":true}",
			       &req, &resp),
			 0);
	assert_int_equal(req.op, OP_PATCH_MACHINE);
	assert_true(req.u.machine.has_smt);
	assert_false(req.u.machine.has_vcpu_count);
	assert_int_equal(
		route("PUT", "/network-interfaces/eth0",
		      "{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\",\"guest_mac\":\"AA:FC:00:00:00:01\"}",
		      &req, &resp),
		0);
	assert_int_equal(req.op, OP_PUT_NET);
	assert_int_equal(req.u.net.mac[0], 0xaa);
	assert_int_equal(req.u.net.mac[5], 0x01);
	assert_int_equal(route("GET", "/mmds", NULL, &req, &resp), 0);
	assert_int_equal(req.op, OP_GET_MMDS);
	/* any JSON: the request carries it to the VMM thread */
	assert_int_equal(route("PATCH", "/mmds", "[1,\"x\"]", &req, &resp), 0);
	assert_int_equal(req.op, OP_PATCH_MMDS);
	assert_int_equal(cJSON_GetArraySize(req.u.mmds_data), 2);
	api_request_release(&req);
	assert_null(req.u.mmds_data);
	assert_int_equal(
		route("PUT", "/mmds/config",
		      "{\"network_interfaces\":[\"eth0\"],\"version\":\"V2\"}",
		      &req, &resp),
		0);
	assert_int_equal(req.op, OP_PUT_MMDS_CONFIG);
	assert_true(req.u.mmds_cfg.v2);
	assert_false(req.deprecated);
	assert_int_equal(route("PUT", "/mmds/config",
			       "{\"network_interfaces\":[\"eth0\"]}", &req,
			       &resp),
			 0);
	assert_true(req.deprecated); /* V1, as Firecracker says */
}

static void route_fails(const char *method, const char *path, const char *body,
			const char *msg)
{
	struct api_request req;
	struct api_response resp;

	assert_int_equal(route(method, path, body, &req, &resp), -EINVAL);
	assert_int_equal(resp.status, 400);
	if (!resp.body || !strstr(resp.body, msg))
		fail_msg("%s %s %s: '%s' lacks '%s'", method, path,
			 body ? body : "", resp.body, msg);
	free(resp.body);
}

static void test_route_rejections(void **state)
{
	route_fails("GET", "/nope", NULL, "Invalid request method and/or path");
	route_fails("POST", "/", NULL, "Invalid request method and/or path");
	route_fails("GET", "/", "{}", "GET requests take no body");
	route_fails("PUT", "/vsock", NULL, "needs a JSON body");
	route_fails("PUT", "/vsock", "[", "invalid JSON body");
	route_fails("PUT", "/actions", "{\"action_type\":\"X\"}",
		    "unknown action 'X'");
	route_fails("PUT", "/actions", "{\"action_type\":1}", "expected {");
	route_fails(
		"PUT", "/drives/a",
		"{\"drive_id\":\"b\",\"path_on_host\":\"/dev/null\",\"is_root_device\":false}",
		"differs from the one in the body");
	route_fails("PUT", "/drives/a\\x", "{}", "invalid id in path");
	route_fails("PUT", "/drives/a",
		    "{\"drive_id\":\"a\",\"path_on_host\":\"/dev/null\"}",
		    "missing 'is_root_device'");
	route_fails(
		"PUT", "/drives/a",
		"{\"drive_id\":\"a\",\"path_on_host\":\"/dev/null\",\"is_root_device\":false,\"cache_type\":\"Fast\"}",
		"cache_type: 'Fast' is not one of Unsafe, Writeback");
	route_fails(
		"PUT", "/drives/a",
		"{\"drive_id\":\"a\",\"path_on_host\":\"/dev/null\",\"is_root_device\":false,\"rate_limiter\":{\"bandwidth\":{\"size\":1}}}",
		"bandwidth: missing 'refill_time'");
	route_fails(/* 1 ms past Firecracker's bound (finding 8) */
		    "PUT", "/drives/a",
		    "{\"drive_id\":\"a\",\"path_on_host\":\"/dev/null\",\"is_root_device\":false,\"rate_limiter\":{\"ops\":{\"size\":1,\"refill_time\":18446744073710}}}",
		    "refill_time: 18446744073710 is out of range [0, 18446744073709]");
	route_fails("PUT", "/network-interfaces/e",
		    "{\"iface_id\":\"e\",\"host_dev_name\":\"\"}",
		    "must not be empty");
	route_fails(
		"PUT", "/network-interfaces/e",
		"{\"iface_id\":\"e\",\"host_dev_name\":\"t\",\"guest_mac\":\"zz\"}",
		"not a unicast MAC");
	route_fails("PUT", "/metrics", "{}", "missing 'metrics_path'");
	route_fails("PUT", "/snapshot/load", "{}", "missing 'snapshot_path'");
	route_fails(
		"PUT", "/snapshot/load",
		"{\"snapshot_path\":\"s\",\"mem_file_path\":\"m\",\"mem_backend\":{\"backend_type\":\"File\",\"backend_path\":\"m\"}}",
		"not both");
	route_fails(
		"PUT", "/snapshot/load",
		"{\"snapshot_path\":\"s\",\"mem_backend\":{\"backend_type\":\"Disk\",\"backend_path\":\"m\"}}",
		"'Disk' is not one of File, Uffd");
	route_fails(
		"PUT", "/snapshot/load",
		"{\"snapshot_path\":\"s\",\"mem_file_path\":\"m\",\"vsock_override\":{}}",
		"missing 'uds_path'");
	route_fails(
		"PUT", "/snapshot/create",
		"{\"snapshot_path\":\"s\",\"mem_file_path\":\"m\",\"snapshot_type\":\"Half\"}",
		"not one of Full, Diff");
	route_fails("PUT", "/balloon", "{}", "balloon: missing 'amount_mib'");
	route_fails("PATCH", "/balloon", "{\"deflate_on_oom\": true}",
		    "deflate_on_oom");
	route_fails("PATCH", "/balloon/statistics", "{\"amount_mib\": 1}",
		    "amount_mib");
	route_fails("PUT", "/balloon/hinting/start", "{}",
		    "Invalid request method and/or path");
	route_fails("PATCH", "/balloon/hinting/start",
		    "{\"acknowledge_on_stop\": \"not valid\"}",
		    "acknowledge_on_stop");
	route_fails("PATCH", "/balloon/hinting/start", "[",
		    "acknowledge_on_stop");
	route_fails("GET", "/balloon/hinting/stop", NULL,
		    "Invalid request method and/or path");
	route_fails("PUT", "/mmds", "{\"a\":", "invalid JSON body");
	route_fails("PUT", "/mmds/config", "{\"network_interfaces\": []}",
		    "allow forwarding MMDS requests is empty");
	route_fails("PUT", "/mmds/config",
		    "{\"network_interfaces\": [\"a\"],"
		    " \"ipv4_address\": \"1.2.3\"}",
		    "mmds/config.ipv4_address: '1.2.3' is not an IPv4 address");
	route_fails("PATCH", "/mmds/config", "{}",
		    "Invalid request method and/or path");
	route_fails("PATCH", "/drives/a",
		    "{\"drive_id\":\"a\",\"is_read_only\":true}",
		    "drive: 'is_read_only' cannot be changed by a PATCH");
	route_fails("PATCH", "/drives/a", "{\"path_on_host\":\"/dev/null\"}",
		    "drive: missing 'drive_id'");
	route_fails("PATCH", "/network-interfaces/e",
		    "{\"iface_id\":\"e\",\"mtu\":1500}",
		    "'mtu' cannot be changed by a PATCH");
	route_fails("PATCH", "/vsock", "{}", "Invalid request method");
}

/* A PATCH fills the resource's PATCH struct with what it names. */
/* Free page hinting, as Firecracker routes it: start's body optional
 * (acknowledge_on_stop true unless it says false), stop's ignored. */
static void test_hinting_routes(void **state)
{
	struct api_request req;
	struct api_response resp;

	assert_int_equal(
		route("PATCH", "/balloon/hinting/start", NULL, &req, &resp), 0);
	assert_int_equal(req.op, OP_BALLOON_HINT_START);
	assert_true(req.u.hint_ack_on_stop);
	assert_int_equal(route("PATCH", "/balloon/hinting/start",
			       "{\"acknowledge_on_stop\": false}", &req, &resp),
			 0);
	assert_false(req.u.hint_ack_on_stop);
	assert_int_equal(
		route("PATCH", "/balloon/hinting/start", "{}", &req, &resp), 0);
	assert_true(req.u.hint_ack_on_stop);
	assert_int_equal(
		route("PATCH", "/balloon/hinting/stop", "{}", &req, &resp), 0);
	assert_int_equal(req.op, OP_BALLOON_HINT_STOP);
	assert_int_equal(
		route("PATCH", "/balloon/hinting/stop", NULL, &req, &resp), 0);
	assert_int_equal(
		route("GET", "/balloon/hinting/status", NULL, &req, &resp), 0);
	assert_int_equal(req.op, OP_GET_BALLOON_HINTING);
}

static void test_patch_routes(void **state)
{
	struct api_request req;
	struct api_response resp;
	const struct drive_patch *d = &req.u.drive_patch;
	const struct net_patch *n = &req.u.net_patch;

	assert_int_equal(
		route("PATCH", "/drives/a",
		      "{\"drive_id\":\"a\",\"rate_limiter\":{\"ops\":{\"size\":0,\"refill_time\":0}}}",
		      &req, &resp),
		0);
	assert_int_equal(req.op, OP_PATCH_DRIVE);
	assert_string_equal(d->id, "a");
	assert_true(d->has_rl && !d->has_path);
	assert_true(d->rl.ops.present && !d->rl.ops.set);
	assert_false(d->rl.bandwidth.present);
	assert_int_equal(
		route("PATCH", "/drives/a",
		      "{\"drive_id\":\"a\",\"path_on_host\":\"/dev/zero\"}",
		      &req, &resp),
		0);
	assert_true(d->has_path && !d->has_rl);
	assert_string_equal(d->path, "/dev/zero");
	assert_int_equal(
		route("PATCH", "/network-interfaces/e",
		      "{\"iface_id\":\"e\",\"tx_rate_limiter\":{\"bandwidth\":{\"size\":5,\"refill_time\":7}}}",
		      &req, &resp),
		0);
	assert_int_equal(req.op, OP_PATCH_NET);
	assert_true(n->tx.bandwidth.present && n->tx.bandwidth.set);
	assert_int_equal(n->tx.bandwidth.refill_time_ms, 7);
	assert_false(n->rx.bandwidth.present || n->rx.ops.present);
	assert_int_equal(route("PATCH", "/balloon", "{\"amount_mib\": 64}",
			       &req, &resp),
			 0);
	assert_int_equal(req.op, OP_PATCH_BALLOON);
	assert_true(req.u.balloon_patch.has_amount_mib);
	assert_int_equal(req.u.balloon_patch.amount_mib, 64);
	assert_int_equal(route("PATCH", "/balloon/statistics",
			       "{\"stats_polling_interval_s\": 3}", &req,
			       &resp),
			 0);
	assert_int_equal(req.op, OP_PATCH_BALLOON_STATS);
	assert_int_equal(req.u.balloon_stats.stats_interval_s, 3);
	assert_int_equal(route("GET", "/balloon/statistics", NULL, &req, &resp),
			 0);
	assert_int_equal(req.op, OP_GET_BALLOON_STATS);
	assert_int_equal(route("GET", "/balloon", NULL, &req, &resp), 0);
	assert_int_equal(req.op, OP_GET_BALLOON);
}

static void test_snapshot_routes(void **state)
{
	struct api_request req;
	struct api_response resp;
	const struct snapshot_load_cfg *l = &req.u.snap_load;

	assert_int_equal(
		route("PUT", "/snapshot/create",
		      "{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\",\"snapshot_type\":\"Diff\"}",
		      &req, &resp),
		0);
	assert_int_equal(req.op, OP_SNAPSHOT_CREATE);
	assert_true(req.u.snap_create.diff);
	assert_int_equal(
		route("PUT", "/snapshot/load",
		      "{\"snapshot_path\":\"/s\",\"mem_backend\":{\"backend_type\":\"Uffd\",\"backend_path\":\"/u\"},\"resume_vm\":true,\"network_overrides\":[{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap9\"}],\"vsock_override\":{\"uds_path\":\"/v\"}}",
		      &req, &resp),
		0);
	assert_int_equal(req.op, OP_SNAPSHOT_LOAD);
	assert_true(l->uffd);
	assert_true(l->resume_vm);
	assert_string_equal(l->backend_path, "/u");
	assert_int_equal(l->nr_net_overrides, 1);
	assert_string_equal(l->net_overrides[0].host_dev, "tap9");
	assert_true(l->has_vsock_override);
	assert_string_equal(l->vsock_uds, "/v");
	assert_false(req.deprecated);
	assert_int_equal(
		route("PUT", "/snapshot/load",
		      "{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\",\"enable_diff_snapshots\":true}",
		      &req, &resp),
		0);
	assert_false(l->uffd);
	assert_true(l->track_dirty_pages);
	assert_true(req.deprecated);
	/* mem_file_path alone is deprecated too; the alias only turns on */
	assert_int_equal(
		route("PUT", "/snapshot/load",
		      "{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\",\"track_dirty_pages\":true,\"enable_diff_snapshots\":false}",
		      &req, &resp),
		0);
	assert_true(l->track_dirty_pages);
	assert_true(req.deprecated);
	assert_string_equal(l->backend_path, "/m");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_complete_and_partial),
		cmocka_unit_test(test_expect_continue),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_hinting_routes),
		cmocka_unit_test(test_patch_routes),
		cmocka_unit_test(test_route_rejections),
		cmocka_unit_test(test_snapshot_routes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

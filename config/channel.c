// SPDX-License-Identifier: Apache-2.0
/* The api_channel: one request at a time from the API thread to the VMM
 * thread (an eventfd wakes the VMM thread's loop; the API thread waits on a
 * condition variable for the reply), and the error reply both sides make. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "config/config.h"

void api_request_release(struct api_request *req)
{
	if (req->op == OP_PUT_MMDS || req->op == OP_PATCH_MMDS) {
		cJSON_Delete(req->u.mmds_data);
		req->u.mmds_data = NULL;
	}
}

void api_error(struct api_response *resp, int status, const char *fmt, ...)
{
	char msg[CONFIG_ERR_MAX];
	cJSON *o = cJSON_CreateObject();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON_AddStringToObject(o, "fault_message", msg);
	free(resp->body);
	resp->status = status;
	resp->body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
}

int api_channel_init(struct api_channel *ch)
{
	memset(ch, 0, sizeof(*ch));
	pthread_mutex_init(&ch->lock, NULL);
	pthread_cond_init(&ch->done_cond, NULL);
	ch->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return ch->wake_fd < 0 ? -errno : 0;
}

void api_channel_call(struct api_channel *ch, const struct api_request *req,
		      struct api_response *resp)
{
	uint64_t one = 1;

	pthread_mutex_lock(&ch->lock);
	ch->req = req;
	ch->resp = resp;
	ch->done = false;
	if (!ch->shutdown && write(ch->wake_fd, &one, sizeof(one)) < 0)
		ch->shutdown = true;
	while (!ch->done && !ch->shutdown)
		pthread_cond_wait(&ch->done_cond, &ch->lock);
	if (!ch->done)
		api_error(resp, 400, "microvm is shutting down");
	ch->req = NULL;
	pthread_mutex_unlock(&ch->lock);
}

void api_channel_serve(struct api_channel *ch, api_handler_fn fn, void *opaque)
{
	uint64_t n;

	if (read(ch->wake_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&ch->lock);
	if (ch->req && !ch->done) {
		fn(opaque, ch->req, ch->resp);
		ch->done = true;
		pthread_cond_broadcast(&ch->done_cond);
	}
	pthread_mutex_unlock(&ch->lock);
}

void api_channel_shutdown(struct api_channel *ch)
{
	pthread_mutex_lock(&ch->lock);
	ch->shutdown = true;
	pthread_cond_broadcast(&ch->done_cond);
	pthread_mutex_unlock(&ch->lock);
}

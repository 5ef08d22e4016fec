/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * event.c: pmesh events as JSON objects, and the sink helpers around them.
 *
 * Events are rare (a prober starts or stops, a flow loses a burst, the
 * spool fills or drains, an lcore's ring overflows), so they are JSON in
 * every encoding: readable with kcat, and free to grow fields.  Each has an
 * id "<prober hex>-ev-<seq>" (seq from a start-time base, as summaries),
 * so consumers can deduplicate them like summaries.  Built with snprintf
 * into a caller's buffer; an event that does not fit is refused whole
 * (-ENOSPC), never truncated into invalid JSON.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pm_clock.h"
#include "pm_sink.h"

static void
ev_vput(struct pm_event *ev, const char *fmt, va_list ap)
{
	int n;

	if (ev->full)
		return;
	n = vsnprintf(ev->buf + ev->len, ev->cap - ev->len, fmt, ap);
	if (n < 0 || (size_t)n >= ev->cap - ev->len) {
		ev->full = 1;
		ev->buf[ev->len] = '\0';	/* no half field left behind */
		return;
	}
	ev->len += (size_t)n;
}

static void
ev_put(struct pm_event *ev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ev_vput(ev, fmt, ap);
	va_end(ap);
}

static void
ev_put_json_str(struct pm_event *ev, const char *s)
{
	const unsigned char *p;

	ev_put(ev, "\"");
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			ev_put(ev, "\\%c", *p);
		else if (*p < 0x20)
			ev_put(ev, "\\u%04x", *p);
		else
			ev_put(ev, "%c", *p);
	}
	ev_put(ev, "\"");
}

void
pm_event_begin(struct pm_event *ev, char *buf, size_t cap,
	       const struct pm_sink *sk, const char *type)
{
	ev->buf = buf;
	ev->cap = cap;
	ev->len = 0;
	ev->full = cap == 0;
	ev_put(ev, "{\"schema\":%u,\"kind\":\"event\",\"id\":\"%08x-ev-%" PRIu64
	       "\",\"prober\":", PM_REC_SCHEMA, sk->prober_id, sk->event_seq);
	ev_put_json_str(ev, sk->prober_name != NULL ? sk->prober_name : "");
	ev_put(ev, ",\"time_ns\":%" PRIu64 ",\"event\":", pm_clock_realtime_ns());
	ev_put_json_str(ev, type);
}

void
pm_event_fields(struct pm_event *ev, char *buf, size_t cap)
{
	ev->buf = buf;
	ev->cap = cap;
	ev->len = 0;
	ev->full = cap == 0;
	if (cap)
		buf[0] = '\0';
}

void
pm_event_add(struct pm_event *ev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ev_vput(ev, fmt, ap);
	va_end(ap);
}

void
pm_event_add_str(struct pm_event *ev, const char *key, const char *val)
{
	ev_put(ev, ",");
	ev_put_json_str(ev, key);
	ev_put(ev, ":");
	ev_put_json_str(ev, val);
}

int
pm_event_end(struct pm_event *ev)
{
	ev_put(ev, "}");
	if (ev->full) {
		if (ev->cap > 0)
			ev->buf[0] = '\0';
		return -ENOSPC;
	}
	return (int)ev->len;
}

int
pm_sink_event(struct pm_sink *sk, struct pm_event *ev)
{
	int rc = pm_event_end(ev);

	if (rc < 0 || sk->ops->event == NULL) {
		if (rc < 0)
			sk->events_failed++;
		return rc < 0 ? rc : 0;
	}
	sk->event_seq++;
	rc = sk->ops->event(sk, ev->buf, ev->len);
	if (rc < 0)
		sk->events_failed++;
	else
		sk->events++;
	return rc;
}

void
pm_sink_logf(const struct pm_sink *sk, int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (sk != NULL && sk->log != NULL)
		sk->log(level, msg);
	else
		fprintf(stderr, "pmesh: %s\n", msg);
}

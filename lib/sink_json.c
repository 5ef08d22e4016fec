/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The JSON-lines sink: one line per summary (pm_record_json) to a file,
 * appended, or to stdout.
 *
 * Runs on the export thread only.  Output is block-buffered and pushed out
 * by flush(), which the export loop calls every window, so a busy prober
 * makes one write per window rather than one per summary.  The line buffer
 * starts small and grows (off the data path) for summaries whose
 * histograms have many buckets; nothing is dropped for lack of room.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_enc.h"
#include "pm_sink.h"

#define JSINK_LINE0	16384
#define JSINK_LINE_MAX	(4u << 20)	/* far above any real summary */

struct jsink {
	FILE *f;
	int own;		/* we opened f (not stdout) */
	char *line;
	size_t cap;
};

static int
jsink_open(struct pm_sink *sk, const char *dest)
{
	struct jsink *js;
	int rc;

	js = calloc(1, sizeof(*js));
	if (js == NULL)
		return -ENOMEM;
	js->cap = JSINK_LINE0;
	js->line = malloc(js->cap);
	if (js->line == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if (dest == NULL || strcmp(dest, "-") == 0) {
		js->f = stdout;
	} else {
		js->f = fopen(dest, "a");
		if (js->f == NULL) {
			rc = -errno;
			goto fail;
		}
		js->own = 1;
		/* Whole blocks, written when flush() says so, not per line. */
		setvbuf(js->f, NULL, _IOFBF, 1 << 16);
	}
	sk->priv = js;
	return 0;
fail:
	free(js->line);
	free(js);
	return rc;
}

/* Encode one summary into js->line, growing it as needed. */
static int
jsink_encode(struct pm_sink *sk, struct jsink *js,
	     const struct pm_record *recs, unsigned int n)
{
	for (;;) {
		int len = pm_record_json(recs, n, sk->prober_name, js->line,
					 js->cap);
		char *nl;

		if (len != -ENOSPC)
			return len;
		if (js->cap >= JSINK_LINE_MAX)
			return -ENOSPC;
		nl = realloc(js->line, js->cap * 2);
		if (nl == NULL)
			return -ENOMEM;
		js->line = nl;
		js->cap *= 2;
	}
}

static int
jsink_write(struct pm_sink *sk, const struct pm_record *recs, unsigned int n)
{
	struct jsink *js = sk->priv;
	unsigned int i = 0;
	int rc = 0, len;

	while (i < n) {
		unsigned int np = recs[i].h.nparts;

		if (recs[i].h.part != 0 || np == 0 || np > n - i) {
			/* Not the start of a whole summary: the batch is
			 * broken from here on, count what is left. */
			while (i < n) {
				sk->failed += recs[i].h.part == 0;
				i++;
			}
			return -EINVAL;
		}
		len = jsink_encode(sk, js, &recs[i], np);
		i += np;
		if (len < 0) {
			sk->failed++;
			rc = len;
			continue;
		}
		if (fwrite(js->line, 1, (size_t)len, js->f) != (size_t)len ||
		    putc('\n', js->f) == EOF) {
			sk->failed++;
			rc = -EIO;
			continue;
		}
		sk->summaries++;
	}
	return rc;
}

static int
jsink_poll(struct pm_sink *sk)
{
	(void)sk;
	return 0;
}

static int
jsink_flush(struct pm_sink *sk, unsigned int timeout_ms)
{
	struct jsink *js = sk->priv;

	(void)timeout_ms;	/* a local file does not wait on anyone */
	if (fflush(js->f) == EOF)
		return errno != 0 ? -errno : -EIO;
	return 0;
}

static void
jsink_close(struct pm_sink *sk)
{
	struct jsink *js = sk->priv;

	if (js == NULL)
		return;
	fflush(js->f);
	if (js->own)
		fclose(js->f);
	free(js->line);
	free(js);
	sk->priv = NULL;
}

/* Path records share the output with summaries: one line each, told
 * apart by "kind". */
static int
jsink_path(struct pm_sink *sk, const struct pm_path *p)
{
	struct jsink *js = sk->priv;
	char line[1024];
	int len = pm_enc_path_json(p, line, sizeof(line));

	if (len < 0 || fwrite(line, 1, (size_t)len, js->f) != (size_t)len ||
	    putc('\n', js->f) == EOF) {
		sk->paths_failed++;
		return len < 0 ? len : -EIO;
	}
	sk->paths++;
	return 0;
}

const struct pm_sink_ops pm_sink_json = {
	.name = "json",
	.open = jsink_open,
	.write = jsink_write,
	.path = jsink_path,
	.poll = jsink_poll,
	.flush = jsink_flush,
	.close = jsink_close,
};

const struct pm_sink_ops *
pm_sink_find(const char *name)
{
	if (name != NULL && strcmp(name, pm_sink_json.name) == 0)
		return &pm_sink_json;
	return NULL;
}

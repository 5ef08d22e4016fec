/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Topology loader and lookups (contract: pm_topo.h, format:
 * docs/topology.md).
 *
 * A file names pods of explicit racks (each a list of host addresses and
 * prefixes, plus its ToR's address), patterns that stamp out pods x racks
 * of one prefix each, the spines with their interface addresses, and
 * static flow -> spine rules.  Loading reads it into flat arrays: racks,
 * pods and spines indexed in file order (the aggregator prints tables in
 * that order), names in one string pool with a hash for lookups by name,
 * and two sorted arrays that answer the data-path questions by binary
 * search -- host ranges (one [lo, hi] per pattern rack or explicit entry,
 * disjoint by check) and hop addresses (every ToR and spine interface).
 * A 100k-rack fabric is then ~100k ranges: ~17 comparisons a lookup and a
 * few MB, whatever the number of hosts.
 *
 * Diagnostics are the prober config's (pm_cfg_err: "file:line: message",
 * every problem at once, in line order), so the messages and the did-you-
 * mean hints read alike.  Problems a pattern can multiply (overlaps,
 * duplicate names or addresses: one mistake, 100k racks) are shown up to a
 * bound, then counted, so a bad file fails fast with a readable report.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "pm_cfg.h"
#include "pm_topo.h"

#define TOPO_MAX_RACKS		1000000u
#define TOPO_MAX_PODS		TOPO_MAX_RACKS
#define TOPO_MAX_SPINES		65536u
#define TOPO_MAX_RULES		65536u
#define TOPO_NAME_MAX		(PM_CFG_NAME_MAX - 1)	/* characters */
#define TOPO_MASS_SHOWN		32	/* multiplied problems shown */
#define TOPO_SUGGEST_MAX	200000	/* names scanned for a hint */

/* Element kinds for names and the name hash. */
enum topo_el {
	TE_POD,
	TE_RACK,
	TE_SPINE,
};

struct topo_pod {
	uint32_t name;		/* offset in the name pool */
	int line;
	bool explicit;		/* from the pods list (not only patterns) */
};

struct topo_rack {
	uint32_t name;
	uint32_t pod;
	int line;		/* its entry, or its pattern */
	uint32_t srv_off;	/* its servers: servers[srv_off .. + srv_n) */
	uint32_t srv_n;
};

struct topo_spine {
	uint32_t name;
	int line;
};

/* A host range: a pattern rack, or one entry of a rack's hosts. */
struct topo_range {
	uint32_t lo;
	uint32_t hi;
	uint32_t rack;
	int line;
	const char *file;	/* valid while loading only */
};

/* A hop address: a ToR's or a spine's interface. */
struct topo_hop {
	uint32_t ip;
	uint32_t idx;
	int kind;		/* PM_TOPO_TOR or PM_TOPO_SPINE */
	int line;
	const char *file;	/* valid while loading only */
};

struct topo_rule {
	uint32_t src;		/* rack, PM_TOPO_NONE: any */
	uint32_t dst;
	uint16_t sport_first;
	uint16_t sport_last;
	uint32_t spine;
};

/* Open addressing, name -> index; slots hold index + 1 (0: empty). */
struct topo_hash {
	uint32_t *slot;
	uint32_t cap;		/* power of 2 */
	uint32_t n;
};

struct pm_topo {
	char *pool;
	size_t pool_len;
	size_t pool_cap;
	struct topo_pod *pods;
	uint32_t npods, pods_cap;
	struct topo_rack *racks;
	uint32_t nracks, racks_cap;
	struct topo_spine *spines;
	uint32_t nspines, spines_cap;
	struct topo_range *ranges;	/* sorted by lo once loaded */
	uint32_t nranges, ranges_cap;
	struct topo_hop *hops;		/* sorted by ip once loaded */
	uint32_t nhops, hops_cap;
	struct topo_rule *rules;	/* file order: first match wins */
	uint32_t nrules, rules_cap;
	uint32_t *servers;		/* by rack, in rack order */
	uint32_t nservers, servers_cap;
	struct topo_hash hash[3];	/* by enum topo_el */
};

/* Loading state. */
struct topo_build {
	struct pm_topo *t;
	const char *path;
	struct pm_cfg_errs *e;
	unsigned int n0;	/* errors before this file */
	uint64_t nmass;		/* multiplied problems, shown or not */
	bool oom;
	bool too_many;		/* "more than N racks" said once */
};

/* One key a group may hold. */
struct topo_key {
	const char *name;
	bool required;
};

#define NKEYS(k)	(sizeof(k) / sizeof((k)[0]))

static const struct topo_key top_keys[] = {
	{ "pods", false },
	{ "patterns", false },
	{ "spines", false },
	{ "static_spines", false },
};

static const struct topo_key pod_keys[] = {
	{ "name", true },
	{ "racks", false },
};

static const struct topo_key rack_keys[] = {
	{ "name", true },
	{ "tor", false },
	{ "hosts", false },
};

enum {
	PK_PODS, PK_RACKS_PER_POD, PK_POD_NAME, PK_RACK_NAME, PK_BASE,
	PK_RACK_PREFIX, PK_POD_FIRST, PK_RACK_FIRST, PK_TOR_HOST, PK_SERVERS,
	PK_SERVER_FIRST,
};

static const struct topo_key pattern_keys[] = {
	[PK_PODS] = { "pods", true },
	[PK_RACKS_PER_POD] = { "racks_per_pod", true },
	[PK_POD_NAME] = { "pod_name", true },
	[PK_RACK_NAME] = { "rack_name", true },
	[PK_BASE] = { "base", true },
	[PK_RACK_PREFIX] = { "rack_prefix", true },
	[PK_POD_FIRST] = { "pod_first", false },
	[PK_RACK_FIRST] = { "rack_first", false },
	[PK_TOR_HOST] = { "tor_host", false },
	[PK_SERVERS] = { "servers", false },
	[PK_SERVER_FIRST] = { "server_first", false },
};

static const struct topo_key spine_keys[] = {
	{ "name", true },
	{ "addresses", false },
};

enum { SK_SRC, SK_DST, SK_FIRST, SK_LAST, SK_SPINE };

static const struct topo_key rule_keys[] = {
	[SK_SRC] = { "src_rack", false },
	[SK_DST] = { "dst_rack", false },
	[SK_FIRST] = { "sport_first", false },
	[SK_LAST] = { "sport_last", false },
	[SK_SPINE] = { "spine", true },
};

#define TOPO_GROUP_KEYS_MAX	NKEYS(pattern_keys)

/* ---------------------------------------------------------------------- */
/* Diagnostics */

static const char *
topo_file(const config_setting_t *s, const char *path)
{
	const char *f = config_setting_source_file(s);

	return f != NULL ? f : path;
}

static int
topo_line(const config_setting_t *s)
{
	return (int)config_setting_source_line(s);
}

/* Line of array element @el, or of its array when libconfig has none. */
static int
topo_el_line(const config_setting_t *el, const config_setting_t *arr)
{
	int l = topo_line(el);

	return l > 0 ? l : topo_line(arr);
}

static const char *
topo_type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP:
		return "group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "integer";
	case CONFIG_TYPE_FLOAT:
		return "float";
	case CONFIG_TYPE_STRING:
		return "string";
	case CONFIG_TYPE_BOOL:
		return "boolean";
	case CONFIG_TYPE_ARRAY:
		return "array";
	case CONFIG_TYPE_LIST:
		return "list";
	default:
		return "nothing";
	}
}

/* A problem one pattern can repeat for each of its racks: shown up to
 * TOPO_MASS_SHOWN times, counted past that (the caller formats only when
 * it is shown, so a million of them stay cheap). */
static bool
topo_mass_show(struct topo_build *b)
{
	return b->nmass++ < TOPO_MASS_SHOWN;
}

static void
topo_oom(struct topo_build *b)
{
	if (!b->oom)
		pm_cfg_err(b->e, b->path, 0, "out of memory");
	b->oom = true;
}

/* Is @cand a plausible typo of @s (a third of its length, 1..3 edits),
 * and closer than *best?  Same rule as the prober config's hints. */
static bool
topo_closer(const char *s, const char *cand, unsigned int *best)
{
	unsigned int lim = (unsigned int)strlen(s) / 3, d;
	size_t ls = strlen(s), lc = strlen(cand);

	if (lim < 1)
		lim = 1;
	if (lim > 3)
		lim = 3;
	/* The length difference bounds the distance from below: most
	 * candidates are dismissed without the quadratic part. */
	if ((ls > lc ? ls - lc : lc - ls) > lim)
		return false;
	d = pm_cfg_edit_distance(s, cand);
	if (d > lim || d >= *best)
		return false;
	*best = d;
	return true;
}

static void
topo_err_unknown_key(struct topo_build *b, const config_setting_t *s,
		     const struct topo_key *keys, size_t n)
{
	const char *name = config_setting_name(s), *hint = NULL;
	unsigned int best = UINT32_MAX;
	size_t i;

	for (i = 0; i < n; i++)
		if (topo_closer(name, keys[i].name, &best))
			hint = keys[i].name;
	if (hint != NULL)
		pm_cfg_err(b->e, topo_file(s, b->path), topo_line(s),
			   "unknown key '%s' (did you mean '%s'?)", name, hint);
	else
		pm_cfg_err(b->e, topo_file(s, b->path), topo_line(s),
			   "unknown key '%s'", name);
}

/* ---------------------------------------------------------------------- */
/* Storage: growth, the name pool and the name hashes */

/* Make room for one more element in *@p (capacity *@cap). */
static int
topo_grow(void **p, uint32_t n, uint32_t *cap, size_t size)
{
	uint32_t nc;
	void *q;

	if (n < *cap)
		return 0;
	nc = *cap < 16 ? 16 : *cap * 2;
	q = realloc(*p, (size_t)nc * size);
	if (q == NULL)
		return -ENOMEM;
	*p = q;
	*cap = nc;
	return 0;
}

#define TOPO_GROW(b, arr, n, cap) \
	(topo_grow((void **)&(b)->t->arr, (b)->t->n, &(b)->t->cap, \
		   sizeof(*(b)->t->arr)) < 0 ? (topo_oom(b), -ENOMEM) : 0)

/* Copy @s into the pool; its offset, or UINT32_MAX when out of memory. */
static uint32_t
topo_pool_add(struct topo_build *b, const char *s)
{
	struct pm_topo *t = b->t;
	size_t l = strlen(s) + 1;
	uint32_t off;

	if (t->pool_len + l > t->pool_cap) {
		size_t nc = t->pool_cap < 4096 ? 4096 : t->pool_cap * 2;
		char *q;

		while (nc < t->pool_len + l)
			nc *= 2;
		if (nc > UINT32_MAX || (q = realloc(t->pool, nc)) == NULL) {
			topo_oom(b);
			return UINT32_MAX;
		}
		t->pool = q;
		t->pool_cap = nc;
	}
	off = (uint32_t)t->pool_len;
	memcpy(t->pool + off, s, l);
	t->pool_len += l;
	return off;
}

static const char *
topo_el_name(const struct pm_topo *t, int kind, uint32_t idx)
{
	switch (kind) {
	case TE_POD:
		return t->pool + t->pods[idx].name;
	case TE_RACK:
		return t->pool + t->racks[idx].name;
	default:
		return t->pool + t->spines[idx].name;
	}
}

static uint32_t
topo_hash_str(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	while (*s != '\0')
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

/* Index of @kind named @name, PM_TOPO_NONE if none. */
static uint32_t
topo_hash_find(const struct pm_topo *t, int kind, const char *name)
{
	const struct topo_hash *h = &t->hash[kind];
	uint32_t i;

	if (h->cap == 0)
		return PM_TOPO_NONE;
	for (i = topo_hash_str(name) & (h->cap - 1); h->slot[i] != 0;
	     i = (i + 1) & (h->cap - 1))
		if (strcmp(topo_el_name(t, kind, h->slot[i] - 1), name) == 0)
			return h->slot[i] - 1;
	return PM_TOPO_NONE;
}

static void
topo_hash_put(struct topo_hash *h, uint32_t hv, uint32_t idx)
{
	uint32_t i;

	for (i = hv & (h->cap - 1); h->slot[i] != 0; i = (i + 1) & (h->cap - 1))
		;
	h->slot[i] = idx + 1;
	h->n++;
}

/* Add element @idx of @kind (its name already stored) to the hash. */
static int
topo_hash_add(struct topo_build *b, int kind, uint32_t idx)
{
	struct topo_hash *h = &b->t->hash[kind];

	/* Keep the load under a half: probes stay short. */
	if ((h->n + 1) * 2 > h->cap) {
		struct topo_hash nh = { .cap = h->cap < 64 ? 64 : h->cap * 2 };
		uint32_t i;

		nh.slot = calloc(nh.cap, sizeof(*nh.slot));
		if (nh.slot == NULL) {
			topo_oom(b);
			return -ENOMEM;
		}
		for (i = 0; i < h->cap; i++)
			if (h->slot[i] != 0)
				topo_hash_put(&nh, topo_hash_str(topo_el_name(b->t,
						kind, h->slot[i] - 1)),
					      h->slot[i] - 1);
		free(h->slot);
		*h = nh;
	}
	topo_hash_put(h, topo_hash_str(topo_el_name(b->t, kind, idx)), idx);
	return 0;
}

/* The name of @kind closest to @name, or NULL (for "did you mean"). */
static const char *
topo_suggest(const struct pm_topo *t, int kind, const char *name)
{
	uint32_t n = kind == TE_POD ? t->npods : kind == TE_RACK ? t->nracks :
		     t->nspines, i;
	unsigned int best = UINT32_MAX;
	const char *hit = NULL;

	if (n > TOPO_SUGGEST_MAX)
		return NULL;
	for (i = 0; i < n; i++)
		if (topo_closer(name, topo_el_name(t, kind, i), &best))
			hit = topo_el_name(t, kind, i);
	return hit;
}

/* ---------------------------------------------------------------------- */
/* Reading values */

/* Check group @g's keys against @keys: unknown ones reported with a hint,
 * known ones in @v[] (NULL: absent), missing required ones reported.
 * Returns -EINVAL when a required key is missing. */
static int
topo_group(struct topo_build *b, const config_setting_t *g,
	   const struct topo_key *keys, size_t nkeys, const char *where,
	   const config_setting_t **v)
{
	int len = config_setting_length(g), i, rc = 0;
	size_t j;

	for (j = 0; j < nkeys; j++)
		v[j] = NULL;
	for (i = 0; i < len; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);

		for (j = 0; j < nkeys; j++)
			if (strcmp(name, keys[j].name) == 0)
				break;
		if (j == nkeys)
			topo_err_unknown_key(b, s, keys, nkeys);
		else
			v[j] = s;
	}
	for (j = 0; j < nkeys; j++)
		if (keys[j].required && v[j] == NULL) {
			pm_cfg_err(b->e, topo_file(g, b->path), topo_line(g),
				   "missing required key '%s' in group '%s'",
				   keys[j].name, where);
			rc = -EINVAL;
		}
	return rc;
}

/* @s must be a list (of groups) or, when @arrays, an array; its length,
 * or -EINVAL reported. */
static int
topo_list(struct topo_build *b, const config_setting_t *s, const char *what,
	  bool arrays)
{
	int t = config_setting_type(s);

	if (t != CONFIG_TYPE_LIST && !(arrays && t == CONFIG_TYPE_ARRAY)) {
		pm_cfg_err(b->e, topo_file(s, b->path), topo_line(s),
			   "%s: expected %s, got %s", what,
			   arrays ? "array" : "list", topo_type_name(t));
		return -EINVAL;
	}
	return config_setting_length(s);
}

static int
topo_int(struct topo_build *b, const config_setting_t *s, const char *what,
	 int64_t min, int64_t max, int64_t *out)
{
	int t;
	int64_t v;

	if (s == NULL)		/* missing: reported by topo_group */
		return -ENOENT;
	t = config_setting_type(s);
	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
		pm_cfg_err(b->e, topo_file(s, b->path), topo_line(s),
			   "%s: expected integer, got %s", what,
			   topo_type_name(t));
		return -EINVAL;
	}
	v = config_setting_get_int64(s);
	if (v < min || v > max) {
		pm_cfg_err(b->e, topo_file(s, b->path), topo_line(s),
			   "%s = %" PRId64 " out of range [%" PRId64 ", %"
			   PRId64 "]", what, v, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* A non-empty string; NULL reported (or absent, @s NULL). */
static const char *
topo_str(struct topo_build *b, const config_setting_t *s, const char *what)
{
	const char *str;
	int t;

	if (s == NULL)		/* missing: reported by topo_group */
		return NULL;
	t = config_setting_type(s);
	if (t != CONFIG_TYPE_STRING) {
		pm_cfg_err(b->e, topo_file(s, b->path), topo_line(s),
			   "%s: expected string, got %s", what, topo_type_name(t));
		return NULL;
	}
	str = config_setting_get_string(s);
	if (str[0] == '\0') {
		pm_cfg_err(b->e, topo_file(s, b->path), topo_line(s),
			   "%s: empty string", what);
		return NULL;
	}
	return str;
}

/* An element name: a string of 1..63 characters, not the wildcard. */
static const char *
topo_name(struct topo_build *b, const config_setting_t *s, const char *what)
{
	const char *str = topo_str(b, s, what);

	if (str == NULL)
		return NULL;
	if (strlen(str) > TOPO_NAME_MAX) {
		pm_cfg_err(b->e, topo_file(s, b->path), topo_line(s),
			   "%s: string too long (at most %d characters)", what,
			   TOPO_NAME_MAX);
		return NULL;
	}
	if (strcmp(str, "*") == 0) {
		pm_cfg_err(b->e, topo_file(s, b->path), topo_line(s),
			   "%s: '*' is reserved (the wildcard of static_spines)",
			   what);
		return NULL;
	}
	return str;
}

static bool
topo_unicast(uint32_t ip)
{
	return ip != 0 && ip != UINT32_MAX && (ip >> 28) != 0xe &&
	       (ip >> 24) != 0;
}

/* A unicast host address (a ToR's, a spine's, a pattern's base is not
 * one); -EINVAL reported at @line. */
static int
topo_addr(struct topo_build *b, const config_setting_t *s, int line,
	  const char *what, uint32_t *ip)
{
	const char *str = topo_str(b, s, what);

	if (str == NULL)
		return -EINVAL;
	if (pm_cfg_parse_ipv4(str, ip) < 0) {
		pm_cfg_err(b->e, topo_file(s, b->path), line,
			   "%s: invalid IPv4 address '%s'", what, str);
		return -EINVAL;
	}
	if (!topo_unicast(*ip)) {
		pm_cfg_err(b->e, topo_file(s, b->path), line,
			   "%s = %s invalid: not a unicast host address", what,
			   str);
		return -EINVAL;
	}
	return 0;
}

/* "a.b.c.d" (one host) or "a.b.c.d/len", len 8..32, into [lo, hi]. */
static int
topo_hosts_entry(struct topo_build *b, const config_setting_t *s, int line,
		 const char *what, uint32_t *lo, uint32_t *hi)
{
	const char *file = topo_file(s, b->path), *str, *slash;
	char addr[16], ipb[16];
	unsigned long len = 0;
	struct pm_prefix p;
	uint32_t ip;

	str = topo_str(b, s, what);
	if (str == NULL)
		return -EINVAL;
	slash = strchr(str, '/');
	if (slash == NULL) {
		if (pm_cfg_parse_ipv4(str, &ip) < 0 || !topo_unicast(ip)) {
			pm_cfg_err(b->e, file, line, "%s: '%s' is not a host "
				   "address or prefix (a.b.c.d or a.b.c.d/len)",
				   what, str);
			return -EINVAL;
		}
		*lo = *hi = ip;
		return 0;
	}
	if (pm_cfg_parse_prefix(str, &p) == 0) {
		len = p.mask == 0 ? 0 : 32 - (unsigned long)__builtin_ctz(p.mask);
		if (len < 8) {
			pm_cfg_err(b->e, file, line, "%s: prefix '%s' is wider "
				   "than /8", what, str);
			return -EINVAL;
		}
		*lo = p.addr;
		*hi = p.addr | ~p.mask;
		return 0;
	}
	/* pm_cfg_parse_prefix refuses host bits too: say which it is. */
	if ((size_t)(slash - str) < sizeof(addr)) {
		const char *q = slash + 1;

		memcpy(addr, str, (size_t)(slash - str));
		addr[slash - str] = '\0';
		while (isdigit((unsigned char)*q) && len <= 32)
			len = len * 10 + (unsigned long)(*q++ - '0');
		if (pm_cfg_parse_ipv4(addr, &ip) == 0 && q > slash + 1 &&
		    q - slash <= 3 && *q == '\0' && len <= 32 &&
		    !(slash[1] == '0' && q - slash > 2)) {
			uint32_t mask = len == 0 ? 0 : ~0u << (32 - len);

			if (len < 8)
				pm_cfg_err(b->e, file, line, "%s: prefix '%s' is "
					   "wider than /8", what, str);
			else
				pm_cfg_err(b->e, file, line, "%s: prefix '%s' "
					   "has host bits set (did you mean "
					   "'%s/%lu'?)", what, str,
					   pm_cfg_fmt_ipv4(ip & mask, ipb), len);
			return -EINVAL;
		}
	}
	pm_cfg_err(b->e, file, line, "%s: '%s' is not a host address or prefix "
		   "(a.b.c.d or a.b.c.d/len)", what, str);
	return -EINVAL;
}

/* Element @i of list @l as a group named @where; NULL reported. */
static const config_setting_t *
topo_list_group(struct topo_build *b, const config_setting_t *l, int i,
		const char *where)
{
	const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);

	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		pm_cfg_err(b->e, topo_file(g, b->path), topo_el_line(g, l),
			   "%s: expected group, got %s", where,
			   topo_type_name(config_setting_type(g)));
		return NULL;
	}
	return g;
}

/* ---------------------------------------------------------------------- */
/* Building */

/* Format a range as "a.b.c.d" or "a.b.c.d/len" (ranges are prefixes). */
static const char *
topo_fmt_range(uint32_t lo, uint32_t hi, char *buf, size_t cap)
{
	char ipb[16];
	uint64_t size = (uint64_t)hi - lo + 1;

	if (size == 1)
		snprintf(buf, cap, "%s", pm_cfg_fmt_ipv4(lo, ipb));
	else
		snprintf(buf, cap, "%s/%d", pm_cfg_fmt_ipv4(lo, ipb),
			 32 - __builtin_ctzll(size));
	return buf;
}

/* A pod named @name: the existing one for patterns (they may add racks
 * to a pod the pods list or another pattern also names), a new one for
 * the pods list.  PM_TOPO_NONE reported. */
static uint32_t
topo_pod_add(struct topo_build *b, const char *name, int line, bool explicit,
	     const char *file)
{
	struct pm_topo *t = b->t;
	uint32_t p = topo_hash_find(t, TE_POD, name);

	if (p != PM_TOPO_NONE) {
		if (explicit && t->pods[p].explicit) {
			pm_cfg_err(b->e, file, line, "duplicate pod name '%s' "
				   "(first at line %d)", name, t->pods[p].line);
			return PM_TOPO_NONE;
		}
		if (explicit) {
			t->pods[p].explicit = true;
			t->pods[p].line = line;
		}
		return p;
	}
	if (t->npods >= TOPO_MAX_PODS || TOPO_GROW(b, pods, npods, pods_cap) < 0)
		return PM_TOPO_NONE;
	p = t->npods;
	t->pods[p].name = topo_pool_add(b, name);
	t->pods[p].line = line;
	t->pods[p].explicit = explicit;
	if (t->pods[p].name == UINT32_MAX)
		return PM_TOPO_NONE;
	t->npods++;
	if (topo_hash_add(b, TE_POD, p) < 0)
		return PM_TOPO_NONE;
	return p;
}

/* A rack named @name in pod @pod; PM_TOPO_NONE reported (@mass: a
 * pattern's, whose duplicates are bounded). */
static uint32_t
topo_rack_add(struct topo_build *b, const char *name, uint32_t pod, int line,
	      const char *file, bool mass)
{
	struct pm_topo *t = b->t;
	uint32_t r = topo_hash_find(t, TE_RACK, name);

	if (r != PM_TOPO_NONE) {
		if (!mass || topo_mass_show(b))
			pm_cfg_err(b->e, file, line, "duplicate rack name '%s' "
				   "(first at line %d)", name, t->racks[r].line);
		return PM_TOPO_NONE;
	}
	if (t->nracks >= TOPO_MAX_RACKS) {
		if (!b->too_many)
			pm_cfg_err(b->e, file, line, "more than %u racks",
				   TOPO_MAX_RACKS);
		b->too_many = true;
		return PM_TOPO_NONE;
	}
	if (TOPO_GROW(b, racks, nracks, racks_cap) < 0)
		return PM_TOPO_NONE;
	r = t->nracks;
	t->racks[r].name = topo_pool_add(b, name);
	t->racks[r].pod = pod;
	t->racks[r].line = line;
	t->racks[r].srv_off = t->nservers;
	t->racks[r].srv_n = 0;
	if (t->racks[r].name == UINT32_MAX)
		return PM_TOPO_NONE;
	t->nracks++;
	if (topo_hash_add(b, TE_RACK, r) < 0)
		return PM_TOPO_NONE;
	return r;
}

/* A server of @rack, the rack added last (servers are kept by rack). */
static void
topo_server_add(struct topo_build *b, uint32_t rack, uint32_t ip)
{
	struct pm_topo *t = b->t;

	if (rack != t->nracks - 1 || TOPO_GROW(b, servers, nservers, servers_cap) < 0)
		return;
	t->servers[t->nservers++] = ip;
	t->racks[rack].srv_n++;
}

static void
topo_range_add(struct topo_build *b, uint32_t lo, uint32_t hi, uint32_t rack,
	       const char *file, int line)
{
	struct pm_topo *t = b->t;

	if (TOPO_GROW(b, ranges, nranges, ranges_cap) < 0)
		return;
	t->ranges[t->nranges++] = (struct topo_range){ .lo = lo, .hi = hi,
		.rack = rack, .line = line, .file = file };
}

static void
topo_hop_add(struct topo_build *b, uint32_t ip, int kind, uint32_t idx,
	     const char *file, int line)
{
	struct pm_topo *t = b->t;

	if (TOPO_GROW(b, hops, nhops, hops_cap) < 0)
		return;
	t->hops[t->nhops++] = (struct topo_hop){ .ip = ip, .idx = idx,
		.kind = kind, .line = line, .file = file };
}

/* One explicit rack, group @g (@where in messages), of pod @pod. */
static void
topo_read_rack(struct topo_build *b, const config_setting_t *g, uint32_t pod,
	       const char *where)
{
	const config_setting_t *v[NKEYS(rack_keys)];
	const char *file = topo_file(g, b->path), *name;
	uint32_t r = PM_TOPO_NONE, ip, lo, hi;
	char what[32];
	int n, i;

	/* A rack that cannot be added (no name, refused pod) still has its
	 * values checked: every problem at once. */
	topo_group(b, g, rack_keys, NKEYS(rack_keys), where, v);
	name = topo_name(b, v[0], "name");
	if (name != NULL && pod != PM_TOPO_NONE)
		r = topo_rack_add(b, name, pod, topo_line(g), file, false);
	if (v[1] != NULL && topo_addr(b, v[1], topo_line(v[1]), "tor", &ip) == 0 &&
	    r != PM_TOPO_NONE)
		topo_hop_add(b, ip, PM_TOPO_TOR, r, topo_file(v[1], b->path),
			     topo_line(v[1]));
	if (v[2] == NULL)
		return;
	n = topo_list(b, v[2], "hosts", true);
	for (i = 0; i < n; i++) {
		const config_setting_t *el = config_setting_get_elem(v[2],
								    (unsigned)i);
		int line = topo_el_line(el, v[2]);

		snprintf(what, sizeof(what), "hosts[%d]", i);
		if (topo_hosts_entry(b, el, line, what, &lo, &hi) == 0 &&
		    r != PM_TOPO_NONE) {
			topo_range_add(b, lo, hi, r, topo_file(el, b->path),
				       line);
			/* A single address is a server (a pinglist target);
			 * a prefix only says where the rack's hosts are. */
			if (lo == hi)
				topo_server_add(b, r, lo);
		}
	}
}

static void
topo_read_pods(struct topo_build *b, const config_setting_t *l)
{
	const config_setting_t *v[NKEYS(pod_keys)], *g;
	char where[48], rwhere[80];
	const char *name;
	int n, i, nr, j;
	uint32_t p;

	n = topo_list(b, l, "pods", false);
	for (i = 0; i < n && !b->oom; i++) {
		snprintf(where, sizeof(where), "pods[%d]", i);
		g = topo_list_group(b, l, i, where);
		if (g == NULL)
			continue;
		topo_group(b, g, pod_keys, NKEYS(pod_keys), where, v);
		name = topo_name(b, v[0], "name");
		p = name == NULL ? PM_TOPO_NONE :
		    topo_pod_add(b, name, topo_line(g), true, topo_file(g, b->path));
		if (v[1] == NULL)
			continue;
		/* Racks of a refused pod are still checked, not added. */
		nr = topo_list(b, v[1], "racks", false);
		for (j = 0; j < nr && !b->oom; j++) {
			const config_setting_t *rg;

			snprintf(rwhere, sizeof(rwhere), "%s.racks[%d]", where, j);
			rg = topo_list_group(b, v[1], j, rwhere);
			if (rg != NULL)
				topo_read_rack(b, rg, p, rwhere);
		}
	}
}

/* Check a pattern name: @want conversions "%u" (or "%0Nu", "%Nu", N of
 * one or two digits), "%%" for a percent sign, nothing else. */
static bool
topo_fmt_ok(const char *fmt, unsigned int want)
{
	unsigned int n = 0;
	const char *p;

	for (p = fmt; *p != '\0'; p++) {
		if (*p != '%')
			continue;
		p++;
		if (*p == '%')
			continue;
		if (*p == '0')
			p++;
		if (isdigit((unsigned char)*p))
			p++;
		if (isdigit((unsigned char)*p))
			p++;
		if (*p != 'u')
			return false;
		n++;
	}
	return n == want;
}

/* Expand a checked pattern name with @val[]: length, or -1 when it does
 * not fit @cap.  Done by hand: the format comes from a file. */
static int
topo_fmt_name(char *out, size_t cap, const char *fmt, const uint32_t *val)
{
	unsigned int a = 0;
	const char *p;
	size_t k = 0;

	for (p = fmt; *p != '\0'; p++) {
		char num[12], pad = ' ';
		unsigned int width = 0;
		int nd;

		if (*p != '%' || p[1] == '%') {
			if (k + 1 >= cap)
				return -1;
			out[k++] = *p;
			p += *p == '%';
			continue;
		}
		p++;
		if (*p == '0') {
			pad = '0';
			p++;
		}
		while (isdigit((unsigned char)*p))
			width = width * 10 + (unsigned int)(*p++ - '0');
		nd = snprintf(num, sizeof(num), "%u", val[a++]);
		if (k + (width > (unsigned int)nd ? width : (unsigned int)nd) + 1 > cap)
			return -1;
		for (; width > (unsigned int)nd; width--)
			out[k++] = pad;
		memcpy(out + k, num, (size_t)nd);
		k += (size_t)nd;
	}
	out[k] = '\0';
	return (int)k;
}

/* Pattern group @g: pods x racks_per_pod racks, rack k (pod-major)
 * covering base + k * 2^(32 - rack_prefix). */
static void
topo_read_pattern(struct topo_build *b, const config_setting_t *g,
		  const char *where)
{
	const config_setting_t *v[NKEYS(pattern_keys)];
	const char *file = topo_file(g, b->path), *pod_fmt, *rack_fmt, *str;
	int64_t pods = 0, rpp = 0, plen = 0, pfirst = 1, rfirst = 1, tor = 0;
	int64_t nsrv = 0, sfirst = 1;
	char name[PM_CFG_NAME_MAX], ipb[16];
	int line = topo_line(g), rc = 0;
	uint64_t size, total;
	uint32_t base = 0, i, j;

	/* Every present key is checked even when another is missing. */
	rc = topo_group(b, g, pattern_keys, NKEYS(pattern_keys), where, v);
	rc |= topo_int(b, v[PK_PODS], "pods", 1, TOPO_MAX_RACKS, &pods);
	rc |= topo_int(b, v[PK_RACKS_PER_POD], "racks_per_pod", 1,
		       TOPO_MAX_RACKS, &rpp);
	rc |= topo_int(b, v[PK_RACK_PREFIX], "rack_prefix", 8, 30, &plen);
	if (v[PK_POD_FIRST] != NULL)
		rc |= topo_int(b, v[PK_POD_FIRST], "pod_first", 0, 1000000,
			       &pfirst);
	if (v[PK_RACK_FIRST] != NULL)
		rc |= topo_int(b, v[PK_RACK_FIRST], "rack_first", 0, 1000000,
			       &rfirst);
	pod_fmt = topo_str(b, v[PK_POD_NAME], "pod_name");
	if (pod_fmt != NULL && !topo_fmt_ok(pod_fmt, 1)) {
		pm_cfg_err(b->e, file, topo_line(v[PK_POD_NAME]),
			   "pod_name = \"%s\" invalid: needs exactly one %%u "
			   "(the pod number)", pod_fmt);
		pod_fmt = NULL;
	}
	rack_fmt = topo_str(b, v[PK_RACK_NAME], "rack_name");
	if (rack_fmt != NULL && !topo_fmt_ok(rack_fmt, 2)) {
		pm_cfg_err(b->e, file, topo_line(v[PK_RACK_NAME]),
			   "rack_name = \"%s\" invalid: needs exactly two %%u "
			   "(the pod number, then the rack number)", rack_fmt);
		rack_fmt = NULL;
	}
	str = topo_str(b, v[PK_BASE], "base");
	if (str != NULL && pm_cfg_parse_ipv4(str, &base) < 0) {
		pm_cfg_err(b->e, file, topo_line(v[PK_BASE]),
			   "base: invalid IPv4 address '%s'", str);
		str = NULL;
	}
	/* The rack size is known: check what depends on it alone. */
	size = plen != 0 ? 1ull << (32 - plen) : 0;
	if (size != 0 && str != NULL && (base & (size - 1)) != 0) {
		pm_cfg_err(b->e, file, topo_line(v[PK_BASE]),
			   "base = %s not aligned to /%" PRId64 " (did you mean "
			   "'%s'?)", str, plen,
			   pm_cfg_fmt_ipv4(base & ~(uint32_t)(size - 1), ipb));
		str = NULL;
	}
	if (size != 0 && v[PK_TOR_HOST] != NULL)
		rc |= topo_int(b, v[PK_TOR_HOST], "tor_host", 1,
			       (int64_t)size - 2, &tor);
	if (size != 0 && v[PK_SERVER_FIRST] != NULL)
		rc |= topo_int(b, v[PK_SERVER_FIRST], "server_first", 1,
			       (int64_t)size - 2, &sfirst);
	if (size != 0 && v[PK_SERVERS] != NULL)
		rc |= topo_int(b, v[PK_SERVERS], "servers", 0,
			       (int64_t)size - 1 - sfirst, &nsrv);
	if (rc == 0 && tor >= sfirst && tor < sfirst + nsrv) {
		pm_cfg_err(b->e, file, topo_line(v[PK_TOR_HOST]),
			   "tor_host = %" PRId64 " is one of the servers (%"
			   PRId64 "..%" PRId64 ")", tor, sfirst,
			   sfirst + nsrv - 1);
		rc = -1;
	}
	if (rc != 0 || pod_fmt == NULL || rack_fmt == NULL || str == NULL)
		return;
	total = (uint64_t)pods * (uint64_t)rpp;
	/* Racks of this size left between base and the end of IPv4. */
	if (total > ((1ull << 32) - base) / size) {
		pm_cfg_err(b->e, file, line, "%s: %" PRIu64 " racks of /%" PRId64
			   " from %s overflow the address space (room for %"
			   PRIu64 ")", where, total, plen, str,
			   (uint64_t)(((1ull << 32) - base) / size));
		return;
	}
	if (total + b->t->nracks > TOPO_MAX_RACKS) {
		pm_cfg_err(b->e, file, line, "%s: %" PRIu64 " racks; a topology "
			   "holds at most %u", where, total, TOPO_MAX_RACKS);
		b->too_many = true;
		return;
	}
	for (i = 0; i < pods && !b->oom; i++) {
		uint32_t num[2] = { (uint32_t)(pfirst + i) }, p;

		if (topo_fmt_name(name, sizeof(name), pod_fmt, num) < 0) {
			pm_cfg_err(b->e, file, topo_line(v[PK_POD_NAME]),
				   "pod_name: '%s' for pod %u is too long (at "
				   "most %d characters)", pod_fmt, num[0],
				   TOPO_NAME_MAX);
			return;
		}
		p = topo_pod_add(b, name, line, false, file);
		if (p == PM_TOPO_NONE)
			return;
		for (j = 0; j < rpp && !b->oom; j++) {
			uint64_t k = (uint64_t)i * (uint64_t)rpp + j;
			uint32_t lo = (uint32_t)(base + k * size), r;

			num[1] = (uint32_t)(rfirst + j);
			if (topo_fmt_name(name, sizeof(name), rack_fmt, num) < 0) {
				pm_cfg_err(b->e, file, topo_line(v[PK_RACK_NAME]),
					   "rack_name: '%s' for pod %u rack %u "
					   "is too long (at most %d characters)",
					   rack_fmt, num[0], num[1],
					   TOPO_NAME_MAX);
				return;
			}
			r = topo_rack_add(b, name, p, line, file, true);
			if (r == PM_TOPO_NONE)
				continue;
			topo_range_add(b, lo, (uint32_t)(lo + size - 1), r, file,
				       line);
			if (tor != 0)
				topo_hop_add(b, lo + (uint32_t)tor, PM_TOPO_TOR, r,
					     file, line);
			for (int64_t sv = 0; sv < nsrv && !b->oom; sv++)
				topo_server_add(b, r, lo + (uint32_t)(sfirst + sv));
		}
	}
}

static void
topo_read_patterns(struct topo_build *b, const config_setting_t *l)
{
	const config_setting_t *g;
	char where[32];
	int n, i;

	n = topo_list(b, l, "patterns", false);
	for (i = 0; i < n && !b->oom; i++) {
		snprintf(where, sizeof(where), "patterns[%d]", i);
		g = topo_list_group(b, l, i, where);
		if (g != NULL)
			topo_read_pattern(b, g, where);
	}
}

static void
topo_read_spines(struct topo_build *b, const config_setting_t *l)
{
	const config_setting_t *v[NKEYS(spine_keys)], *g;
	struct pm_topo *t = b->t;
	char where[32], what[32];
	const char *name;
	int n, i, na, j;
	uint32_t s, old, ip;

	n = topo_list(b, l, "spines", false);
	for (i = 0; i < n && !b->oom; i++) {
		snprintf(where, sizeof(where), "spines[%d]", i);
		g = topo_list_group(b, l, i, where);
		if (g == NULL)
			continue;
		topo_group(b, g, spine_keys, NKEYS(spine_keys), where, v);
		name = topo_name(b, v[0], "name");
		s = PM_TOPO_NONE;
		if (name != NULL) {
			old = topo_hash_find(t, TE_SPINE, name);
			if (old != PM_TOPO_NONE) {
				pm_cfg_err(b->e, topo_file(g, b->path),
					   topo_line(g), "duplicate spine name "
					   "'%s' (first at line %d)", name,
					   t->spines[old].line);
			} else if (t->nspines >= TOPO_MAX_SPINES) {
				pm_cfg_err(b->e, topo_file(g, b->path),
					   topo_line(g), "more than %u spines",
					   TOPO_MAX_SPINES);
			} else if (TOPO_GROW(b, spines, nspines, spines_cap) == 0) {
				s = t->nspines;
				t->spines[s].name = topo_pool_add(b, name);
				t->spines[s].line = topo_line(g);
				if (t->spines[s].name == UINT32_MAX)
					return;
				t->nspines++;
				if (topo_hash_add(b, TE_SPINE, s) < 0)
					return;
			}
		}
		if (v[1] == NULL)
			continue;
		na = topo_list(b, v[1], "addresses", true);
		for (j = 0; j < na; j++) {
			const config_setting_t *el =
				config_setting_get_elem(v[1], (unsigned)j);
			int line = topo_el_line(el, v[1]);

			snprintf(what, sizeof(what), "addresses[%d]", j);
			if (topo_addr(b, el, line, what, &ip) == 0 &&
			    s != PM_TOPO_NONE)
				topo_hop_add(b, ip, PM_TOPO_SPINE, s,
					     topo_file(el, b->path), line);
		}
	}
}

/* A rule's rack: "*" (PM_TOPO_NONE) or a known name; -EINVAL reported. */
static int
topo_rule_rack(struct topo_build *b, const config_setting_t *s,
	       const char *what, uint32_t *rack)
{
	const char *str, *hint;

	*rack = PM_TOPO_NONE;
	if (s == NULL)
		return 0;
	str = topo_str(b, s, what);
	if (str == NULL)
		return -EINVAL;
	if (strcmp(str, "*") == 0)
		return 0;
	*rack = topo_hash_find(b->t, TE_RACK, str);
	if (*rack != PM_TOPO_NONE)
		return 0;
	hint = topo_suggest(b->t, TE_RACK, str);
	if (hint != NULL)
		pm_cfg_err(b->e, topo_file(s, b->path), topo_line(s),
			   "%s: unknown rack '%s' (did you mean '%s'?)", what,
			   str, hint);
	else
		pm_cfg_err(b->e, topo_file(s, b->path), topo_line(s),
			   "%s: unknown rack '%s'", what, str);
	return -EINVAL;
}

/* The static rules, once every rack and spine is known. */
static void
topo_read_rules(struct topo_build *b, const config_setting_t *l)
{
	const config_setting_t *v[NKEYS(rule_keys)], *g;
	struct topo_rule r;
	const char *str, *hint;
	int64_t first, last;
	char where[32];
	int n, i, rc;

	n = topo_list(b, l, "static_spines", false);
	if (n > (int)TOPO_MAX_RULES) {
		pm_cfg_err(b->e, topo_file(l, b->path), topo_line(l),
			   "static_spines: %d rules, at most %u", n,
			   TOPO_MAX_RULES);
		return;
	}
	for (i = 0; i < n && !b->oom; i++) {
		snprintf(where, sizeof(where), "static_spines[%d]", i);
		g = topo_list_group(b, l, i, where);
		if (g == NULL)
			continue;
		topo_group(b, g, rule_keys, NKEYS(rule_keys), where, v);
		first = 0;
		last = 65535;
		rc = topo_rule_rack(b, v[SK_SRC], "src_rack", &r.src);
		rc |= topo_rule_rack(b, v[SK_DST], "dst_rack", &r.dst);
		if (v[SK_FIRST] != NULL)
			rc |= topo_int(b, v[SK_FIRST], "sport_first", 0, 65535,
				       &first);
		if (v[SK_LAST] != NULL)
			rc |= topo_int(b, v[SK_LAST], "sport_last", 0, 65535,
				       &last);
		if (rc == 0 && first > last) {
			pm_cfg_err(b->e, topo_file(g, b->path),
				   topo_line(v[SK_LAST] != NULL ? v[SK_LAST] : g),
				   "sport_first = %" PRId64 " > sport_last = %"
				   PRId64, first, last);
			rc = -EINVAL;
		}
		str = topo_str(b, v[SK_SPINE], "spine");
		if (str == NULL)
			continue;
		r.spine = topo_hash_find(b->t, TE_SPINE, str);
		if (r.spine == PM_TOPO_NONE) {
			hint = topo_suggest(b->t, TE_SPINE, str);
			if (hint != NULL)
				pm_cfg_err(b->e, topo_file(v[SK_SPINE], b->path),
					   topo_line(v[SK_SPINE]),
					   "spine: unknown spine '%s' (did you "
					   "mean '%s'?)", str, hint);
			else
				pm_cfg_err(b->e, topo_file(v[SK_SPINE], b->path),
					   topo_line(v[SK_SPINE]),
					   "spine: unknown spine '%s'", str);
			continue;
		}
		if (rc != 0 || TOPO_GROW(b, rules, nrules, rules_cap) < 0)
			continue;
		r.sport_first = (uint16_t)first;
		r.sport_last = (uint16_t)last;
		b->t->rules[b->t->nrules++] = r;
	}
}

static int
topo_range_cmp(const void *a, const void *b)
{
	const struct topo_range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int
topo_hop_cmp(const void *a, const void *b)
{
	const struct topo_hop *x = a, *y = b;

	if (x->ip != y->ip)
		return x->ip < y->ip ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* Sort the ranges; every one overlapping an earlier one is an error (the
 * lookup needs them disjoint), reported at the later line of the two. */
static void
topo_check_ranges(struct topo_build *b)
{
	struct pm_topo *t = b->t;
	char ra[24], rb[24];
	uint32_t i, m = 0;

	if (t->nranges > 1)
		qsort(t->ranges, t->nranges, sizeof(*t->ranges), topo_range_cmp);
	for (i = 1; i < t->nranges; i++) {
		const struct topo_range *x = &t->ranges[m], *y = &t->ranges[i];

		if (y->lo > x->hi) {
			m = i;
			continue;
		}
		if (y->hi > x->hi)
			m = i;
		if (!topo_mass_show(b))
			continue;
		if (y->line < x->line) {
			const struct topo_range *s = x;

			x = y;
			y = s;
		}
		pm_cfg_err(b->e, y->file, y->line, "rack '%s' %s overlaps rack "
			   "'%s' %s (line %d)",
			   topo_el_name(t, TE_RACK, y->rack),
			   topo_fmt_range(y->lo, y->hi, rb, sizeof(rb)),
			   topo_el_name(t, TE_RACK, x->rack),
			   topo_fmt_range(x->lo, x->hi, ra, sizeof(ra)),
			   x->line);
	}
}

static void
topo_hop_desc(const struct pm_topo *t, const struct topo_hop *h, char *buf,
	      size_t cap)
{
	if (h->kind == PM_TOPO_TOR)
		snprintf(buf, cap, "the ToR of rack '%s'",
			 topo_el_name(t, TE_RACK, h->idx));
	else
		snprintf(buf, cap, "spine '%s'", topo_el_name(t, TE_SPINE, h->idx));
}

/* Sort the hop addresses; one address names one element. */
static void
topo_check_hops(struct topo_build *b)
{
	struct pm_topo *t = b->t;
	char da[96], db[96], ipb[16];
	uint32_t i;

	if (t->nhops > 1)
		qsort(t->hops, t->nhops, sizeof(*t->hops), topo_hop_cmp);
	for (i = 1; i < t->nhops; i++) {
		const struct topo_hop *x = &t->hops[i - 1], *y = &t->hops[i];

		/* A spine listing one address twice says nothing new. */
		if (y->ip != x->ip ||
		    (x->kind == y->kind && x->idx == y->idx) ||
		    !topo_mass_show(b))
			continue;
		topo_hop_desc(t, x, da, sizeof(da));
		topo_hop_desc(t, y, db, sizeof(db));
		pm_cfg_err(b->e, y->file, y->line, "address %s of %s is already "
			   "%s (line %d)", pm_cfg_fmt_ipv4(y->ip, ipb), db, da,
			   x->line);
	}
}

static void
topo_read(struct topo_build *b, const config_setting_t *g)
{
	const config_setting_t *v[NKEYS(top_keys)];
	int len = config_setting_length(g), i;

	topo_group(b, g, top_keys, NKEYS(top_keys), "topology", v);
	/* Pods and patterns in file order: that is the racks' order. */
	for (i = 0; i < len && !b->oom; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);

		if (s == v[0])
			topo_read_pods(b, s);
		else if (s == v[1])
			topo_read_patterns(b, s);
		else if (s == v[2])
			topo_read_spines(b, s);
	}
	if (b->oom)
		return;
	if (b->t->nracks == 0 && b->e->n == b->n0)
		pm_cfg_err(b->e, topo_file(g, b->path), topo_line(g),
			   "topology: no racks (give pods or patterns)");
	if (v[3] != NULL)
		topo_read_rules(b, v[3]);
	if (b->oom)
		return;
	topo_check_ranges(b);
	topo_check_hops(b);
	if (b->nmass > TOPO_MASS_SHOWN)
		pm_cfg_err(b->e, b->path, 0, "%" PRIu64 " more overlapping "
			   "ranges, duplicate names or addresses not shown",
			   b->nmass - TOPO_MASS_SHOWN);
}

int
pm_topo_load(const char *path, struct pm_topo **tp, struct pm_cfg_errs *e)
{
	static const struct topo_key top[] = { { "topology", true } };
	struct topo_build b = { .path = path, .e = e, .n0 = e->n };
	config_setting_t *root, *g;
	unsigned int n0 = e->n;
	size_t len0 = e->len;
	config_t cf;
	int rc, i, len;

	*tp = NULL;
	rc = pm_cfg_open(&cf, path, e);
	if (rc < 0)
		return rc;
	b.t = calloc(1, sizeof(*b.t));
	if (b.t == NULL) {
		config_destroy(&cf);
		pm_cfg_err(e, path, 0, "out of memory");
		return -ENOMEM;
	}
	root = config_root_setting(&cf);
	len = config_setting_length(root);
	for (i = 0; i < len; i++) {
		config_setting_t *s = config_setting_get_elem(root, (unsigned)i);

		if (strcmp(config_setting_name(s), "topology") != 0)
			topo_err_unknown_key(&b, s, top, 1);
	}
	g = config_lookup(&cf, "topology");
	if (g == NULL)
		pm_cfg_err(e, path, 0, "missing required group 'topology'");
	else if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		pm_cfg_err(e, topo_file(g, path), topo_line(g),
			   "topology: expected group, got %s",
			   topo_type_name(config_setting_type(g)));
	else
		topo_read(&b, g);
	config_destroy(&cf);
	pm_cfg_errs_sort(e, len0);
	if (e->n > n0) {
		pm_topo_free(b.t);
		return b.oom ? -ENOMEM : -EINVAL;
	}
	*tp = b.t;
	return 0;
}

void
pm_topo_free(struct pm_topo *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < NKEYS(t->hash); i++)
		free(t->hash[i].slot);
	free(t->rules);
	free(t->servers);
	free(t->hops);
	free(t->ranges);
	free(t->spines);
	free(t->racks);
	free(t->pods);
	free(t->pool);
	free(t);
}

/* ---------------------------------------------------------------------- */
/* Lookups */

uint32_t
pm_topo_npods(const struct pm_topo *t)
{
	return t != NULL ? t->npods : 0;
}

uint32_t
pm_topo_nracks(const struct pm_topo *t)
{
	return t != NULL ? t->nracks : 0;
}

uint32_t
pm_topo_nspines(const struct pm_topo *t)
{
	return t != NULL ? t->nspines : 0;
}

const char *
pm_topo_pod_name(const struct pm_topo *t, uint32_t pod)
{
	return t != NULL && pod < t->npods ? topo_el_name(t, TE_POD, pod) : NULL;
}

const char *
pm_topo_rack_name(const struct pm_topo *t, uint32_t rack)
{
	return t != NULL && rack < t->nracks ?
	       topo_el_name(t, TE_RACK, rack) : NULL;
}

const char *
pm_topo_spine_name(const struct pm_topo *t, uint32_t spine)
{
	return t != NULL && spine < t->nspines ?
	       topo_el_name(t, TE_SPINE, spine) : NULL;
}

uint32_t
pm_topo_rack_pod(const struct pm_topo *t, uint32_t rack)
{
	return t != NULL && rack < t->nracks ? t->racks[rack].pod : PM_TOPO_NONE;
}

uint32_t
pm_topo_rack_find(const struct pm_topo *t, const char *name)
{
	return t != NULL && name != NULL ? topo_hash_find(t, TE_RACK, name) :
	       PM_TOPO_NONE;
}

uint32_t
pm_topo_spine_find(const struct pm_topo *t, const char *name)
{
	return t != NULL && name != NULL ? topo_hash_find(t, TE_SPINE, name) :
	       PM_TOPO_NONE;
}

uint32_t
pm_topo_host_rack(const struct pm_topo *t, uint32_t ip)
{
	uint32_t lo = 0, hi;

	if (t == NULL || t->nranges == 0)
		return PM_TOPO_NONE;
	/* The last range starting at or below @ip is the only candidate. */
	hi = t->nranges;
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (t->ranges[mid].lo <= ip)
			lo = mid;
		else
			hi = mid;
	}
	if (ip >= t->ranges[lo].lo && ip <= t->ranges[lo].hi)
		return t->ranges[lo].rack;
	return PM_TOPO_NONE;
}

int
pm_topo_hop(const struct pm_topo *t, uint32_t ip, uint32_t *idx)
{
	uint32_t lo = 0, hi, r;

	if (t == NULL)
		goto unknown;
	hi = t->nhops;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (t->hops[mid].ip < ip)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < t->nhops && t->hops[lo].ip == ip) {
		if (idx != NULL)
			*idx = t->hops[lo].idx;
		return t->hops[lo].kind;
	}
	r = pm_topo_host_rack(t, ip);
	if (r != PM_TOPO_NONE) {
		if (idx != NULL)
			*idx = r;
		return PM_TOPO_HOST;
	}
unknown:
	if (idx != NULL)
		*idx = PM_TOPO_NONE;
	return 0;
}

uint32_t
pm_topo_static_spine(const struct pm_topo *t, uint32_t src_rack,
		     uint32_t dst_rack, uint16_t sport)
{
	uint32_t i;

	/* A wildcard stands for any rack of the topology, not for an
	 * address outside it: such a flow's spine is unknown. */
	if (t == NULL || src_rack >= t->nracks || dst_rack >= t->nracks)
		return PM_TOPO_NONE;
	for (i = 0; i < t->nrules; i++) {
		const struct topo_rule *r = &t->rules[i];

		if ((r->src == PM_TOPO_NONE || r->src == src_rack) &&
		    (r->dst == PM_TOPO_NONE || r->dst == dst_rack) &&
		    sport >= r->sport_first && sport <= r->sport_last)
			return r->spine;
	}
	return PM_TOPO_NONE;
}

uint32_t
pm_topo_rack_servers(const struct pm_topo *t, uint32_t rack, const uint32_t **ips)
{
	if (t == NULL || rack >= t->nracks) {
		if (ips != NULL)
			*ips = NULL;
		return 0;
	}
	if (ips != NULL)
		*ips = t->servers + t->racks[rack].srv_off;
	return t->racks[rack].srv_n;
}

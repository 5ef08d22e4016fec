/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pmesh-ctl: the controller's tools.  `pmesh-ctl pinglist` turns the
 * topology into a prober's targets -- Pingmesh's multi-level complete
 * graphs for a server, or a pod appliance's list (lib/pinglist.c) -- and
 * writes them as the prober's configuration (docs/config.md), optionally
 * behind a base file holding the prober and kafka groups.  `--all`
 * computes every server's list and prints totals and the time taken: the
 * controller's cost for a whole data center.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include <libconfig.h>

#include "pm_cfg.h"
#include "pm_enc.h"
#include "pm_pinglist.h"
#include "pm_topo.h"

static void
ctl_usage(FILE *out)
{
	fprintf(out,
"Usage: pmesh-ctl pinglist --topology FILE (--server IP | --appliance POD | --all)\n"
"                 [--k 2] [--k-pod 1] [--coverage 0.9 | --flows N] [--rate 10]\n"
"                 [--budget-pps N] [--seed 0] [--port 862] [--probe TYPE]\n"
"                 [--base FILE] [-o FILE] [--paths FILE [--src-port-base 49152]]\n"
"\n"
"Writes a pmesh-prober configuration whose targets are what the topology\n"
"says this prober should probe (Pingmesh's complete graphs):\n"
"  --server IP       a server's list: every other server of its rack; for each\n"
"                    other rack of its pod, k server pairs are drawn (the ToR a\n"
"                    virtual node) and it probes the peers drawn for it; for each\n"
"                    other pod, k-pod pairs likewise\n"
"  --appliance POD   a pod appliance's list: every server of POD (name or\n"
"                    number) and one server in every rack of the other pods\n"
"  --all             every server's list, computed and counted, none written;\n"
"                    prints the time taken\n"
"\n"
"  --topology FILE   racks, pods, spines and servers (docs/topology.md; a\n"
"                    pattern's servers/server_first, an explicit rack's single\n"
"                    host addresses)\n"
"  --k N             server pairs per rack pair (default 2)\n"
"  --k-pod N         server pairs per pod pair (default 1)\n"
"  --coverage P      flows per target so that every spine is crossed with\n"
"                    probability >= P under uniform ECMP (default 0.9)\n"
"  --flows N         a fixed number of flows instead (1..1024)\n"
"  --paths FILE      path records (JSON lines: the prober's JSON output, or\n"
"                    pmesh-cat of pmesh.paths): a target whose discovered flows\n"
"                    show every spine gets exactly the flows that cover them\n"
"                    all (the first F source ports); others keep --coverage\n"
"  --src-port-base N the probers' first source port (the base file's, else 49152)\n"
"  --rate PPS        probes per second per target (default 10); cut to fit\n"
"  --budget-pps N    the prober's budget_pps (the base file's, if it has one)\n"
"  --seed N          draws depend only on topology and seed (default 0)\n"
"  --port N          reflectors' UDP port (default 862); with --probe tcp, the\n"
"                    TCP port the SYNs go to\n"
"  --probe TYPE      stamp (reflectors everywhere, the default), icmp or tcp\n"
"                    (servers with nothing installed: raw RTT, at most 100 pps\n"
"                    per target; see docs/config.md, targets' type)\n"
"  --base FILE       a prober configuration without targets, copied first\n"
"  -o, --output FILE write there (default stdout), whole: to a temporary file\n"
"                    renamed over FILE, so a prober that watches it\n"
"                    (--watch-config) or is sent SIGHUP never reads half a list\n"
"\n"
"Exit status: 0 done, 1 failure, 2 usage, topology or base file error.\n");
}

static int
ctl_u64(const char *flag, const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || *s == '-' || *v < min || *v > max) {
		fprintf(stderr, "pmesh-ctl: %s %s: expected an integer in %" PRIu64 "..%" PRIu64
			"\n", flag, s, min, max);
		return -EINVAL;
	}
	return 0;
}

/* A discovered path: flow (dst, sport) crossed spine. */
struct ctl_path {
	uint32_t dst;
	uint32_t spine;
	uint16_t sport;
	uint16_t rsvd;
	uint32_t order;		/* line number: the newest wins */
};

static int
ctl_path_cmp(const void *a, const void *b)
{
	const struct ctl_path *x = a, *y = b;

	if (x->dst != y->dst)
		return x->dst < y->dst ? -1 : 1;
	if (x->sport != y->sport)
		return x->sport < y->sport ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * Read path records from @file (other lines, summaries say, are skipped)
 * and map each to its spine through the topology.  *@p sorted by flow,
 * newest last.  0 or -errno (message printed).
 */
static int
ctl_paths_load(const char *file, const struct pm_topo *t, struct ctl_path **p, size_t *n)
{
	size_t cap = 0, lcap = 0, used = 0, other = 0, unmapped = 0;
	struct ctl_path *v = NULL, *nv;
	char *line = NULL, err[128];
	struct pm_path rec;
	uint32_t spine, idx, k;
	ssize_t len;
	FILE *f = fopen(file, "r");

	if (f == NULL) {
		fprintf(stderr, "pmesh-ctl: --paths %s: %s\n", file, strerror(errno));
		return -errno;
	}
	for (k = 1; (len = getline(&line, &lcap, f)) >= 0; k++) {
		if (pm_enc_path_decode(line, (size_t)len, &rec, err, sizeof(err)) < 0) {
			other++;
			continue;
		}
		spine = rec.spine[0] ? pm_topo_spine_find(t, rec.spine) : PM_TOPO_NONE;
		for (idx = 0; rec.spine[0] == '\0' && idx < rec.nhops && spine == PM_TOPO_NONE;
		     idx++) {
			uint32_t s;

			if (pm_topo_hop(t, rec.hops[idx], &s) == PM_TOPO_SPINE)
				spine = s;
		}
		if (spine == PM_TOPO_NONE) {
			unmapped++;
			continue;
		}
		if (used == cap) {
			cap = cap ? cap * 2 : 256;
			nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL) {
				fprintf(stderr, "pmesh-ctl: out of memory\n");
				free(v);
				free(line);
				fclose(f);
				return -ENOMEM;
			}
			v = nv;
		}
		v[used].dst = rec.dst;
		v[used].sport = rec.sport;
		v[used].spine = spine;
		v[used].order = k;
		used++;
	}
	free(line);
	fclose(f);
	qsort(v, used, sizeof(*v), ctl_path_cmp);
	fprintf(stderr, "pmesh-ctl: %s: %zu path records mapped to spines, %zu without a "
		"spine, %zu other lines\n", file, used, unmapped, other);
	*p = v;
	*n = used;
	return 0;
}

/* The newest spine of flow (dst, sport), or PM_TOPO_NONE. */
static uint32_t
ctl_path_spine(const struct ctl_path *v, size_t n, uint32_t dst, uint16_t sport)
{
	size_t lo = 0, hi = n, mid;

	/* One past the last entry <= (dst, sport). */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (v[mid].dst < dst || (v[mid].dst == dst && v[mid].sport <= sport))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || v[lo - 1].dst != dst || v[lo - 1].sport != sport)
		return PM_TOPO_NONE;
	return v[lo - 1].spine;
}

/* Targets whose discovered flows show every spine: exactly enough flows. */
static uint32_t
ctl_paths_apply(struct pm_pl *pl, const struct ctl_path *v, size_t n,
		uint32_t sport0, uint32_t nspines)
{
	uint32_t spine_of[1024], i, f, cover, done = 0;

	for (i = 0; i < pl->n; i++) {
		struct pm_pl_target *t = &pl->t[i];

		if (t->level == PM_PL_RACK)
			continue;
		for (f = 0; f < 1024 && sport0 + f <= 65535; f++)
			spine_of[f] = ctl_path_spine(v, n, t->ip, (uint16_t)(sport0 + f));
		cover = pm_pl_flows_cover(spine_of, f, nspines);
		if (cover) {
			t->flows = (uint16_t)cover;
			t->exact = 1;
			done++;
		}
	}
	return done;
}

/* The base file: parsed (errors as file:line), no targets, text kept. */
static int
ctl_base(const char *path, char **text, uint64_t *budget, uint64_t *sport0)
{
	config_t c;
	long long b;
	FILE *f;
	long n;
	int rc = 0;

	config_init(&c);
	if (config_read_file(&c, path) != CONFIG_TRUE) {
		if (config_error_type(&c) == CONFIG_ERR_FILE_IO)
			fprintf(stderr, "pmesh-ctl: %s: cannot read it\n", path);
		else
			fprintf(stderr, "%s:%d: %s\n", config_error_file(&c) ?
				config_error_file(&c) : path, config_error_line(&c),
				config_error_text(&c));
		config_destroy(&c);
		return -EINVAL;
	}
	if (config_lookup(&c, "targets") != NULL) {
		fprintf(stderr, "%s:%d: targets: the base file must not have targets "
			"(pmesh-ctl writes them)\n", path,
			config_setting_source_line(config_lookup(&c, "targets")));
		rc = -EINVAL;
	}
	if (rc == 0 && config_lookup_int64(&c, "prober.budget_pps", &b) == CONFIG_TRUE &&
	    b > 0 && *budget == 0)
		*budget = (uint64_t)b;
	if (rc == 0 && config_lookup_int64(&c, "prober.src_port_base", &b) == CONFIG_TRUE &&
	    b > 0 && b <= 65535 && *sport0 == 0)
		*sport0 = (uint64_t)b;
	config_destroy(&c);
	if (rc != 0)
		return rc;
	f = fopen(path, "r");
	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "pmesh-ctl: %s: cannot read it\n", path);
		if (f != NULL)
			fclose(f);
		return -EIO;
	}
	*text = calloc(1, (size_t)n + 1);
	if (*text == NULL || fread(*text, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "pmesh-ctl: %s: cannot read it\n", path);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	return 0;
}

static double
ctl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint32_t
ctl_pod(const struct pm_topo *t, const char *s)
{
	uint32_t p, n = pm_topo_npods(t);
	char *end;
	unsigned long v;

	for (p = 0; p < n; p++)
		if (strcmp(pm_topo_pod_name(t, p), s) == 0)
			return p;
	v = strtoul(s, &end, 10);
	if (*s != '\0' && *end == '\0' && v >= 1 && v <= n)
		return (uint32_t)v - 1;
	return PM_TOPO_NONE;
}

/* Every server's list: the controller's whole job for a data center. */
static int
ctl_all(struct pm_pl_ctx *x, const struct pm_topo *t)
{
	uint64_t servers = 0, targets = 0, level[PM_PL_NLEVELS] = { 0 }, maxn = 0;
	struct pm_pl pl = { 0 };
	const uint32_t *ips;
	double t0 = ctl_now(), dt;
	uint32_t r, i, n;
	int l, rc;

	for (r = 0; r < pm_topo_nracks(t); r++) {
		n = pm_topo_rack_servers(t, r, &ips);
		for (i = 0; i < n; i++) {
			rc = pm_pl_server(x, ips[i], &pl);
			if (rc < 0) {
				fprintf(stderr, "pmesh-ctl: server %u of rack %s: %s\n", i,
					pm_topo_rack_name(t, r), strerror(-rc));
				pm_pl_free(&pl);
				return 1;
			}
			servers++;
			targets += pl.n;
			if (pl.n > maxn)
				maxn = pl.n;
			for (l = 0; l < PM_PL_NLEVELS; l++)
				level[l] += pl.per_level[l];
		}
	}
	dt = ctl_now() - t0;
	pm_pl_free(&pl);
	printf("pinglists: %" PRIu64 " servers in %u racks, %u pods: %" PRIu64 " targets "
	       "(%.1f a server, at most %" PRIu64 "; drawn: rack %" PRIu64 ", pod %" PRIu64
	       ", dc %" PRIu64 ") in %.3f s (%.0f servers/s)\n", servers, pm_topo_nracks(t),
	       pm_topo_npods(t), targets, servers ? (double)targets / servers : 0.0, maxn,
	       level[PM_PL_RACK], level[PM_PL_POD], level[PM_PL_DC], dt,
	       dt > 0 ? servers / dt : 0.0);
	return 0;
}

static int
ctl_write(FILE *out, const struct pm_topo *t, const struct pm_pl *pl, const char *what,
	  const char *topo_path, const struct pm_pl_cfg *c, uint64_t port, const char *base,
	  int probe)
{
	char type[32] = "";
	char ip[16], name[PM_CFG_NAME_MAX];
	uint32_t i;

	if (base != NULL)
		fprintf(out, "%s%s", base, base[0] && base[strlen(base) - 1] != '\n' ? "\n" : "");
	fprintf(out, "# pmesh-ctl pinglist: %s, from %s, seed %" PRIu64 ".\n"
		"# %u targets (drawn: rack %u, pod %u, dc %u, appliance pod %u, appliance dc %u);"
		" %u flows per target across %u spines (coverage %.2f), 1 in the rack;"
		" %u pps each, %" PRIu64 " pps in all%s.\n",
		what, topo_path, c->seed, pl->n, pl->per_level[PM_PL_RACK],
		pl->per_level[PM_PL_POD], pl->per_level[PM_PL_DC],
		pl->per_level[PM_PL_APP_POD], pl->per_level[PM_PL_APP_DC], pl->flows,
		pm_topo_nspines(t), c->coverage, pl->n ? pl->t[0].rate_pps : 0, pl->pps,
		pl->rate_cut ? " (rate cut to fit the budget)" : "");
	if (probe != PM_PROBE_STAMP)
		snprintf(type, sizeof(type), " type = \"%s\";", pm_probe_type_str(probe));
	fprintf(out, "targets = (\n");
	for (i = 0; i < pl->n; i++) {
		const struct pm_pl_target *x = &pl->t[i];

		pm_cfg_fmt_ipv4(x->ip, ip);
		snprintf(name, sizeof(name), "%.40s/%s", pm_topo_rack_name(t, x->rack), ip);
		fprintf(out, "\t{ ip = \"%s\"; port = %" PRIu64 "; name = \"%s\";%s rate_pps = %u;"
			" flows = %u; }%s\t# %s%s\n", ip, port, name, type, x->rate_pps, x->flows,
			i + 1 < pl->n ? "," : " ", pm_pl_level_str(x->level),
			x->exact ? ", flows from discovered paths" : "");
	}
	fprintf(out, ");\n");
	return ferror(out) ? -EIO : 0;
}

static int
ctl_pinglist(int argc, char **argv)
{
	enum { O_TOPO = 256, O_SERVER, O_APP, O_ALL, O_K, O_KPOD, O_COV, O_FLOWS, O_RATE,
	       O_BUDGET, O_SEED, O_PORT, O_BASE, O_PATHS, O_SPORT0, O_PROBE };
	static const struct option opts[] = {
		{ "topology", required_argument, NULL, O_TOPO },
		{ "server", required_argument, NULL, O_SERVER },
		{ "appliance", required_argument, NULL, O_APP },
		{ "all", no_argument, NULL, O_ALL },
		{ "k", required_argument, NULL, O_K },
		{ "k-pod", required_argument, NULL, O_KPOD },
		{ "coverage", required_argument, NULL, O_COV },
		{ "flows", required_argument, NULL, O_FLOWS },
		{ "rate", required_argument, NULL, O_RATE },
		{ "budget-pps", required_argument, NULL, O_BUDGET },
		{ "seed", required_argument, NULL, O_SEED },
		{ "port", required_argument, NULL, O_PORT },
		{ "base", required_argument, NULL, O_BASE },
		{ "paths", required_argument, NULL, O_PATHS },
		{ "src-port-base", required_argument, NULL, O_SPORT0 },
		{ "probe", required_argument, NULL, O_PROBE },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *topo_path = NULL, *server = NULL, *app = NULL, *base_path = NULL;
	const char *output = NULL, *paths_path = NULL;
	char *base = NULL, *end, what[160], ipb[16];
	struct ctl_path *paths = NULL;
	size_t npaths = 0;
	uint64_t sport0 = 0;
	uint32_t exact = 0;
	struct pm_pl_ctx *x = NULL;
	struct pm_topo *t = NULL;
	struct pm_cfg_errs errs;
	struct pm_pl pl = { 0 };
	struct pm_pl_cfg c;
	uint64_t v, port = 862;
	uint32_t ip = 0, pod = 0, rack;
	FILE *out = stdout;
	char tmp_out[PM_CFG_PATH_MAX + 32] = "";
	int opt, all = 0, rc = 2, probe = PM_PROBE_STAMP;

	pm_pl_cfg_defaults(&c);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (opt) {
		case O_TOPO: topo_path = optarg; break;
		case O_SERVER: server = optarg; break;
		case O_APP: app = optarg; break;
		case O_ALL: all = 1; break;
		case O_BASE: base_path = optarg; break;
		case O_PATHS: paths_path = optarg; break;
		case O_SPORT0:
			if (ctl_u64("--src-port-base", optarg, 1024, 65535, &sport0) < 0)
				return 2;
			break;
		case 'o': output = optarg; break;
		case O_PROBE:
			probe = pm_probe_type_parse(optarg);
			if (probe < 0 || optarg[0] == '\0') {
				fprintf(stderr, "pmesh-ctl: --probe %s: stamp, icmp or tcp\n", optarg);
				return 2;
			}
			break;
		case O_K: case O_KPOD: case O_FLOWS: case O_RATE: case O_BUDGET: case O_SEED:
		case O_PORT:
			if (ctl_u64(argv[optind - 1], optarg, opt == O_SEED || opt == O_BUDGET ? 0 :
				    opt == O_K || opt == O_KPOD ? 0 : 1,
				    opt == O_FLOWS ? 1024 : opt == O_PORT ? 65535 :
				    opt == O_SEED ? UINT64_MAX : opt == O_BUDGET ? 1000000000 :
				    opt == O_RATE ? 100000000 : 1000, &v) < 0)
				return 2;
			if (opt == O_K)
				c.k = (uint32_t)v;
			else if (opt == O_KPOD)
				c.k_pod = (uint32_t)v;
			else if (opt == O_FLOWS)
				c.flows = (uint32_t)v;
			else if (opt == O_RATE)
				c.rate_pps = (uint32_t)v;
			else if (opt == O_BUDGET)
				c.budget_pps = v;
			else if (opt == O_SEED)
				c.seed = v;
			else
				port = v;
			break;
		case O_COV:
			errno = 0;
			c.coverage = strtod(optarg, &end);
			if (*end != '\0' || errno != 0 || !(c.coverage > 0) || c.coverage >= 1) {
				fprintf(stderr, "pmesh-ctl: --coverage %s: a probability in (0, 1),"
					" e.g. 0.9\n", optarg);
				return 2;
			}
			break;
		case 'h':
			ctl_usage(stdout);
			return 0;
		default:
			fprintf(stderr, "pmesh-ctl: see pmesh-ctl pinglist --help\n");
			return 2;
		}
	}
	if (optind < argc || topo_path == NULL || (server != NULL) + (app != NULL) + all != 1) {
		fprintf(stderr, "pmesh-ctl pinglist: %s (see --help)\n", optind < argc ?
			"unexpected argument" : topo_path == NULL ? "--topology FILE is required" :
			"give one of --server IP, --appliance POD, --all");
		return 2;
	}
	if (server != NULL && pm_cfg_parse_ipv4(server, &ip) < 0) {
		fprintf(stderr, "pmesh-ctl: --server %s: not an IPv4 address\n", server);
		return 2;
	}
	pm_cfg_errs_init(&errs);
	if (pm_topo_load(topo_path, &t, &errs) < 0) {
		fputs(errs.buf, stderr);
		return 2;
	}
	if (base_path != NULL && ctl_base(base_path, &base, &c.budget_pps, &sport0) < 0)
		goto out;
	if (sport0 == 0)
		sport0 = 49152;
	if (paths_path != NULL && ctl_paths_load(paths_path, t, &paths, &npaths) < 0)
		goto out;
	rc = 1;
	if (pm_pl_ctx_new(&x, t, &c) < 0) {
		fprintf(stderr, "pmesh-ctl: out of memory\n");
		goto out;
	}
	if (all) {
		rc = ctl_all(x, t);
		goto out;
	}
	if (server != NULL) {
		rc = pm_pl_server(x, ip, &pl);
		rack = pm_topo_host_rack(t, ip);
		if (rc == -ENOENT) {
			fprintf(stderr, "pmesh-ctl: --server %s is no server of %s (%s)\n", server,
				topo_path, rack == PM_TOPO_NONE ? "in no rack" :
				"in a rack, but not one of its servers");
			rc = 2;
			goto out;
		}
		snprintf(what, sizeof(what), "server %s (rack %s, pod %s)",
			 pm_cfg_fmt_ipv4(ip, ipb), rack == PM_TOPO_NONE ? "?" :
			 pm_topo_rack_name(t, rack), rack == PM_TOPO_NONE ? "?" :
			 pm_topo_pod_name(t, pm_topo_rack_pod(t, rack)));
	} else {
		pod = ctl_pod(t, app);
		if (pod == PM_TOPO_NONE) {
			fprintf(stderr, "pmesh-ctl: --appliance %s: no such pod in %s (a pod name, "
				"or 1..%u)\n", app, topo_path, pm_topo_npods(t));
			rc = 2;
			goto out;
		}
		rc = pm_pl_appliance(x, pod, &pl);
		snprintf(what, sizeof(what), "the appliance of pod %s", pm_topo_pod_name(t, pod));
	}
	if (rc == -E2BIG) {
		fprintf(stderr, "pmesh-ctl: %s: %u targets need at least %u pps; the budget is "
			"%" PRIu64 " (raise --budget-pps, or lower --k/--k-pod)\n", what, pl.n,
			pl.n, c.budget_pps);
		rc = 1;
		goto out;
	}
	if (rc < 0) {
		fprintf(stderr, "pmesh-ctl: %s: %s\n", what, strerror(-rc));
		rc = 1;
		goto out;
	}
	if (pl.n == 0) {
		fprintf(stderr, "pmesh-ctl: %s: nothing to probe (does the topology list "
			"servers? docs/topology.md)\n", what);
		rc = 1;
		goto out;
	}
	if (paths != NULL) {
		exact = ctl_paths_apply(&pl, paths, npaths, (uint32_t)sport0,
					pm_topo_nspines(t));
		fprintf(stderr, "pmesh-ctl: %s: %u targets sized from discovered paths\n",
			what, exact);
	}
	if (probe != PM_PROBE_STAMP && pl.n && pl.t[0].rate_pps > PM_CFG_NOREFL_MAX_PPS) {
		fprintf(stderr, "pmesh-ctl: %s: %u pps per target is over the %u pps a prober "
			"allows %s targets by default (servers that run nothing of ours); lower "
			"--rate\n", what, pl.t[0].rate_pps, PM_CFG_NOREFL_MAX_PPS,
			pm_probe_type_str(probe));
		rc = 2;
		goto out;
	}
	if (output != NULL && strcmp(output, "-") != 0) {
		snprintf(tmp_out, sizeof(tmp_out), "%s.tmp%d", output, (int)getpid());
		out = fopen(tmp_out, "w");
		if (out == NULL) {
			fprintf(stderr, "pmesh-ctl: %s: %s\n", tmp_out, strerror(errno));
			rc = 1;
			goto out;
		}
	}
	rc = ctl_write(out, t, &pl, what, topo_path, &c, port, base, probe) < 0 ? 1 : 0;
	if (out != stdout) {
		if (fflush(out) != 0 || fsync(fileno(out)) != 0)
			rc = 1;
		if (fclose(out) != 0)
			rc = 1;
		if (rc == 0 && rename(tmp_out, output) != 0) {
			fprintf(stderr, "pmesh-ctl: %s: %s\n", output, strerror(errno));
			rc = 1;
		}
		if (rc != 0)
			unlink(tmp_out);
	}
	if (rc != 0)
		fprintf(stderr, "pmesh-ctl: %s: write failed\n", output ? output : "stdout");
	else
		fprintf(stderr, "pmesh-ctl: %s: %u targets, %u flows each across %u spines, "
			"%" PRIu64 " pps%s\n", what, pl.n, pl.flows, pm_topo_nspines(t), pl.pps,
			pl.rate_cut ? " (rate cut to fit the budget)" : "");
out:
	free(paths);
	pm_pl_free(&pl);
	pm_pl_ctx_free(x);
	pm_topo_free(t);
	free(base);
	return rc;
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "pinglist") == 0)
		return ctl_pinglist(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		ctl_usage(stdout);
		return 0;
	}
	fprintf(stderr, "pmesh-ctl: %s%s; the command is: pinglist (see --help)\n",
		argc >= 2 ? "unknown command " : "no command", argc >= 2 ? argv[1] : "");
	return 2;
}

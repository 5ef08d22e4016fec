/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pmesh-kafka-mock: librdkafka's mock cluster run as a stand-alone broker,
 * so that the demo and the Kafka tests have somewhere to send records on a
 * machine with no Kafka server (Debian ships none).  It is a test tool:
 * nothing else in pmesh depends on it, and real deployments point
 * bootstrap.servers at real brokers.
 *
 * The mock cluster lives inside a librdkafka client handle (an idle
 * producer here), listens on 127.0.0.1 with ephemeral ports, speaks the
 * real protocol to other processes (kcat, the sink, consumers with
 * committed offsets) and keeps everything in memory.  This program creates
 * the pmesh topics up front with a partition count chosen for long runs
 * (auto-creation would give 4, and each partition keeps only ~5 MiB), then
 * announces the bootstrap list on stdout and, atomically, in a file, so a
 * script that waits for the file can start clients at once.
 *
 * Faults are injected while it runs, for the sink's retry and spool paths:
 * commands on a control FIFO (brokers down/up, RTT, protocol errors,
 * partition leaders) and SIGUSR1/SIGUSR2 (all brokers down/up).  The FIFO
 * and the signals (through a signalfd) are served by one poll() loop in
 * the main thread; the mock API calls block until the cluster's own thread
 * has applied them, so a command's answer on stderr means it took effect.
 *
 * Exit codes: 0 after SIGINT/SIGTERM, 1 runtime failure, 2 usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#ifndef PM_VERSION
#define PM_VERSION "unknown"
#endif

#define PM_MOCK_PROG		"pmesh-kafka-mock"
#define EXIT_USAGE		2

#define PM_MOCK_MAX_BROKERS	32	/* one listener socket each */
#define PM_MOCK_MAX_PARTITIONS	4096
#define PM_MOCK_MAX_TOPICS	32
#define PM_MOCK_TOPIC_LEN_MAX	249	/* Kafka's limit */
/* Replication factor is only what Metadata reports; more than 3 is
 * never needed to exercise follower handling. */
#define PM_MOCK_MAX_RF		3
/* Longer than any valid command; FIFO writes up to PIPE_BUF are atomic,
 * so concurrent writers' lines do not interleave. */
#define PM_MOCK_LINE_MAX	512
#define PM_MOCK_MAX_ERR_COUNT	100000
#define PM_MOCK_MAX_RTT_MS	600000

static const char *const pm_mock_default_topics[] = {
	"pmesh.summaries",
	"pmesh.events",
	"pmesh.paths",
	"pmesh.tables",
	"pmesh.alerts",
};

/* Protocol request types by name, for the "error" command.  Numbers are
 * accepted too, so this only needs the ones people reach for. */
struct pm_mock_apikey {
	int16_t key;
	const char *name;
};

static const struct pm_mock_apikey pm_mock_apikeys[] = {
	{ 0, "Produce" },
	{ 1, "Fetch" },
	{ 2, "ListOffsets" },
	{ 3, "Metadata" },
	{ 8, "OffsetCommit" },
	{ 9, "OffsetFetch" },
	{ 10, "FindCoordinator" },
	{ 11, "JoinGroup" },
	{ 12, "Heartbeat" },
	{ 13, "LeaveGroup" },
	{ 14, "SyncGroup" },
	{ 18, "ApiVersions" },
	{ 22, "InitProducerId" },
	{ 24, "AddPartitionsToTxn" },
	{ 25, "AddOffsetsToTxn" },
	{ 26, "EndTxn" },
	{ 28, "TxnOffsetCommit" },
};

#define PM_MOCK_NUM_APIKEYS \
	(sizeof(pm_mock_apikeys) / sizeof(pm_mock_apikeys[0]))
/* Kafka defines far fewer; this only bounds what we pass on. */
#define PM_MOCK_APIKEY_MAX	127

#define PM_MOCK_COMMANDS \
	"down all|ID, up all|ID, rtt all|ID MS, error APIKEY ERR COUNT, " \
	"error APIKEY clear, leader TOPIC PARTITION ID, status, help"

struct pm_mock {
	/* From the command line. */
	int brokers;
	int partitions;
	const char *topics[PM_MOCK_MAX_TOPICS];
	int topic_cnt;
	const char *bootstrap_file;
	const char *control;
	int quiet;

	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mcluster;
	int sig_fd;
	int fifo_fd;
	int fifo_made;		/* we created the FIFO, so we remove it */
	int bootstrap_written;	/* the file is ours to remove */

	/* What we told the cluster, indexed by broker id (1..brokers): the
	 * mock API has no getters. */
	uint8_t down[PM_MOCK_MAX_BROKERS + 1];
	int rtt_ms[PM_MOCK_MAX_BROKERS + 1];

	/* Partial control line between reads. */
	char line[PM_MOCK_LINE_MAX];
	size_t line_len;
	int line_overflow;
};

static void
pm_mock_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line on stderr, "pmesh-kafka-mock: ...", written with one call so
 * it does not interleave with librdkafka's log lines. */
static void
pm_mock_log(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, PM_MOCK_PROG ": %s\n", msg);
}

static void
usage(FILE *f)
{
	fprintf(f,
"Usage: " PM_MOCK_PROG " [--brokers N] [--partitions P] [--topic NAME]...\n"
"           [--bootstrap-file FILE] [--control FIFO] [--quiet]\n"
"       " PM_MOCK_PROG " --help | --version\n"
"\n"
"A stand-alone Kafka broker for pmesh's demo and tests: librdkafka's mock\n"
"cluster, speaking the real protocol, keeping everything in memory.  It\n"
"listens on 127.0.0.1 only (ephemeral ports; processes in other network\n"
"namespaces need a relay) and each partition keeps only ~5 MiB or 100,000\n"
"message sets, so give long runs enough partitions.  This is a test\n"
"broker: in production bootstrap.servers names real brokers.\n"
"\n"
"Once the topics exist it prints the bootstrap list (e.g.\n"
"127.0.0.1:36511,127.0.0.1:41187,127.0.0.1:44301) as one line on stdout\n"
"and, with --bootstrap-file, writes it to FILE atomically; it runs until\n"
"SIGINT or SIGTERM, then removes FILE and exits 0.\n"
"\n"
"Options:\n"
"  --brokers N          brokers, ids 1..N, 1..%d (default 3)\n"
"  --partitions P       partitions per topic, 1..%d (default 16)\n"
"  --topic NAME         create this topic, repeatable; when given, only\n"
"                       these (default: pmesh.summaries pmesh.events\n"
"                       pmesh.paths pmesh.tables pmesh.alerts).  Clients\n"
"                       may still auto-create others, with 4 partitions.\n"
"  --bootstrap-file F   write the bootstrap list to F (tmp + rename)\n"
"  --control FIFO       read commands from FIFO (created if missing)\n"
"  --quiet              no start/stop lines on stderr\n"
"  -h, --help           this text\n"
"  --version            print the version\n"
"\n"
"Control commands, one per line on the FIFO, each answered with one line\n"
"on stderr (broker ids are 1..N):\n"
"  down all|ID          disconnect the broker(s), refuse new connections\n"
"  up all|ID            accept connections again\n"
"  rtt all|ID MS        delay the broker(s)' responses by MS ms (0 = off)\n"
"  error APIKEY ERR COUNT\n"
"                       fail the next COUNT requests of type APIKEY\n"
"                       (number or name: Produce, Fetch, Metadata,\n"
"                       InitProducerId, ...) with error ERR (number or\n"
"                       name, e.g. NOT_LEADER_FOR_PARTITION; _TRANSPORT\n"
"                       makes the broker drop the connection)\n"
"  error APIKEY clear   drop the errors still queued for APIKEY\n"
"  leader TOPIC PARTITION ID\n"
"                       move a partition's leader to broker ID (-1: none;\n"
"                       an unknown TOPIC is created with PARTITION+1)\n"
"  status               which brokers are down, and their RTTs\n"
"Signals: SIGUSR1 = all brokers down, SIGUSR2 = all brokers up.\n"
"\n"
"Examples:\n"
"  " PM_MOCK_PROG " --bootstrap-file /tmp/kb --control /tmp/kctl &\n"
"  while [ ! -s /tmp/kb ]; do sleep 0.1; done\n"
"  kcat -b $(cat /tmp/kb) -L\n"
"  echo hello | kcat -b $(cat /tmp/kb) -P -t pmesh.events\n"
"  kcat -b $(cat /tmp/kb) -C -t pmesh.events -o beginning -e\n"
"  pmesh-prober [EAL args] -- --src-ip 10.0.0.1 --target 10.0.0.2 \\\n"
"      --kafka $(cat /tmp/kb)\n"
"  echo 'down all' > /tmp/kctl; sleep 3; echo 'up all' > /tmp/kctl\n"
"  echo 'error Produce NOT_LEADER_FOR_PARTITION 5' > /tmp/kctl\n"
"  kill -USR1 %%1; kill -USR2 %%1; kill %%1\n"
"\n"
"Exit codes: 0 ok, 1 runtime failure, 2 usage error.\n",
		PM_MOCK_MAX_BROKERS, PM_MOCK_MAX_PARTITIONS);
}

static int
usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pm_mock_log("error: %s", msg);
	fprintf(stderr, PM_MOCK_PROG ": try '" PM_MOCK_PROG " --help'\n");
	return EXIT_USAGE;
}

/* A whole decimal integer in [min, max]; 0 or -EINVAL. */
static int
pm_mock_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Kafka's rule for topic names: 1..249 of [a-zA-Z0-9._-]. */
static int
pm_mock_topic_ok(const char *t)
{
	size_t len = strlen(t);
	size_t i;

	if (len == 0 || len > PM_MOCK_TOPIC_LEN_MAX)
		return 0;
	if (strcmp(t, ".") == 0 || strcmp(t, "..") == 0)
		return 0;
	for (i = 0; i < len; i++) {
		char c = t[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

enum {
	OPT_BROKERS = 256,
	OPT_PARTITIONS,
	OPT_TOPIC,
	OPT_BOOTSTRAP_FILE,
	OPT_CONTROL,
	OPT_QUIET,
	OPT_VERSION,
};

static const struct option pm_mock_opts[] = {
	{ "brokers", required_argument, NULL, OPT_BROKERS },
	{ "partitions", required_argument, NULL, OPT_PARTITIONS },
	{ "topic", required_argument, NULL, OPT_TOPIC },
	{ "bootstrap-file", required_argument, NULL, OPT_BOOTSTRAP_FILE },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "quiet", no_argument, NULL, OPT_QUIET },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* Fills m from argv.  Returns -1 to go on, else the exit code (0 after
 * --help/--version, 2 on a usage error). */
static int
pm_mock_parse_args(struct pm_mock *m, int argc, char **argv)
{
	long v;
	int opt;
	int i;

	m->brokers = 3;
	m->partitions = 16;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", pm_mock_opts, NULL)) != -1) {
		switch (opt) {
		case OPT_BROKERS:
			if (pm_mock_parse_long(optarg, 1, PM_MOCK_MAX_BROKERS, &v) < 0)
				return usage_error("--brokers: expected 1..%d, got '%s'",
						   PM_MOCK_MAX_BROKERS, optarg);
			m->brokers = (int)v;
			break;
		case OPT_PARTITIONS:
			if (pm_mock_parse_long(optarg, 1, PM_MOCK_MAX_PARTITIONS,
					       &v) < 0)
				return usage_error("--partitions: expected 1..%d, got '%s'",
						   PM_MOCK_MAX_PARTITIONS, optarg);
			m->partitions = (int)v;
			break;
		case OPT_TOPIC:
			if (!pm_mock_topic_ok(optarg))
				return usage_error("--topic: '%s' is not a Kafka topic name "
						   "(1..%d of a-z A-Z 0-9 . _ -)",
						   optarg, PM_MOCK_TOPIC_LEN_MAX);
			for (i = 0; i < m->topic_cnt; i++)
				if (strcmp(m->topics[i], optarg) == 0)
					return usage_error("--topic: '%s' given twice",
							   optarg);
			if (m->topic_cnt == PM_MOCK_MAX_TOPICS)
				return usage_error("--topic: at most %d topics",
						   PM_MOCK_MAX_TOPICS);
			m->topics[m->topic_cnt++] = optarg;
			break;
		case OPT_BOOTSTRAP_FILE:
			if (*optarg == '\0')
				return usage_error("--bootstrap-file: empty path");
			m->bootstrap_file = optarg;
			break;
		case OPT_CONTROL:
			if (*optarg == '\0')
				return usage_error("--control: empty path");
			m->control = optarg;
			break;
		case OPT_QUIET:
			m->quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf(PM_MOCK_PROG " " PM_VERSION " (librdkafka %s)\n",
			       rd_kafka_version_str());
			return 0;
		case ':':
			return usage_error("%s: needs a value", argv[optind - 1]);
		default:
			if (optopt != 0 && optopt < 256)
				return usage_error("unknown option '-%c'", optopt);
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (m->topic_cnt == 0) {
		for (i = 0; i < (int)(sizeof(pm_mock_default_topics) /
				      sizeof(pm_mock_default_topics[0])); i++)
			m->topics[m->topic_cnt++] = pm_mock_default_topics[i];
	}
	return -1;
}

/* librdkafka's own lines: warnings and worse only, in our format (the
 * idle producer that hosts the cluster has nothing useful to say below
 * that). */
static void
pm_mock_rd_log(const rd_kafka_t *rk, int level, const char *fac,
	       const char *buf)
{
	(void)rk;
	if (level > LOG_WARNING)
		return;
	fprintf(stderr, PM_MOCK_PROG ": librdkafka: %s: %s\n", fac, buf);
}

/* Creates the host client and the cluster, then the topics.  0 or -1
 * (already logged). */
static int
pm_mock_cluster_start(struct pm_mock *m)
{
	rd_kafka_conf_t *conf;
	rd_kafka_resp_err_t err;
	char errstr[512];
	int rf;
	int i;

	conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "client.id", PM_MOCK_PROG, errstr,
			      sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		pm_mock_log("error: client.id: %s", errstr);
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	rd_kafka_conf_set_log_cb(conf, pm_mock_rd_log);

	/* rd_kafka_new takes conf only on success. */
	m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (m->rk == NULL) {
		pm_mock_log("error: cannot create the librdkafka handle: %s",
			    errstr);
		rd_kafka_conf_destroy(conf);
		return -1;
	}

	m->mcluster = rd_kafka_mock_cluster_new(m->rk, m->brokers);
	if (m->mcluster == NULL) {
		pm_mock_log("error: cannot create a mock cluster of %d brokers "
			    "(out of sockets or ports on 127.0.0.1?)", m->brokers);
		return -1;
	}

	rf = m->brokers < PM_MOCK_MAX_RF ? m->brokers : PM_MOCK_MAX_RF;
	for (i = 0; i < m->topic_cnt; i++) {
		err = rd_kafka_mock_topic_create(m->mcluster, m->topics[i],
						 m->partitions, rf);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			pm_mock_log("error: cannot create topic %s: %s",
				    m->topics[i], rd_kafka_err2str(err));
			return -1;
		}
	}
	return 0;
}

/* Writes the bootstrap list to FILE via a temporary file and rename(), so
 * a reader never sees a partial line.  0 or -errno (logged). */
static int
pm_mock_write_bootstrap(struct pm_mock *m, const char *bootstraps)
{
	char tmp[PATH_MAX];
	size_t len = strlen(bootstraps);
	struct iovec iov[2];
	ssize_t w;
	int ret;
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", m->bootstrap_file,
		     (long)getpid()) >= (int)sizeof(tmp)) {
		pm_mock_log("error: --bootstrap-file: path too long");
		return -ENAMETOOLONG;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		pm_mock_log("error: --bootstrap-file: %s: %s", tmp, strerror(errno));
		return ret;
	}
	/* The list plus its newline in one write. */
	iov[0].iov_base = (void *)(uintptr_t)bootstraps;
	iov[0].iov_len = len;
	iov[1].iov_base = (void *)(uintptr_t)"\n";
	iov[1].iov_len = 1;
	w = writev(fd, iov, 2);
	if (w != (ssize_t)len + 1) {
		ret = w < 0 ? -errno : -EIO;
		pm_mock_log("error: %s: write: %s", tmp, strerror(-ret));
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		ret = -errno;
		pm_mock_log("error: %s: close: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, m->bootstrap_file) < 0) {
		ret = -errno;
		pm_mock_log("error: rename %s -> %s: %s", tmp,
			    m->bootstrap_file, strerror(errno));
		goto fail;
	}
	m->bootstrap_written = 1;
	return 0;

fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return ret;
}

/* Opens (creating if missing) the control FIFO.  Read-write so that the
 * FIFO always has a writer: writers closing never gives us EOF, and the
 * open does not wait for one.  0 or -errno (logged). */
static int
pm_mock_control_open(struct pm_mock *m)
{
	struct stat st;
	int ret;

	if (mkfifo(m->control, 0600) == 0) {
		m->fifo_made = 1;
	} else if (errno != EEXIST) {
		ret = -errno;
		pm_mock_log("error: --control: mkfifo %s: %s", m->control,
			    strerror(errno));
		return ret;
	}
	m->fifo_fd = open(m->control, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (m->fifo_fd < 0) {
		ret = -errno;
		pm_mock_log("error: --control: %s: %s", m->control,
			    strerror(errno));
		goto fail;
	}
	/* An existing regular file would read as one batch of commands and
	 * then poll readable forever. */
	if (fstat(m->fifo_fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		pm_mock_log("error: --control: %s exists and is not a FIFO",
			    m->control);
		ret = -EINVAL;
		goto fail;
	}
	return 0;

fail:
	if (m->fifo_fd >= 0)
		close(m->fifo_fd);
	m->fifo_fd = -1;
	if (m->fifo_made)
		unlink(m->control);
	m->fifo_made = 0;
	return ret;
}

/* "all" is -1, the mock API's "every broker"; else an id 1..brokers.
 * 0 or -EINVAL. */
static int
pm_mock_parse_broker(const struct pm_mock *m, const char *s, int32_t *id)
{
	long v;

	if (s != NULL && strcmp(s, "all") == 0) {
		*id = -1;
		return 0;
	}
	if (pm_mock_parse_long(s, 1, m->brokers, &v) < 0)
		return -EINVAL;
	*id = (int32_t)v;
	return 0;
}

static void
pm_mock_broker_name(int32_t id, char *buf, size_t len)
{
	if (id == -1)
		snprintf(buf, len, "all brokers");
	else
		snprintf(buf, len, "broker %d", (int)id);
}

/* Puts broker(s) id down or up and records it; answers on stderr. */
static void
pm_mock_set_updown(struct pm_mock *m, int32_t id, int down, const char *why)
{
	rd_kafka_resp_err_t err;
	char name[32];
	int i;

	pm_mock_broker_name(id, name, sizeof(name));
	err = down ? rd_kafka_mock_broker_set_down(m->mcluster, id) :
		     rd_kafka_mock_broker_set_up(m->mcluster, id);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		pm_mock_log("error: %s %s: %s", down ? "down" : "up", name,
			    rd_kafka_err2str(err));
		return;
	}
	for (i = 1; i <= m->brokers; i++)
		if (id == -1 || id == i)
			m->down[i] = (uint8_t)down;
	pm_mock_log("%s %s%s", name, down ? "down" : "up", why);
}

static void
pm_mock_set_rtt(struct pm_mock *m, int32_t id, int rtt_ms)
{
	rd_kafka_resp_err_t err;
	char name[32];
	int i;

	pm_mock_broker_name(id, name, sizeof(name));
	err = rd_kafka_mock_broker_set_rtt(m->mcluster, id, rtt_ms);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		pm_mock_log("error: rtt %s: %s", name, rd_kafka_err2str(err));
		return;
	}
	for (i = 1; i <= m->brokers; i++)
		if (id == -1 || id == i)
			m->rtt_ms[i] = rtt_ms;
	pm_mock_log("%s rtt %d ms", name, rtt_ms);
}

/* An API key by number or (case-insensitive) name; its name, or NULL
 * when unknown, in *name.  0 or -EINVAL. */
static int
pm_mock_parse_apikey(const char *s, int16_t *key, const char **name)
{
	size_t i;
	long v;

	*name = NULL;
	if (pm_mock_parse_long(s, 0, PM_MOCK_APIKEY_MAX, &v) == 0) {
		*key = (int16_t)v;
		for (i = 0; i < PM_MOCK_NUM_APIKEYS; i++)
			if (pm_mock_apikeys[i].key == *key)
				*name = pm_mock_apikeys[i].name;
		return 0;
	}
	for (i = 0; i < PM_MOCK_NUM_APIKEYS; i++) {
		if (strcasecmp(s, pm_mock_apikeys[i].name) == 0) {
			*key = pm_mock_apikeys[i].key;
			*name = pm_mock_apikeys[i].name;
			return 0;
		}
	}
	return -EINVAL;
}

/* An error code by number or by the name librdkafka gives it, with or
 * without the RD_KAFKA_RESP_ERR_ prefix, any case.  Only codes that
 * librdkafka knows are accepted.  0 or -EINVAL. */
static int
pm_mock_parse_err(const char *s, rd_kafka_resp_err_t *err)
{
	static const char prefix[] = "RD_KAFKA_RESP_ERR_";
	const struct rd_kafka_err_desc *descs;
	size_t cnt;
	size_t i;
	long v;
	int by_num;

	rd_kafka_get_err_descs(&descs, &cnt);
	by_num = pm_mock_parse_long(s, INT_MIN, INT_MAX, &v) == 0;
	if (!by_num && strncasecmp(s, prefix, sizeof(prefix) - 1) == 0)
		s += sizeof(prefix) - 1;
	for (i = 0; i < cnt; i++) {
		if (descs[i].name == NULL)
			continue;	/* holes in the table */
		if (by_num ? (long)descs[i].code == v :
			     strcasecmp(descs[i].name, s) == 0) {
			*err = descs[i].code;
			return 0;
		}
	}
	return -EINVAL;
}

/* The name for err as librdkafka spells it (no prefix). */
static const char *
pm_mock_err_name(rd_kafka_resp_err_t err)
{
	const struct rd_kafka_err_desc *descs;
	size_t cnt;
	size_t i;

	rd_kafka_get_err_descs(&descs, &cnt);
	for (i = 0; i < cnt; i++)
		if (descs[i].name != NULL && descs[i].code == err)
			return descs[i].name;
	return "?";
}

/* error APIKEY ERR COUNT | error APIKEY clear */
static void
pm_mock_cmd_error(struct pm_mock *m, char **arg, int argn)
{
	rd_kafka_resp_err_t *errs;
	rd_kafka_resp_err_t err;
	const char *kname;
	char kbuf[16];
	int16_t key;
	long cnt;
	long i;

	if (argn < 2 || pm_mock_parse_apikey(arg[1], &key, &kname) < 0) {
		pm_mock_log("error: error: expected APIKEY (0..%d or Produce, "
			    "Fetch, Metadata, InitProducerId, ...), got '%s'",
			    PM_MOCK_APIKEY_MAX, argn < 2 ? "" : arg[1]);
		return;
	}
	if (kname == NULL) {
		snprintf(kbuf, sizeof(kbuf), "ApiKey");
		kname = kbuf;
	}
	if (argn == 3 && strcmp(arg[2], "clear") == 0) {
		rd_kafka_mock_clear_request_errors(m->mcluster, key);
		pm_mock_log("cleared queued errors on %s (%d) requests", kname,
			    (int)key);
		return;
	}
	if (argn != 4) {
		pm_mock_log("error: usage: error APIKEY ERR COUNT | "
			    "error APIKEY clear");
		return;
	}
	if (pm_mock_parse_err(arg[2], &err) < 0) {
		pm_mock_log("error: error: unknown error code '%s' (a number, or "
			    "a name such as NOT_LEADER_FOR_PARTITION or _TRANSPORT)",
			    arg[2]);
		return;
	}
	if (pm_mock_parse_long(arg[3], 1, PM_MOCK_MAX_ERR_COUNT, &cnt) < 0) {
		pm_mock_log("error: error: COUNT: expected 1..%d, got '%s'",
			    PM_MOCK_MAX_ERR_COUNT, arg[3]);
		return;
	}
	errs = malloc((size_t)cnt * sizeof(*errs));
	if (errs == NULL) {
		pm_mock_log("error: error: out of memory");
		return;
	}
	for (i = 0; i < cnt; i++)
		errs[i] = err;
	rd_kafka_mock_push_request_errors_array(m->mcluster, key, (size_t)cnt,
						errs);
	free(errs);
	pm_mock_log("next %ld %s (%d) requests fail with %s (%d)", cnt, kname,
		    (int)key, pm_mock_err_name(err), (int)err);
}

/* leader TOPIC PARTITION ID */
static void
pm_mock_cmd_leader(struct pm_mock *m, char **arg, int argn)
{
	rd_kafka_resp_err_t err;
	long part;
	long id;

	if (argn != 4) {
		pm_mock_log("error: usage: leader TOPIC PARTITION ID");
		return;
	}
	if (!pm_mock_topic_ok(arg[1])) {
		pm_mock_log("error: leader: '%s' is not a topic name", arg[1]);
		return;
	}
	/* The mock indexes its partition array with this, unchecked below
	 * 0, and auto-creates an unknown topic with PARTITION + 1
	 * partitions: keep both sane. */
	if (pm_mock_parse_long(arg[2], 0, PM_MOCK_MAX_PARTITIONS - 1, &part) < 0) {
		pm_mock_log("error: leader: PARTITION: expected 0..%d, got '%s'",
			    PM_MOCK_MAX_PARTITIONS - 1, arg[2]);
		return;
	}
	if (pm_mock_parse_long(arg[3], -1, m->brokers, &id) < 0 || id == 0) {
		pm_mock_log("error: leader: ID: expected 1..%d or -1, got '%s'",
			    m->brokers, arg[3]);
		return;
	}
	err = rd_kafka_mock_partition_set_leader(m->mcluster, arg[1],
						 (int32_t)part, (int32_t)id);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		pm_mock_log("error: leader %s [%ld]: %s", arg[1], part,
			    rd_kafka_err2str(err));
		return;
	}
	if (id == -1)
		pm_mock_log("%s [%ld] has no leader", arg[1], part);
	else
		pm_mock_log("%s [%ld] leader is broker %ld", arg[1], part, id);
}

/* One line: which brokers are down, then each broker's state. */
static void
pm_mock_cmd_status(const struct pm_mock *m)
{
	char down[256];
	char each[1024];
	size_t dlen = 0;
	size_t elen = 0;
	int ndown = 0;
	int i;

	down[0] = '\0';
	each[0] = '\0';
	for (i = 1; i <= m->brokers; i++) {
		if (m->down[i]) {
			ndown++;
			if (dlen < sizeof(down))
				dlen += (size_t)snprintf(down + dlen,
							 sizeof(down) - dlen,
							 "%s%d", ndown > 1 ? "," : "", i);
		}
		if (elen < sizeof(each)) {
			if (m->rtt_ms[i] != 0)
				elen += (size_t)snprintf(each + elen, sizeof(each) - elen,
							 "%s%d %s rtt %d ms",
							 i > 1 ? ", " : "", i,
							 m->down[i] ? "down" : "up",
							 m->rtt_ms[i]);
			else
				elen += (size_t)snprintf(each + elen, sizeof(each) - elen,
							 "%s%d %s", i > 1 ? ", " : "", i,
							 m->down[i] ? "down" : "up");
		}
	}
	pm_mock_log("status: %d brokers, %d down%s%s; %s; bootstrap %s",
		    m->brokers, ndown, ndown ? ": " : "", down, each,
		    rd_kafka_mock_cluster_bootstraps(m->mcluster));
}

/* Runs one control line; every path answers with exactly one line. */
static void
pm_mock_command(struct pm_mock *m, char *line)
{
	char *arg[6];
	char *save = NULL;
	char *tok;
	int32_t id;
	long rtt;
	int argn = 0;

	for (tok = strtok_r(line, " \t\r", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t\r", &save)) {
		if (argn == (int)(sizeof(arg) / sizeof(arg[0]))) {
			pm_mock_log("error: too many words; commands: "
				    PM_MOCK_COMMANDS);
			return;
		}
		arg[argn++] = tok;
	}
	if (argn == 0 || arg[0][0] == '#')
		return;		/* blank lines and comments: no answer needed */

	if (strcmp(arg[0], "down") == 0 || strcmp(arg[0], "up") == 0) {
		if (argn != 2 || pm_mock_parse_broker(m, arg[1], &id) < 0) {
			pm_mock_log("error: usage: %s all|ID (ID 1..%d)", arg[0],
				    m->brokers);
			return;
		}
		pm_mock_set_updown(m, id, arg[0][0] == 'd', "");
	} else if (strcmp(arg[0], "rtt") == 0) {
		if (argn != 3 || pm_mock_parse_broker(m, arg[1], &id) < 0 ||
		    pm_mock_parse_long(arg[2], 0, PM_MOCK_MAX_RTT_MS, &rtt) < 0) {
			pm_mock_log("error: usage: rtt all|ID MS (ID 1..%d, "
				    "MS 0..%d)", m->brokers, PM_MOCK_MAX_RTT_MS);
			return;
		}
		pm_mock_set_rtt(m, id, (int)rtt);
	} else if (strcmp(arg[0], "error") == 0) {
		pm_mock_cmd_error(m, arg, argn);
	} else if (strcmp(arg[0], "leader") == 0) {
		pm_mock_cmd_leader(m, arg, argn);
	} else if (strcmp(arg[0], "status") == 0) {
		pm_mock_cmd_status(m);
	} else if (strcmp(arg[0], "help") == 0) {
		pm_mock_log("commands: " PM_MOCK_COMMANDS);
	} else {
		pm_mock_log("error: unknown command '%.64s'; commands: "
			    PM_MOCK_COMMANDS, arg[0]);
	}
}

/* Drains the FIFO, running each complete line.  A line longer than the
 * buffer is rejected whole, not run in pieces. */
static void
pm_mock_control_read(struct pm_mock *m)
{
	char buf[PIPE_BUF];
	ssize_t n;
	ssize_t i;

	for (;;) {
		n = read(m->fifo_fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				pm_mock_log("error: --control: read: %s",
					    strerror(errno));
			return;
		}
		if (n == 0)
			return;	/* cannot happen while we hold it open for writing */
		for (i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				if (m->line_overflow)
					pm_mock_log("error: command longer than %d "
						    "bytes ignored",
						    PM_MOCK_LINE_MAX - 1);
				else {
					m->line[m->line_len] = '\0';
					pm_mock_command(m, m->line);
				}
				m->line_len = 0;
				m->line_overflow = 0;
			} else if (m->line_len < sizeof(m->line) - 1) {
				m->line[m->line_len++] = buf[i];
			} else {
				m->line_overflow = 1;
			}
		}
	}
}

/* Returns 1 when the program should stop. */
static int
pm_mock_signal_read(struct pm_mock *m)
{
	struct signalfd_siginfo si;
	ssize_t n;

	for (;;) {
		n = read(m->sig_fd, &si, sizeof(si));
		if (n != (ssize_t)sizeof(si))
			return 0;	/* EAGAIN: drained */
		switch (si.ssi_signo) {
		case SIGUSR1:
			pm_mock_set_updown(m, -1, 1, " (SIGUSR1)");
			break;
		case SIGUSR2:
			pm_mock_set_updown(m, -1, 0, " (SIGUSR2)");
			break;
		default:
			if (!m->quiet)
				pm_mock_log("%s: stopping",
					    strsignal((int)si.ssi_signo));
			return 1;
		}
	}
}

/* Serves signals and the FIFO until SIGINT/SIGTERM.  0 or -errno. */
static int
pm_mock_loop(struct pm_mock *m)
{
	struct pollfd pfd[2];
	nfds_t nfds = 1;
	int ret;

	pfd[0].fd = m->sig_fd;
	pfd[0].events = POLLIN;
	if (m->fifo_fd >= 0) {
		pfd[1].fd = m->fifo_fd;
		pfd[1].events = POLLIN;
		nfds = 2;
	}
	for (;;) {
		/* The host handle queues nothing we need, but serving it
		 * now and then keeps its queue from growing. */
		rd_kafka_poll(m->rk, 0);
		ret = poll(pfd, nfds, 1000);
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			pm_mock_log("error: poll: %s", strerror(errno));
			return ret;
		}
		if (pfd[0].revents & POLLIN) {
			if (pm_mock_signal_read(m))
				return 0;
		}
		if (nfds == 2 && (pfd[1].revents & (POLLIN | POLLHUP)))
			pm_mock_control_read(m);
	}
}

static void
pm_mock_cleanup(struct pm_mock *m)
{
	/* The file goes first: a script polling it must not see a broker
	 * that is already going away. */
	if (m->bootstrap_written && unlink(m->bootstrap_file) < 0 &&
	    errno != ENOENT)
		pm_mock_log("warning: cannot remove %s: %s", m->bootstrap_file,
			    strerror(errno));
	if (m->mcluster != NULL)
		rd_kafka_mock_cluster_destroy(m->mcluster);
	if (m->rk != NULL)
		rd_kafka_destroy(m->rk);
	if (m->fifo_fd >= 0)
		close(m->fifo_fd);
	if (m->fifo_made)
		unlink(m->control);
	if (m->sig_fd >= 0)
		close(m->sig_fd);
}

int
main(int argc, char **argv)
{
	struct pm_mock m;
	const char *bootstraps;
	char topics[1024];
	size_t tlen = 0;
	sigset_t set;
	int ret;
	int i;

	memset(&m, 0, sizeof(m));
	m.sig_fd = -1;
	m.fifo_fd = -1;
	ret = pm_mock_parse_args(&m, argc, argv);
	if (ret >= 0)
		return ret;

	/* Blocked before librdkafka starts its threads, which inherit the
	 * mask, so these signals reach only the signalfd. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
		pm_mock_log("error: sigprocmask: %s", strerror(errno));
		return 1;
	}
	m.sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (m.sig_fd < 0) {
		pm_mock_log("error: signalfd: %s", strerror(errno));
		return 1;
	}
	/* A reader of stdout that went away must not kill the broker. */
	signal(SIGPIPE, SIG_IGN);

	if (m.control != NULL && pm_mock_control_open(&m) < 0) {
		ret = EXIT_USAGE;
		goto out;
	}

	ret = 1;
	if (pm_mock_cluster_start(&m) < 0)
		goto out;
	bootstraps = rd_kafka_mock_cluster_bootstraps(m.mcluster);

	printf("%s\n", bootstraps);
	if (fflush(stdout) != 0)
		pm_mock_log("warning: stdout: %s", strerror(errno));
	if (m.bootstrap_file != NULL && pm_mock_write_bootstrap(&m, bootstraps) < 0)
		goto out;

	if (!m.quiet) {
		topics[0] = '\0';
		for (i = 0; i < m.topic_cnt && tlen < sizeof(topics); i++)
			tlen += (size_t)snprintf(topics + tlen, sizeof(topics) - tlen,
						 "%s%s", i ? " " : "", m.topics[i]);
		pm_mock_log("%d broker%s on 127.0.0.1 (bootstrap %s), topics %s "
			    "x %d partitions; control FIFO %s; this is a test "
			    "broker: production points bootstrap.servers at real "
			    "brokers",
			    m.brokers, m.brokers == 1 ? "" : "s", bootstraps, topics,
			    m.partitions, m.control != NULL ? m.control : "none");
	}

	ret = pm_mock_loop(&m) < 0 ? 1 : 0;

out:
	pm_mock_cleanup(&m);
	return ret;
}

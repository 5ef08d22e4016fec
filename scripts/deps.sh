#!/usr/bin/env bash
# deps.sh: install every Debian package that pmesh's build, tests and demo need.
#
# Idempotent and quick on reruns: when dpkg already lists every package as
# installed nothing else happens (no apt-get update, no network).  Otherwise it
# installs only what is missing, non-interactively, and refreshes the package
# lists only when one of the missing names has no install candidate yet.
#
# Usage: bash scripts/deps.sh        (as root, or with sudo available)
# Exit status: 0 when everything is installed afterwards.
set -euo pipefail

pkgs=(
	build-essential
	chromium		# renders the aggregator's page in the HTML test
	clang
	curl			# the aggregator's HTTP tests
	dpdk
	dpdk-dev
	ethtool
	iproute2
	iputils-ping		# the netns self-test pings across namespaces
	kcat			# an independent Kafka client for the kafka tests
	libclang-rt-14-dev	# libFuzzer and the sanitizer runtimes for clang
	ibverbs-providers	# rdma-core's device drivers (rxe, mlx5) for pmesh-rdma
	libcmocka-dev
	libconfig-dev
	libdpdk-dev
	libibverbs-dev		# rdma-core 44: the verbs engine (rdma/)
	libmicrohttpd-dev	# pmesh-aggregator --http
	libnuma-dev
	libpcap-dev
	librdkafka-dev		# the Kafka sink, pmesh-kafka-mock, pmesh-cat
	meson
	nftables
	perftest		# ib_send_lat, the peer of scripts/bench-rdma.sh
	ninja-build
	pkg-config
	python3
	rdma-core		# the rdma tool (rdma link add rxe0 ...) for Soft-RoCE
	tshark
)

missing=()
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#pkgs[@]} packages already installed"
	exit 0
fi
echo "deps: missing: ${missing[*]}"

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null; then
		echo "deps: not root and no sudo; install these by hand: ${missing[*]}" >&2
		exit 1
	fi
	sudo=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer "no" up front so
# the install never stops at a debconf prompt.
echo 'wireshark-common wireshark-common/install-setuid boolean false' |
	"${sudo[@]}" debconf-set-selections

# True when apt knows no install candidate for package $1.
no_candidate() {
	local c
	c=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }')
	[ -z "$c" ] || [ "$c" = "(none)" ]
}

need_update=0
for p in "${missing[@]}"; do
	if no_candidate "$p"; then
		need_update=1
		break
	fi
done
if [ $need_update -eq 1 ]; then
	echo "deps: refreshing package lists"
	"${sudo[@]}" apt-get update -q
	for p in "${missing[@]}"; do
		if no_candidate "$p"; then
			echo "deps: no package named '$p' in the configured archives" >&2
			exit 1
		fi
	done
fi

"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends -o Dpkg::Options::=--force-confdef \
	-o Dpkg::Options::=--force-confold "${missing[@]}"
echo "deps: installed ${missing[*]}"

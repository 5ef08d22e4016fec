#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Malformed input is counted and skipped, never fatal.  The summaries topic
# gets kfeed's valid fabric summaries (8 racks, 4 spines, binary batches)
# and then, appended to the partitions, messages the aggregator must refuse:
# garbage under "pmesh-encoding: binary" (random bytes, a good magic with a
# bad body, a real batch cut in half), broken JSON lines, a JSON summary of
# schema 9, an encoding nobody knows, a header-less payload that is neither
# JSON nor a batch; and well-formed JSON summaries whose source and/or
# destination lie outside the topology.  The aggregator must exit 0, its
# final line must count exactly those messages, refusals and unknown
# hosts, and the tables must still equal the sums of the valid summaries
# (a refused or unknown summary adds nothing to any row).
. "$(dirname "$0")/kafka_lib.sh"
. "$(dirname "$0")/agg_lib.sh"
kt_need "$AGG" "$KFEED"
command -v kcat >/dev/null || { echo "SKIP: kcat not installed"; exit 77; }
kt_start_mock --partitions 4 --quiet
fail=0
T=pmesh.summaries
agg_topology "$KT/topo.cfg"

# Three 10 s windows of every rack pair over every spine.
N=$((8 * 8 * 4 * 30))
timeout 60 "$KFEED" -b "$BS" --id bad --fabric 8 --count $N --lcores 4 \
	--encoding binary --expect "$KT/exp.json" --spool-dir "$KT/spool" \
	>"$KT/feed.out" 2>&1 || { echo "FAIL: kfeed"; cat "$KT/feed.out"; exit 1; }
cat "$KT/feed.out"

# Messages kfeed left in the topic (the sink batches: not N).
kmsgs() {
	timeout 60 kcat -C -b "$BS" -t $T -o beginning -e -q -f 'm\n' | wc -l
}
valid_msgs=$(kmsgs)
echo "kfeed wrote $valid_msgs messages"
timeout 30 kcat -C -b "$BS" -t $T -p 0 -o beginning -c 1 -e -q -f '%s' >"$KT/batch.bin"

# The bad and the out-of-topology payloads, one file each.  JSON summaries
# are edited from kfeed's newest window, so that they are not late when
# they arrive behind the valid ones; new seq numbers keep them from being
# duplicates of the summaries they were copied from.
python3 - "$KT" <<'PY' || { echo "FAIL: cannot build payloads"; exit 1; }
import json, os, random, sys
d = sys.argv[1]
rnd = random.Random(7)
def put(name, data):
    open(os.path.join(d, name), "wb").write(data if isinstance(data, bytes) else data.encode())
lines = [json.loads(l) for l in open(os.path.join(d, "exp.json"))]
last = max(x["window_start_ns"] for x in lines)
base = next(x for x in lines if x["window_start_ns"] == last)
def variant(seq, **kw):
    x = dict(base)
    x.update(kw)
    pid = x["id"].split("-")[0]
    x["seq"] = seq
    x["id"] = f"{pid}-{x['lcore']}-{seq}"
    return json.dumps(x, separators=(",", ":"))
batch = open(os.path.join(d, "batch.bin"), "rb").read()
assert batch[:4] == b"PMB1", "first message is not a binary batch"
# binary: garbage, good magic + garbage, a real batch cut in half
put("bin1", bytes(rnd.randrange(256) for _ in range(200)))
put("bin2", b"PMB1" + bytes(rnd.randrange(256) for _ in range(300)))
put("bin3", batch[: len(batch) // 2])
# json: cut short, not JSON, a counter of the wrong type
good = variant(900000)
put("json1", good[: len(good) // 2])
put("json2", "this is not json")
put("json3", good.replace('"sent":', '"sent":"many","x":', 1))
put("schema9", variant(900001, schema=9))
put("unkenc", variant(900002))
put("nohdr", b"\x00\x01garbage without headers")
# well-formed, outside the topology
put("usrc", variant(900010, src="192.168.1.1"))
put("udst", variant(900011, dst="192.168.1.2"))
put("uboth", variant(900012, src="192.168.1.3", dst="192.168.1.4"))
PY

# kcat -P with files: each file is one message.
prod() {
	local hdr=$1
	shift
	timeout 30 kcat -P -b "$BS" -t $T -k bad-key ${hdr:+-H "$hdr"} "$@" ||
		{ echo "FAIL: kcat -P $*"; fail=1; }
}
prod pmesh-encoding=binary "$KT/bin1" "$KT/bin2" "$KT/bin3"
prod pmesh-encoding=json "$KT/json1" "$KT/json2" "$KT/json3" "$KT/schema9"
prod pmesh-encoding=avro "$KT/unkenc"
prod "" "$KT/nohdr"
prod pmesh-encoding=json "$KT/usrc" "$KT/udst" "$KT/uboth"
want_refused=9
want_msgs=$((valid_msgs + want_refused + 3))
got_msgs=$(kmsgs)
[ "$got_msgs" -eq "$want_msgs" ] ||
	{ echo "FAIL: topic holds $got_msgs messages, produced $want_msgs"; fail=1; }

timeout 120 "$AGG" -b "$BS" --topology "$KT/topo.cfg" --window-ms 10000 --grace-ms 0 \
	--until-idle 4000 --no-publish --output "$KT/tables.json" 2>"$KT/agg.err"
rc=$?
cat "$KT/agg.err"
[ $rc -eq 0 ] || { echo "FAIL: aggregator exited $rc"; fail=1; }

last=$(tail -1 "$KT/agg.err")
num() {
	echo "$last" | sed -n "s/.* \([0-9][0-9]*\) $1[,]*\( .*\)*$/\1/p"
}
check() {
	local what=$1 want=$2 got
	got=$(num "$what")
	if [ "$got" != "$want" ]; then
		echo "FAIL: '$what' is ${got:-missing}, want $want"
		fail=1
	else
		echo "ok: $what $got"
	fi
}
check messages "$want_msgs"
check refused $want_refused
check summaries "$N"
check duplicates 0
check late 0
check "unknown source" 2
check "unknown destination" 2
# By cause: no/unknown encoding (avro, no header), malformed batches (bad
# magic, truncated), malformed JSON (cut, not JSON, a string for a number),
# unknown schema or version (schema 9, a batch of a random version).
cause="refused by cause: encoding 2, binary 2, json 3, schema 2"
if grep -q "$cause" "$KT/agg.err"; then
	echo "ok: $cause"
else
	echo "FAIL: want '$cause', got '$(grep 'by cause' "$KT/agg.err")'"
	fail=1
fi

python3 - "$KT/exp.json" "$KT/tables.json" <<'PY' || fail=1
import collections, json, sys
def rack(ip):
    k = int(ip.split(".")[2])
    return f"pod{k // 4 + 1}-r{k % 4 + 1}"
exp = collections.defaultdict(lambda: [0, 0, 0])   # (win, src, dst) -> sent, lost, flows
spn = collections.defaultdict(lambda: [0, 0])
fleet = collections.defaultdict(lambda: [0, 0])
for line in open(sys.argv[1]):
    d = json.loads(line)
    w = d["window_start_ns"] // 10**10 * 10**10
    e = exp[(w, rack(d["src"]), rack(d["dst"]))]
    e[0] += d["sent"]; e[1] += d["lost"]; e[2] += 1
    s = spn[(w, "spine%d" % (d["sport"] - 49151))]
    s[0] += d["sent"]; s[1] += d["lost"]
    f = fleet[w]
    f[0] += d["sent"]; f[1] += d["lost"]
tables = [json.loads(l) for l in open(sys.argv[2])]
bad = int(len(tables) != len(fleet))
print(f"windows: {len(tables)}; expected {len(fleet)}")
for t in tables:
    w = t["window_start_ns"]
    got = {(r["src"], r["dst"]): (r["sent"], r["lost"], r["flows"])
           for r in t["tables"]["rack_pairs"]}
    want = {(k[1], k[2]): tuple(v) for k, v in exp.items() if k[0] == w}
    sp = {r["name"]: (r["sent"], r["lost"]) for r in t["tables"]["spines"]}
    spw = {k[1]: tuple(v) for k, v in spn.items() if k[0] == w}
    fl = t["tables"]["fleet"][0]
    ok = got == want and sp == spw and (fl["sent"], fl["lost"]) == tuple(fleet[w])
    print(f"window {w}: {len(got)} rack pairs, spines, fleet sent {fl['sent']} "
          f"(valid {fleet[w][0]}): {'exact' if ok else 'DIFFERENT'}")
    bad |= not ok
sys.exit(bad)
PY
[ $fail -eq 0 ] && echo "PASS"
exit $fail

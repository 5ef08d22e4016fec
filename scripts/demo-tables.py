#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""demo-tables.py: follow pmesh-aggregator's JSON lines (--output FILE) and
print each window as a person reads it: the spines, the worst rack pairs,
the alerts.  Used by scripts/demo.sh.

  demo-tables.py FILE [--alerts FILE] [--fault-at UNIX_S] [--until-alert NAME]
                 [--windows N] [--timeout S]

--alerts follows the aggregator's early alerts too (--alerts-output: alerts
of a window still open, published as soon as two probe windows show them).
With --fault-at, each alert line says how long after the fault it came;
with --until-alert, exits 0 as soon as a window or an early alert names
NAME (an element, "kind:K" for any alert of kind K, "*" for any), 1 on
timeout; with --windows, exits 0 after N windows.  Without, runs until
killed.
"""
import json
import os
import sys
import time


def fmt_ns(ns):
    if not ns:
        return "-"
    return f"{ns / 1e3:.0f} us" if ns < 1e6 else f"{ns / 1e6:.2f} ms"


def show(w, fault_at):
    t = w["tables"]
    start = w["window_start_ns"] / 1e9
    stamp = time.strftime("%H:%M:%S", time.gmtime(start))
    print(f"\n-- window {stamp} UTC ({w['window_ms'] // 1000} s): {w['summaries']} summaries")
    print(f"   {'spine':<10} {'probes':>8} {'lost':>7} {'drop':>8} {'p99':>9}  flows")
    for r in t.get("spines", []):
        rtt = r.get("rtt_ns", {})
        print(f"   {r['name']:<10} {r['sent']:>8} {r['lost']:>7} {100 * r['drop_rate']:>7.2f}% "
              f"{fmt_ns(rtt.get('p99')):>9}  {r['flows']}")
    worst = sorted(t.get("rack_pairs", []), key=lambda r: -r["drop_rate"])[:3]
    if worst and worst[0]["drop_rate"] > 0:
        print("   worst rack pairs: " + ", ".join(
            f"{r['src']} -> {r['dst']} {100 * r['drop_rate']:.2f}%" for r in worst
            if r["drop_rate"] > 0))
    alerts = w.get("alerts", [])
    if not alerts:
        print("   alerts: none")
    for a in alerts:
        late = ""
        if fault_at:
            end = start + w["window_ms"] / 1000
            late = f"  [{time.time() - fault_at:.1f} s after the fault; window ended " \
                   f"{end - fault_at:+.1f} s from it]"
        print(f"   ALERT {a['kind']}: {a.get('text', a['element'])}{late}")
    sys.stdout.flush()
    return alerts


def show_early(e, fault_at):
    a = e["alert"]
    start = e["window_start_ns"] / 1e9
    seen = min((e["as_of_ns"] - e["window_start_ns"]) / 1e9 + 1, e["window_ms"] / 1000)
    late = f"  [{time.time() - fault_at:.1f} s after the fault]" if fault_at else ""
    stamp = time.strftime("%H:%M:%S", time.gmtime(start))
    print(f"\n   EARLY ALERT {a['kind']} (window {stamp}, {seen:.0f} s of it seen): "
          f"{a.get('text', a['element'])}{late}")
    sys.stdout.flush()
    return [a]


class Follow:
    """Lines appended to a file from now on (the file may not exist yet)."""

    def __init__(self, path):
        self.path, self.f, self.buf = path, None, ""

    def line(self):
        if self.f is None:
            if not os.path.exists(self.path):
                return None
            self.f = open(self.path)
            self.f.seek(0, os.SEEK_END)
        chunk = self.f.readline()
        if not chunk:
            return None
        self.buf += chunk
        if not self.buf.endswith("\n"):
            return None
        out, self.buf = self.buf, ""
        return json.loads(out)


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    path = argv[1]
    fault_at = until = alerts_path = None
    timeout = nwin = None
    i = 2
    while i < len(argv):
        if argv[i] == "--fault-at":
            fault_at = float(argv[i + 1])
        elif argv[i] == "--until-alert":
            until = argv[i + 1]
        elif argv[i] == "--timeout":
            timeout = float(argv[i + 1])
        elif argv[i] == "--alerts":
            alerts_path = argv[i + 1]
        elif argv[i] == "--windows":
            nwin = int(argv[i + 1])
        i += 2
    end = time.time() + timeout if timeout else None
    while not os.path.exists(path):
        time.sleep(0.2)
    tables = Follow(path)
    tables.line()                       # opens it at its end
    early = Follow(alerts_path) if alerts_path else None
    while True:
        alerts = None
        e = early.line() if early else None
        if e is not None:
            alerts = show_early(e, fault_at)
        else:
            w = tables.line()
            if w is not None:
                alerts = show(w, fault_at)
                if nwin is not None:
                    nwin -= 1
                    if nwin <= 0:
                        return 0
        if alerts is None:
            if end and time.time() > end:
                return 1
            time.sleep(0.1)
            continue
        if until and any(until in ("*", a["element"], "kind:" + a["kind"])
                         for a in alerts):
            return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except KeyboardInterrupt:
        sys.exit(130)

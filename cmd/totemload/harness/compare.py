#!/usr/bin/env python3
"""compare.py OUT -> the comparison tables of compare.sh, in Markdown.

Reads OUT/<pass>/results.log of every pass compare.sh ran (defaults, equal, lossN).
Per run, as the harness's summarize.py: throughput = sum of END counts / (latest last
delivery - earliest group-complete time), a run counts only when every node completed
with identical digests; latency p50 = median of the nodes' p50, p99 = worst node's.
Figures are medians over repetitions; a cell with a failed repetition says so.
"""
import glob
import os
import statistics
import sys
from collections import defaultdict


def parse(path):
    runs = defaultdict(list)
    with open(path) as f:
        for line in f:
            if not line.startswith("RESULT "):
                continue
            d = dict(t.split("=", 1) for t in line.split()[1:] if "=" in t)
            runs[(d.get("kind"), d.get("sys"), d.get("variant"), d.get("run"))].append(d)
    out = defaultdict(list)  # (kind, sys, variant, n, k, size) -> [rec]
    for (kind, sysname, var, _), nodes in runs.items():
        n, k, size = int(nodes[0]["n"]), int(nodes[0]["senders"]), int(nodes[0]["size"])
        f = lambda x, key: float(x.get(key, "nan"))
        if kind == "raw":
            rec = {"ok": True, "rx": statistics.mean(f(x, "rx_dgrams_per_s") for x in nodes),
                   "mb": statistics.mean(f(x, "rx_mb_per_s") for x in nodes)}
            out[(kind, "raw", "-", n, k, size)].append(rec)
            continue
        ok = len(nodes) == n and all(x.get("complete") == "1" for x in nodes) and len({x.get("digest") for x in nodes}) == 1
        t0, tl = min(f(x, "t0_ns") for x in nodes), max(f(x, "tlast_ns") for x in nodes)
        el = (tl - t0) / 1e9
        rec = {"ok": ok, "msgs": f(nodes[0], "expected") / el if el > 0 else float("nan")}
        rec["mb"] = rec["msgs"] * size / 1e6
        if kind == "lat":
            rec["p50"] = statistics.median(f(x, "lat_p50_us") for x in nodes) / 1000
            rec["p99"] = max(f(x, "lat_p99_us") for x in nodes) / 1000
            rec["max"] = max(f(x, "lat_max_us") for x in nodes) / 1000
        out[(kind, sysname, var, n, k, size)].append(rec)
    return out


def med(recs, key):
    vals = [r[key] for r in recs if r["ok"]]
    return statistics.median(vals) if vals else float("nan")


def cell(recs, key, nd=0):
    if not recs:
        return "-"
    v = med(recs, key)
    bad = sum(not r["ok"] for r in recs)
    s = "-" if v != v else (f"{v:,.{nd}f}")
    return s + (f" ({bad} failed)" if bad else "")


def ratio(a, b, nd=2):
    return "-" if not (a == a and b == b and b > 0) else f"{a / b:.{nd}f}"


def label(k, n):
    return f"all({k})" if k == n else str(k)


def tput_table(res, systems, base, title):
    keys = sorted({(n, k, s) for (kind, _, _, n, k, s) in res if kind == "tput"},
                  key=lambda t: (t[0], t[1] != t[0], t[2]))
    if not keys:
        return []
    cols = [f"N={n} {label(k, n)} {s} B" for n, k, s in keys]
    out = [f"### {title}\n", "| msgs/s | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for sysname, var in systems:
        row = [cell(res.get(("tput", sysname, var, n, k, s), []), "msgs") for n, k, s in keys]
        if any(c != "-" for c in row):
            out.append(f"| {sysname} {var} | " + " | ".join(row) + " |")
    for sysname, var in systems:
        if sysname != "totemd":
            continue
        for bsys, bvar in base:
            row = [ratio(med(res.get(("tput", sysname, var, n, k, s), []), "msgs"),
                         med(res.get(("tput", bsys, bvar, n, k, s), []), "msgs")) for n, k, s in keys]
            if any(c != "-" for c in row):
                out.append(f"| {sysname} {var} / {bsys} {bvar} | " + " | ".join(row) + " |")
        row = []
        for n, k, s in keys:
            raws = res.get(("raw", "raw", "-", n, k, s), [])
            row.append(ratio(med(res.get(("tput", sysname, var, n, k, s), []), "mb"), med(raws, "mb")))
        if any(c != "-" for c in row):
            out.append(f"| {sysname} {var} / raw multicast (MB/s) | " + " | ".join(row) + " |")
    return out + [""]


def lat_table(res, systems, title):
    keys = sorted({(n, k, s) for (kind, _, _, n, k, s) in res if kind == "lat"})
    if not keys:
        return []
    cols = [f"N={n} {s} B" for n, k, s in keys]
    out = [f"### {title}\n", "| p50 / p99 (max) ms | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for sysname, var in systems:
        row = []
        for n, k, s in keys:
            recs = res.get(("lat", sysname, var, n, k, s), [])
            row.append("-" if not recs else f"{cell(recs, 'p50', 2)} / {cell(recs, 'p99', 2)} ({cell(recs, 'max', 1)})")
        if any(c != "-" for c in row):
            out.append(f"| {sysname} {var} | " + " | ".join(row) + " |")
    return out + [""]


def main():
    outdir = sys.argv[1]
    systems = [("corosync", "knet"), ("corosync", "udp"), ("corosync", "knet1500"),
               ("totemd", "udp"), ("totemd", "udp-safe")]
    base = [("corosync", "knet"), ("corosync", "udp"), ("corosync", "knet1500")]
    lines = []
    for path in sorted(glob.glob(os.path.join(outdir, "*", "results.log"))):
        name = os.path.basename(os.path.dirname(path))
        res = parse(path)
        what = {"defaults": "each system with its defaults", "equal": "equal protocol parameters (1500-byte packets)"}.get(
            name, "frame loss " + name[4:] + "%" if name.startswith("loss") else name)
        lines += [f"## {name}: {what}\n"]
        lines += tput_table(res, systems, base, "Ordered throughput (messages/s delivered at every node, median)")
        lines += lat_table(res, systems, "Delivery latency at the harness's offered rate")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Medians of compare.sh's JSON reports, per target, and the Rust/Node ratios; with --churn,
the churn runs' memory figures."""
import json
import statistics
import sys
from pathlib import Path


def churn_table(out):
    mib = lambda kib: "-" if kib is None else f"{kib / 1024:.1f}"
    print("\nchurn: server RSS in MiB (warm: after 5 s; end: when the last connection started)")
    print(f"{'':22} {'start':>7} {'warm':>7} {'peak':>7} {'end':>7} {'idle':>7} {'end-warm':>9} {'cycles':>8} {'failed':>7}")
    for path in sorted(out.glob("churn-*.json")):
        if not path.stat().st_size:
            continue
        r = json.loads(path.read_text())
        growth = None if r["end_rss_kib"] is None or r["warm_rss_kib"] is None else r["end_rss_kib"] - r["warm_rss_kib"]
        print(
            f"{r['target'] + ' ' + r['mode']:22} {mib(r['start_rss_kib']):>7} {mib(r['warm_rss_kib']):>7} "
            f"{mib(r['peak_rss_kib']):>7} {mib(r['end_rss_kib']):>7} {mib(r['idle_rss_kib']):>7} "
            f"{mib(growth):>9} {r['completed']:>8} {sum(r['failures'].values()):>7}"
        )


if sys.argv[1] == "--churn":
    churn_table(Path(sys.argv[2]))
    sys.exit(0)

out, clients, repeats = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])


def load(kind, target):
    reports = []
    for i in range(1, repeats + 1):
        path = out / f"{kind}-{target}-{i}.json"
        if path.exists() and path.stat().st_size:
            reports.append(json.loads(path.read_text()))
    return reports


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def storm_figures(reports):
    rounds = [r["rounds"][0] for r in reports if r.get("rounds")]
    return {
        "all back ms": median([r["all_back_ms"] for r in rounds]),
        "reconnects/s": median([r["reconnects_per_sec"] for r in rounds]),
        "p50 ms": median([r["latency_ms"]["p50"] for r in rounds]),
        "p99 ms": median([r["latency_ms"]["p99"] for r in rounds]),
        "max ms": median([r["latency_ms"]["max"] for r in rounds]),
        "not back": median([r["not_back"] for r in rounds]),
        "connect errors": median([sum(r["failures"].values()) for r in rounds]),
        "cpu us/reconnect": median([r["server_cpu_us_per_reconnect"] for r in rounds]),
        "peak RSS MiB": median([(r["server_peak_rss_kib"] or 0) / 1024 for r in rounds]),
        "idle KiB/conn": median([r["idle_kib_per_connection"] for r in reports]),
        "harness cpu ms": median([r["harness_cpu_ms"] for r in rounds]),
        "listen overflows": median([r["kernel"]["listen_overflows"] for r in rounds]),
        "SYN retransmits": median([r["kernel"]["syn_retransmits"] for r in rounds]),
    }


def fanout_figures(reports):
    split = lambda key, p: median([(r.get(key) or {}).get(p) for r in reports])
    return {
        "p50 ms": median([r["latency_ms"]["p50"] for r in reports]),
        "p99 ms": median([r["latency_ms"]["p99"] for r in reports]),
        "same node p50 ms": split("same_node_latency_ms", "p50"),
        "same node p99 ms": split("same_node_latency_ms", "p99"),
        "across Redis p50 ms": split("cross_node_latency_ms", "p50"),
        "across Redis p99 ms": split("cross_node_latency_ms", "p99"),
        "deliveries/s": median([r["deliveries_per_sec"] for r in reports]),
        "lost": median([r["lost"] for r in reports]),
        "idle KiB/conn": median([r["idle_kib_per_connection"] for r in reports]),
        "server cpu ms": median([r["server_cpu_ms"] for r in reports]),
    }


def table(title, figures):
    """Columns: the targets in `figures` (rust, node, and mixed where there is one), then Rust/Node."""
    names = list(figures)
    print(f"\n{title} ({clients} clients, median of {repeats})")
    print(f"{'':22} " + " ".join(f"{n:>12}" for n in names) + f" {'rust/node':>10}")
    fmt = lambda v: "-" if v is None else f"{v:,.1f}"
    for key in figures["rust"]:
        r, n = figures["rust"][key], figures["node"].get(key)
        ratio = f"{r / n:.2f}" if r is not None and n else "-"
        cells = " ".join(f"{fmt(figures[name].get(key)):>12}" for name in names)
        print(f"{key:22} {cells} {ratio:>10}")


def cluster(kind, figures_of):
    """Two nodes sharing Redis: Rust, Node, and mixed (a Node node and a Rust node speaking
    @socket.io/redis-adapter's protocol) when compare.sh measured it."""
    columns = {t: figures_of(load(kind, f"{t}-cluster")) for t in ("rust", "node")}
    if load(kind, "mixed-cluster"):
        columns["mixed"] = figures_of(load(kind, "mixed-cluster"))
    return columns


table("reconnect storm, all at once", {t: storm_figures(load("storm", t)) for t in ("rust", "node")})
table("reconnect storm, spread over ~1 s", {t: storm_figures(load("spread", t)) for t in ("rust", "node")})
table("reconnect storm, server restart", {t: storm_figures(load("restart", t)) for t in ("rust", "node")})
table(
    "reconnect storm, all at once, on PostgreSQL",
    {t: storm_figures(load("storm", f"{t}-pg")) for t in ("rust", "node")},
)
table("fan-out, 20 messages", {t: fanout_figures(load("fanout", t)) for t in ("rust", "node")})
table(
    "reconnect storm, all at once, two nodes sharing Redis (PostgreSQL)",
    cluster("storm", storm_figures),
)
table(
    "fan-out, 20 messages, two nodes sharing Redis (PostgreSQL)",
    cluster("fanout", fanout_figures),
)

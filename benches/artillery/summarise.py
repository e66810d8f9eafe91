"""The table benches/artillery/compare.sh prints: per tool, the median over the repeats of CPU
per connection and peak RSS (from /usr/bin/time), the clients that finished, and the time to the
pushed answer as the tool itself reports it.

    python3 summarise.py WORK_DIR CLIENTS REPEATS
"""

import json
import statistics
import sys
from pathlib import Path


def timed(work: Path, name: str, i: int) -> tuple[float, float]:
    """CPU seconds (user + system) and peak RSS in MiB of one run."""
    user, system, rss_kib = (work / f"{name}-{i}.time").read_text().split()[-3:]
    return float(user) + float(system), int(rss_kib) / 1024


def harness_run(work: Path, i: int) -> tuple[int, str]:
    report = json.loads((work / f"harness-{i}.out").read_text())
    ready = report.get("ready_ms") or {}
    latency = f"p50 {ready['p50']:.1f} ms, p99 {ready['p99']:.1f} ms" if ready else "not reported"
    return report.get("completed", 0), latency


def artillery_run(work: Path, i: int) -> tuple[int, str]:
    aggregate = json.loads((work / f"artillery-{i}.json").read_text())["aggregate"]
    done = aggregate["counters"].get("vusers.completed", 0)
    answer = aggregate.get("summaries", {}).get("socketio.response_time")
    # Artillery's `response` without `data` never matches, so every answer is taken at the
    # timeout (10 s) and counted a success: this is the timeout, not the answer's time.
    latency = f"p50 {answer['median']:.0f} ms, p99 {answer['p99']:.0f} ms" if answer else "none"
    return done, latency


def main() -> None:
    work, clients, repeats = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    print(f"\n{clients} connections; medians of {repeats} runs\n")
    print("| tool | CPU per connection | peak RSS | finished | time to pushed answer (as reported) |")
    print("| --- | ---: | ---: | ---: | --- |")
    for name, read in (("sio-harness churn", harness_run), ("artillery 2.0.34", artillery_run)):
        file = "harness" if name.startswith("sio") else "artillery"
        runs = [(timed(work, file, i), read(work, i)) for i in range(1, repeats + 1)]
        cpu_ms = statistics.median(cpu for (cpu, _), _ in runs) * 1000 / clients
        rss = statistics.median(rss for (_, rss), _ in runs)
        finished = statistics.median(done for _, (done, _) in runs)
        latency = runs[len(runs) // 2][1][1]
        print(f"| {name} | {cpu_ms:.2f} ms | {rss:.0f} MiB | {finished:.0f} | {latency} |")


if __name__ == "__main__":
    main()

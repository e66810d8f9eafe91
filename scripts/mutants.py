#!/usr/bin/env python3
"""Hand-written mutation testing: is the scenario suite able to tell a broken server?

`python3 scripts/mutants.py --side node|rust [--only ID...] [--suite-rev REV] [--report FILE]`

Each mutant of `mutants/<side>.yaml` (file, search, replace) is applied on its own, the server
rebuilt, and the scenario suite (`scenarios/*.yaml`, the files the suites stage runs on one
server) run against it file by file, the mutant's `first` files first, until a scenario fails:
the mutant is *killed*. One that passes the whole suite *survived*; one that does not build is
*unviable* (a mistake in the list, reported, not counted). A run starts with the unmutated
server, which must pass the whole suite, so a failure is the mutant's doing.

- node: the Node original is copied to a temporary directory (its node_modules linked), built
  once with tsc; a mutant's file is transpiled alone into the copy's dist/ (seconds, not a tsc
  run), and the copy is launched through a targets file written for it.
- rust: the Rust server is mutated in place (cargo's incremental build needs the workspace's own
  target directory), rebuilt with `cargo build -p realtime-server`, and each file is put back
  after its mutant, also on failure or Ctrl-C; the run refuses to start if a mutated file has
  uncommitted changes, and rebuilds the unmutated server at the end.

`--suite-rev REV` runs the scenarios and snapshots of an older commit instead (the score before
new scenarios). Needs python3-yaml; run it with `nice`, one at a time (scripts/test.sh mutants).
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "target" / "debug" / "sio-harness"
# The transpiler the Node original builds with, for one file at a time.
TRANSPILE = """
const ts = require('typescript');
const fs = require('fs');
const [src, out] = process.argv.slice(1);
const config = ts.readConfigFile('tsconfig.json', ts.sys.readFile).config;
const { options } = ts.convertCompilerOptionsFromJson(config.compilerOptions, '.');
options.sourceMap = false;
const result = ts.transpileModule(fs.readFileSync(src, 'utf8'), { compilerOptions: options, fileName: src, reportDiagnostics: true });
if (result.diagnostics && result.diagnostics.length) {
  for (const d of result.diagnostics) console.error(ts.flattenDiagnosticMessageText(d.messageText, '\\n'));
  process.exit(1);
}
fs.writeFileSync(out, result.outputText);
"""


def load_mutants(side):
    path = ROOT / "mutants" / f"{side}.yaml"
    data = yaml.safe_load(path.read_text())
    mutants = data["mutants"]
    seen = set()
    for m in mutants:
        for key in ("id", "promise", "file", "search", "replace"):
            if key not in m:
                sys.exit(f"{path}: mutant {m.get('id', '?')} has no {key}")
        if m["id"] in seen:
            sys.exit(f"{path}: mutant id {m['id']} twice")
        seen.add(m["id"])
    return mutants


def apply(text, mutant, where):
    count = text.count(mutant["search"])
    if count != 1:
        sys.exit(
            f"mutant {mutant['id']}: its search text occurs {count} times in {where} "
            "(must be exactly once: the list no longer fits the code)"
        )
    return text.replace(mutant["search"], mutant["replace"])


class Suite:
    """The scenario files, run one by one against a target until one fails."""

    def __init__(self, target, targets_file, suite_dir, snapshots):
        self.target = target
        self.targets_file = targets_file
        self.suite_dir = suite_dir
        self.snapshots = snapshots
        self.files = sorted(
            p.name for p in suite_dir.glob("*.yaml") if p.name != "targets.yaml"
        )
        # A failing run leaves its transcripts as .snap.new beside the snapshots: a mutant's,
        # not for review, so they are removed after each run (those there before stay).
        self.pending = set(snapshots.glob("*.snap.new"))

    def run(self, names, log):
        """Runs these files in one harness run, two scenarios at a time; the failed scenarios."""
        cmd = [
            str(HARNESS), "run", "--jobs", "2", "--target", self.target,
            "--targets-file", str(self.targets_file), "--snapshots", str(self.snapshots),
        ] + [str(self.suite_dir / n) for n in names]
        out = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        log.write(f"$ {' '.join(cmd)}\n{out.stdout}\n")
        for new in set(self.snapshots.glob("*.snap.new")) - self.pending:
            new.unlink()
        failed = [line.split("::", 1)[-1].strip() for line in out.stdout.splitlines()
                  if line.lstrip().startswith("FAIL")]
        return failed or ([] if out.returncode == 0 else [f"harness exit {out.returncode}"])

    def kills(self, first, log):
        """The failed scenarios: the mutant's `first` files, then (if they pass) the rest."""
        first = [f for f in (first or []) if f in self.files]
        rest = [f for f in self.files if f not in first]
        for names in (first, rest):
            if names:
                failed = self.run(names, log)
                if failed:
                    return failed
        return []


class NodeSide:
    def __init__(self, work):
        self.copy = work / "node-original"
        src = ROOT / "node-original"
        self.copy.mkdir()
        for entry in ("src", "test", "package.json", "tsconfig.json"):
            if (src / entry).is_dir():
                shutil.copytree(src / entry, self.copy / entry)
            elif (src / entry).exists():
                shutil.copy2(src / entry, self.copy / entry)
        (self.copy / "node_modules").symlink_to(src / "node_modules")
        # dist/ finds the migrations and the dashboard page four levels up, as in the repository.
        for shared in ("server", "page"):
            (work / shared).symlink_to(ROOT / shared)
        print("node: building the unmutated copy with tsc", flush=True)
        subprocess.run(["npx", "tsc", "-p", "tsconfig.json"], cwd=self.copy, check=True)
        base = yaml.safe_load((ROOT / "scenarios" / "targets.yaml").read_text())["targets"]["node"]
        fixtures = str(ROOT / "scenarios" / "fixtures.sql")
        target = {
            "description": "the Node original, mutated (scripts/mutants.py)",
            "cwd": str(self.copy),
            "command": base["command"],
            "setup": [[a.replace("../scenarios/fixtures.sql", fixtures) for a in s] for s in base["setup"]],
            "seed": base["seed"],
            "env": base["env"],
        }
        self.targets_file = work / "targets.yaml"
        self.targets_file.write_text(yaml.safe_dump({"targets": {"node": target}}))
        self.target = "node"

    def build(self, rel, text, log):
        source = self.copy / rel
        source.write_text(text)
        out = self.copy / "dist" / Path(rel).with_suffix(".js")
        result = subprocess.run(
            ["node", "-e", TRANSPILE, rel, str(out)], cwd=self.copy,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        log.write(result.stdout)
        return result.returncode == 0

    def original(self, rel):
        return (ROOT / "node-original" / rel).read_text()

    def restore(self, rel, log):
        self.build(rel, self.original(rel), log)

    def finish(self, log):
        pass


class RustSide:
    def __init__(self, work, mutants):
        self.targets_file = ROOT / "scenarios" / "targets.yaml"
        self.target = "rust"
        self.saved = {}
        files = sorted({m["file"] for m in mutants})
        dirty = subprocess.run(["git", "status", "--porcelain", "--"] + files,
                               cwd=ROOT / "server", stdout=subprocess.PIPE, text=True, check=True).stdout
        if dirty.strip():
            sys.exit(f"rust: uncommitted changes in files to mutate; commit or stash first:\n{dirty}")
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.on_signal)

    def on_signal(self, signum, _frame):
        self.put_back()
        sys.exit(128 + signum)

    def put_back(self):
        for path, text in self.saved.items():
            path.write_text(text)
        self.saved.clear()

    def cargo_build(self, log):
        result = subprocess.run(["cargo", "build", "-q", "-p", "realtime-server"], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        log.write(result.stdout)
        return result.returncode == 0

    def original(self, rel):
        path = ROOT / "server" / rel
        return self.saved.get(path, path.read_text())

    def build(self, rel, text, log):
        path = ROOT / "server" / rel
        self.saved.setdefault(path, path.read_text())
        path.write_text(text)
        return self.cargo_build(log)

    def restore(self, rel, log):
        self.put_back()

    def finish(self, log):
        self.put_back()
        if not self.cargo_build(log):
            sys.exit("rust: the unmutated server does not build any more")


def suite_from_rev(rev, work):
    """The scenarios and snapshots of an older commit, in a temporary directory."""
    dest = work / "suite"
    dest.mkdir()
    archive = subprocess.run(["git", "archive", rev, "scenarios", "snapshots"], cwd=ROOT,
                             stdout=subprocess.PIPE, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "scenarios", dest / "snapshots"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", choices=["node", "rust"], required=True)
    parser.add_argument("--only", nargs="*", help="mutant ids (default: all)")
    parser.add_argument("--suite-rev", help="use the scenarios and snapshots of this commit")
    parser.add_argument("--report", help="write the results as JSON here")
    args = parser.parse_args()

    if not HARNESS.exists():
        sys.exit(f"{HARNESS} missing: cargo build -p sio-harness first")
    mutants = load_mutants(args.side)
    if args.only:
        unknown = set(args.only) - {m["id"] for m in mutants}
        if unknown:
            sys.exit(f"unknown mutant ids: {', '.join(sorted(unknown))}")
        mutants = [m for m in mutants if m["id"] in args.only]

    work = Path(tempfile.mkdtemp(prefix=f"mutants-{args.side}-"))
    log_path = ROOT / "target" / f"mutants-{args.side}.log"
    results = []
    started = time.monotonic()
    try:
        with open(log_path, "w") as log:
            side = NodeSide(work) if args.side == "node" else RustSide(work, mutants)
            if args.suite_rev:
                suite_dir, snapshots = suite_from_rev(args.suite_rev, work)
            else:
                suite_dir, snapshots = ROOT / "scenarios", ROOT / "snapshots"
            suite = Suite(side.target, side.targets_file, suite_dir, snapshots)
            if args.side == "rust" and not side.cargo_build(log):
                sys.exit("rust: the unmutated server does not build")
            print(f"{args.side}: the unmutated server against the suite ({len(suite.files)} files)", flush=True)
            baseline = suite.kills([], log)
            if baseline:
                sys.exit(f"the unmutated server fails: {baseline} (see {log_path})")
            for mutant in mutants:
                t0 = time.monotonic()
                log.write(f"\n=== mutant {mutant['id']}\n")
                rel = mutant["file"]
                mutated = apply(side.original(rel), mutant, rel)
                try:
                    if not side.build(rel, mutated, log):
                        status, by = "unviable", []
                    else:
                        by = suite.kills(mutant.get("first"), log)
                        status = "killed" if by else "survived"
                finally:
                    side.restore(rel, log)
                seconds = round(time.monotonic() - t0)
                results.append({"id": mutant["id"], "promise": mutant["promise"], "status": status,
                                "by": by, "seconds": seconds})
                print(f"  {status:9} {mutant['id']:34} {seconds:4d} s  {'; '.join(by[:2])}", flush=True)
            side.finish(log)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    counted = [r for r in results if r["status"] != "unviable"]
    killed = sum(r["status"] == "killed" for r in counted)
    minutes = (time.monotonic() - started) / 60
    score = f"{killed}/{len(counted)}" + (f" ({100 * killed / len(counted):.0f} %)" if counted else "")
    print(f"{args.side}: {score} killed; survived: "
          f"{', '.join(r['id'] for r in counted if r['status'] == 'survived') or 'none'}; "
          f"unviable: {', '.join(r['id'] for r in results if r['status'] == 'unviable') or 'none'}; "
          f"{minutes:.1f} min (log: {log_path})")
    if args.report:
        Path(args.report).write_text(json.dumps({"side": args.side, "suite_rev": args.suite_rev,
                                                 "results": results}, indent=2) + "\n")
    return 1 if any(r["status"] == "survived" for r in counted) else 0


if __name__ == "__main__":
    sys.exit(main())

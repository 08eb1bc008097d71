"""What the cluster collectors cost, on a real one-node corosync + Pacemaker cluster with a
VirtualDomain and an IPaddr2 resource (tests/support/cluster.py; needs root, libvirtd and
no other cluster on the machine): the wall and CPU time of each command they run in the
background, and a scrape of the pacemaker and corosync collectors, which serve the last
answer, beside what a scrape costs when it runs the commands itself (as
ha_cluster_exporter does in every scrape).

    .venv/bin/python benchmarks/cluster_bench.py [--runs 20]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.cluster import refusal, running_cluster
from support.scrape import exporter, only

COMMANDS = {
    "crm_mon": ["crm_mon", "--one-shot", "--output-as=xml", "--inactive", "--include=all"],
    "cibadmin": ["cibadmin", "--query", "--scope", "configuration"],
    "corosync-quorumtool": ["corosync-quorumtool", "-p"],
    "corosync-cfgtool": ["corosync-cfgtool", "-s"],
}


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU (user+system of the child) milliseconds of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall * 1000, cpu * 1000


def p50(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    reason = refusal()
    if reason:
        sys.exit(reason)
    with tempfile.TemporaryDirectory() as scratch, running_cluster(Path(scratch)) as cluster:
        cluster.virtual_domain("havm", "kvmxt-bench-havm")
        cluster.add('<primitive id="vip" class="ocf" provider="heartbeat" type="IPaddr2">'
                    '<instance_attributes id="vip-ia"><nvpair id="vip-ip" name="ip" value="127.0.0.77"/>'
                    '<nvpair id="vip-nic" name="nic" value="lo"/></instance_attributes></primitive>')
        time.sleep(10)
        try:
            print(f"command (p50 of {args.runs})      wall ms   CPU ms")
            total_wall = total_cpu = 0.0
            for name, argv in COMMANDS.items():
                runs = [timed(argv) for _ in range(args.runs)]
                wall, cpu = p50([r[0] for r in runs]), p50([r[1] for r in runs])
                total_wall, total_cpu = total_wall + wall, total_cpu + cpu
                print(f"{name:30s} {wall:8.1f} {cpu:8.1f}")
            print(f"{'all four, per scrape if run in it':30s} {total_wall:8.1f} {total_cpu:8.1f}")
            with exporter(*only("pacemaker", "corosync")) as running:
                running.scrape()
                scrapes = []
                for _ in range(args.runs):
                    start = time.perf_counter()
                    with urllib.request.urlopen(running.url + "/metrics", timeout=10) as response:
                        response.read()
                    scrapes.append((time.perf_counter() - start) * 1000)
            print(f"{'kvm-exporter scrape (served)':30s} {p50(scrapes):8.1f}")
        finally:
            for resource_id in ("havm", "vip"):
                cluster.remove(resource_id)


if __name__ == "__main__":
    main()

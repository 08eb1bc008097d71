"""Fleet scale benchmark: many exporters on loopback scraped by the HA pair, remote-writing to
VictoriaMetrics, and the sizing that follows from the measured per-host figures.

    python benchmarks/fleet_bench.py [--hosts 50] [--domains 50] [--minutes 3]

Starts `--hosts` exporters serving `--domains` domains each, replayed from real libvirt records
(benchmarks/replay_server.py: the real collector path, libvirt calls replaced), plus one real
kvm-exporter on this machine with the host-level collectors (what each hypervisor adds beside
its VMs); two Prometheus replicas from deploy/prometheus/prometheus-ha.yml with the shipped
rules, scraping every 15 s as shipped, both remote-writing to VictoriaMetrics
(deploy/victoriametrics/victoria-metrics.env). After `--minutes` it prints samples/s ingested,
head series, rule group evaluation times, Prometheus RSS, scrape sizes (plain and gzip),
remote-write bytes/s, VictoriaMetrics' bytes per stored sample, and a sizing table for 100,
1,000 and 10,000 hypervisors. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from support.alerting_stack import PROMETHEUS
from support.fleet import replica_config, victoria_metrics_args
from support.scrape import free_port, serving

ROOT = Path(__file__).resolve().parent.parent
REPLAY = Path(__file__).parent / "replay_server.py"
SCRAPE_SECONDS = 15


def query(base: str, expr: str) -> float:
    with urllib.request.urlopen(f"{base}/api/v1/query?query={urllib.parse.quote(expr)}", timeout=30) as r:
        result = json.loads(r.read())["data"]["result"]
    return sum(float(s["value"][1]) for s in result)


def sizes(url: str) -> tuple[int, int, int]:
    """Bytes of one scrape, plain and gzip, and its series."""
    with urllib.request.urlopen(
        urllib.request.Request(url, headers={"Accept-Encoding": "gzip"}), timeout=60
    ) as r:
        body = r.read()
    plain = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
    series = sum(1 for line in plain.splitlines() if line and not line.startswith(b"#"))
    return len(plain), len(gzip.compress(plain)) if body[:2] != b"\x1f\x8b" else len(body), series


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--domains", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        ports = [free_port() for _ in range(args.hosts)]
        for port in ports:
            stack.enter_context(
                serving(
                    [sys.executable, str(REPLAY), str(port), str(args.domains)],
                    f"http://127.0.0.1:{port}/-/ready",
                    seconds=120,
                )
            )
        host_port = free_port()
        stack.enter_context(
            serving(
                [
                    sys.executable,
                    "-m",
                    "exporter",
                    f"--web.listen-address=127.0.0.1:{host_port}",
                    "--no-collector.libvirt",
                    "--no-collector.smart",
                ],
                f"http://127.0.0.1:{host_port}/-/ready",
            )
        )
        targets = tmp / "targets"
        targets.mkdir()
        (targets / "kvm-exporter.json").write_text(
            json.dumps(
                [{"targets": [f"127.0.0.1:{p}" for p in [*ports, host_port]], "labels": {"site": "bench"}}]
            )
        )
        (targets / "kvm-remediator.json").write_text("[]")
        vm_port = free_port()
        victoria = f"http://127.0.0.1:{vm_port}"
        stack.enter_context(
            serving(["victoria-metrics", *victoria_metrics_args(vm_port, tmp / "vm")], f"{victoria}/health")
        )
        replicas = []
        for n in (1, 2):
            config = replica_config(
                f"prometheus-{n}", ROOT / "alerts" / "rules", targets, [], remote_write=victoria
            )
            config["global"].update(
                scrape_interval=f"{SCRAPE_SECONDS}s", evaluation_interval=f"{SCRAPE_SECONDS}s"
            )
            for job in config["scrape_configs"]:
                job["scrape_timeout"] = "10s"
            config["scrape_configs"].append({"job_name": "prometheus", "static_configs": [{"targets": []}]})
            prom_port = free_port()
            config["scrape_configs"][-1]["static_configs"][0]["targets"] = [f"127.0.0.1:{prom_port}"]
            path = tmp / f"prometheus-{n}.yml"
            path.write_text(yaml.safe_dump(config))
            replicas.append(f"http://127.0.0.1:{prom_port}")
            stack.enter_context(
                serving(
                    [
                        PROMETHEUS,
                        f"--config.file={path}",
                        f"--storage.tsdb.path={tmp / f'p{n}'}",
                        f"--web.listen-address=127.0.0.1:{prom_port}",
                    ],
                    f"{replicas[-1]}/-/ready",
                )
            )
        print(
            f"{args.hosts} exporters x {args.domains} replayed domains + 1 host exporter; "
            f"2 replicas every {SCRAPE_SECONDS}s; running {args.minutes:g} min",
            flush=True,
        )
        time.sleep(args.minutes * 60)
        prom = replicas[0]
        plain, zipped, series = sizes(f"http://127.0.0.1:{ports[0]}/metrics")
        host_plain, host_zipped, host_series = sizes(f"http://127.0.0.1:{host_port}/metrics")
        appended = query(prom, "rate(prometheus_tsdb_head_samples_appended_total[1m])")
        head = query(prom, "prometheus_tsdb_head_series")
        rss = query(prom, 'process_resident_memory_bytes{job="prometheus"}')
        remote = query(prom, "rate(prometheus_remote_storage_bytes_total[1m])") or query(
            prom, "rate(prometheus_remote_storage_sent_bytes_total[1m])"
        )
        groups = json.loads(urllib.request.urlopen(f"{prom}/api/v1/rules", timeout=30).read())["data"][
            "groups"
        ]
        scrape_ms = query(prom, 'avg(scrape_duration_seconds{job="kvm-exporter"})') * 1000
        stored = query(victoria, 'sum(vm_rows{type=~"storage/.*"})') or 0
        vm_bytes = sum(f.stat().st_size for f in (tmp / "vm").rglob("*") if f.is_file())
        vm_rows = query(victoria, 'count({__name__=~".+"})')
        print(
            f"per exporter ({args.domains} domains): {series} series, {plain / 1024:.0f} KiB plain, "
            f"{zipped / 1024:.0f} KiB gzip per scrape, scrape {scrape_ms:.0f} ms"
        )
        print(
            f"host-level collectors: {host_series} series, {host_plain / 1024:.0f} KiB plain, "
            f"{host_zipped / 1024:.0f} KiB gzip"
        )
        print(
            f"one replica: {appended:.0f} samples/s appended, {head:.0f} head series, "
            f"RSS {rss / 2**20:.0f} MiB, remote write {remote / 1024:.1f} KiB/s"
        )
        for group in sorted(groups, key=lambda g: -g["evaluationTime"]):
            print(f"  rule group {group['name']}: {group['evaluationTime'] * 1000:.1f} ms")
        rules = sorted(((r["evaluationTime"], r["name"]) for g in groups for r in g["rules"]), reverse=True)
        costliest = ", ".join(f"{name} {seconds * 1000:.0f} ms" for seconds, name in rules[:8])
        print(f"  costliest rules: {costliest}")
        print(
            f"VictoriaMetrics: {vm_rows:.0f} series, data dir {vm_bytes / 2**20:.1f} MiB after "
            f"{args.minutes:g} min (unmerged parts), rows {stored:.0f}"
        )
        per_host_series = series + host_series
        bytes_per_series = max(rss - 60 * 2**20, 0) / max(head, 1)
        remote_per_host = remote / (args.hosts + 1)
        print(
            "\n| hypervisors (50 VMs each) | active series | samples/s per replica | Prometheus memory | "
            "disk per day per replica (1.5 B/sample) | remote write per replica |"
        )
        print("|---|---|---|---|---|---|")
        for hosts in (100, 1000, 10000):
            active = hosts * per_host_series
            rate = active / SCRAPE_SECONDS
            print(
                f"| {hosts:,} | {active / 1e6:.1f} M | {rate / 1e3:.0f} k | "
                f"{active * bytes_per_series / 2**30:.1f} GiB | {rate * 86400 * 1.5 / 2**30:.0f} GiB | "
                f"{hosts * remote_per_host * 8 / 1e6:.1f} Mbit/s |"
            )
        print(
            f"\n(per host: {per_host_series} series; {bytes_per_series:.0f} B of Prometheus RSS per head "
            f"series measured; remote write {remote_per_host / 1024:.1f} KiB/s per host)"
        )
        os.sync()


if __name__ == "__main__":
    main()

"""kvm-remediator benchmark: notification -> action start latency at a steady rate, and RSS.

    python benchmarks/remediator_bench.py [--rate 100] [--seconds 10] [--duplicates 4]

Starts the real kvm-remediator (enforce mode) with one `exec` playbook whose program only
records the time it started, then POSTs version 4 webhook notifications at `--rate` per
second from a few client threads: each notification a new alert (a new target), followed by
`--duplicates` copies of it (Alertmanager's repeats, an HA pair's twin), which must not act.
Prints the latency from the notification's send to its action's program start (p50, p99,
max), the program's own start cost measured alone, the HTTP answer time, the actions run
against the notifications sent, and the remediator's RSS before and after. Numbers are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from support.remediator import alert, payload, remediator
from support.scrape import get

STAMP = "#!/bin/sh\ndate +%s.%N > \"$(dirname \"$0\")/stamps/$1\"\n"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--duplicates", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "stamps").mkdir()
        stamp = tmp / "stamp"
        stamp.write_text(STAMP)
        stamp.chmod(0o755)
        alone = []
        for n in range(50):
            begin = time.time()
            subprocess.run([str(stamp), f"alone-{n}"], check=True)
            alone.append(float((tmp / "stamps" / f"alone-{n}").read_text()) - begin)
        config = tmp / "config.yml"
        config.write_text(yaml.safe_dump({
            "limits": {"concurrency": 8, "queue": 10_000, "host_actions_per_hour": 1_000_000,
                       "global_actions_per_hour": 1_000_000},
            "playbooks": [{"name": "stamp", "matchers": ['alertname="VmConfigDrift"'], "action": "exec",
                           "command": [str(stamp), "{domain}"]}]}))
        instance = "bench:9978"
        with remediator(tmp, "--mode=enforce", f"--instance={instance}", config=config) as rem:
            process = psutil.Process(rem.process.pid)
            rss_before = process.memory_info().rss
            total = int(args.rate * args.seconds)
            sent: dict[str, float] = {}
            answers: list[float] = []
            lock = threading.Lock()
            start = time.monotonic()
            wall = time.time() - start

            def send(index: int) -> None:
                name = f"vm-{index}"
                body = payload(alert("VmConfigDrift", {"instance": instance, "domain": name}))
                for copy in range(1 + args.duplicates):
                    begin = time.monotonic()
                    if copy == 0:
                        with lock:
                            sent[name] = wall + begin
                    rem.post(body)
                    with lock:
                        answers.append(time.monotonic() - begin)

            threads: list[threading.Thread] = []
            for index in range(total):
                due = start + index / args.rate
                time.sleep(max(0.0, due - time.monotonic()))
                thread = threading.Thread(target=send, args=(index,))
                thread.start()
                threads.append(thread)
            for thread in threads:
                thread.join()
            deadline = time.monotonic() + 60
            while len(list((tmp / "stamps").glob("vm-*"))) < total and time.monotonic() < deadline:
                time.sleep(0.1)
            rss_after = process.memory_info().rss
            cpu = process.cpu_times()
            acted = get(rem.metrics(), "kvm_remediator_actions_total", action="exec", result="succeeded")
        latencies = [float((tmp / "stamps" / name).read_text()) - at for name, at in sent.items()
                     if (tmp / "stamps" / name).exists()]
        ran = len(latencies)
        print(f"notifications: {total} new alerts at {args.rate:g}/s, each sent {1 + args.duplicates} times "
              f"({total * (1 + args.duplicates)} requests); actions run: {acted:g} ({ran} stamped)")
        print(f"send -> action program start: p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
              f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms")
        print(f"  of which the program's own start (run alone): p50 {statistics.median(alone) * 1000:.1f} ms")
        print(f"HTTP answer (decision audited and fsynced): p50 {percentile(answers, 0.5) * 1000:.1f} ms, "
              f"p99 {percentile(answers, 0.99) * 1000:.1f} ms")
        print(f"remediator RSS: {rss_before / 2**20:.1f} MiB before, {rss_after / 2**20:.1f} MiB after; "
              f"CPU {cpu.user + cpu.system:.2f} s in all")


if __name__ == "__main__":
    main()

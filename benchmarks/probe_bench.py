"""Do 500 probe targets stay on schedule? Two network namespaces joined by a veth pair, 500
link-local addresses on the far side; the probe collector's Prober (the exporter's own code)
runs inside the near side for `--seconds`, every target probed once a second, in each ICMP
mode. Prints, per mode: probes sent and answered per second, the jitter of each target's
send times (how far the gap between two sends of a target strays from the interval: p50, p99,
max), ticks skipped, and the CPU the prober used (a share of one core).

    .venv/bin/python benchmarks/probe_bench.py [--targets 500] [--seconds 30]    # as root
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run_prober(count: int, seconds: float, mode: str) -> None:
    from exporter.collectors.probe import DEFAULT_BUCKETS
    from exporter.collectors.probe.prober import Prober
    from exporter.collectors.probe.targets import Target

    targets = [Target(f"t{i}", f"169.254.{1 + i // 250}.{1 + i % 250}") for i in range(count)]
    prober = Prober(targets, 1.0, 1.0, DEFAULT_BUCKETS, mode)
    sends: dict[str, list[float]] = {t.name: [] for t in targets}
    original = prober.probe

    async def timed(target: Target) -> None:
        sends[target.name].append(time.monotonic())
        await original(target)

    prober.probe = timed  # type: ignore[method-assign]
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    prober.start()
    await asyncio.sleep(seconds)
    await prober.stop()
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    gaps = [abs((b - a) - 1.0) * 1000 for times in sends.values() for a, b in itertools.pairwise(times)]
    sent = sum(s.sent for s in prober.stats.values())
    received = sum(s.received for s in prober.stats.values())
    print(f"{mode:13s} {count:5d} targets  {sent / elapsed:7.1f} sent/s  "
          f"{received / elapsed:7.1f} answered/s  "
          f"jitter p50 {percentile(gaps, 0.5):6.2f} ms  p99 {percentile(gaps, 0.99):6.2f} ms  "
          f"max {max(gaps):7.2f} ms  skipped {prober.late}  CPU {cpu / elapsed:5.1%} of a core")


def outer(args: argparse.Namespace) -> None:
    from support.netns import Netns, run

    near, far = Netns("bnear"), Netns("bfar")
    try:
        run("ip", "link", "add", "kvmxtbn", "netns", near.name, "type", "veth", "peer", "kvmxtbf",
            "netns", far.name)
        near.ip("addr", "add", "169.254.0.1/16", "dev", "kvmxtbn")
        batch = "".join(f"addr add 169.254.{1 + i // 250}.{1 + i % 250}/16 dev kvmxtbf\n"
                        for i in range(args.targets))
        subprocess.run(["ip", "-n", far.name, "-batch", "-"], input=batch.encode(), check=True)
        for ns, link in ((near, "kvmxtbn"), (far, "kvmxtbf")):
            ns.ip("link", "set", link, "up")
        time.sleep(2)  # duplicate address detection, neighbour tables
        near.sysctl("net.ipv4.ping_group_range=0 2147483647")
        for mode in ("unprivileged", "raw"):
            subprocess.run(["ip", "netns", "exec", near.name, sys.executable, __file__, "--inner", mode,
                            "--targets", str(args.targets), "--seconds", str(args.seconds)], check=True)
    finally:
        near.close()
        far.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--inner", choices=("unprivileged", "raw"))
    args = parser.parse_args()
    if args.inner:
        asyncio.run(run_prober(args.targets, args.seconds, args.inner))
    else:
        outer(args)


if __name__ == "__main__":
    main()

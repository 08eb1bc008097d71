"""The probe collector (fault network_latency): latency and loss to the hosts a hypervisor
depends on, by continuous background probes (`exporter.collectors.probe.prober`): ICMP echo,
or a TCP connect for targets that filter ICMP (an iSCSI portal's 3260, libvirt's 16514).

Nothing runs unless `--probe.target` or `--probe.peers-file` names a target; then the hosts
the machine already knows join them (`--[no-]probe.auto-targets`): its default gateways and
the portals of its iSCSI node records, read at start. Per target: a round-trip-time
histogram, probes sent and answered (loss is a rule: a ratio over a window), the last RTT,
DNS failures apart, and failures by reason. A scrape only reads the counters.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from exporter.collector import register
from exporter.collectors.iscsi import NODES_DIR
from exporter.collectors.iscsi.sessions import read_node_records
from exporter.collectors.probe.prober import Prober, Stats, icmp_mode
from exporter.collectors.probe.targets import (
    Target,
    default_gateways,
    iscsi_portals,
    parse_peers,
    parse_target,
    unique,
)
from exporter.metrics import Family, counter, gauge, histogram, observe_histogram
from exporter.options import Option, duration
from exporter.settings import Settings
from exporter.shared import Shared

# smokeping_prober's default buckets: 50 us doubling to 26 s
DEFAULT_BUCKETS = tuple(5e-05 * 2**i for i in range(20))
TK = ["target", "kind"]


def parse_buckets(text: str) -> tuple[float, ...]:
    try:
        bounds = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"buckets {text!r}: seconds, comma-separated, e.g. 0.001,0.01,0.1") from None
    if not bounds or any(b <= 0 for b in bounds) or list(bounds) != sorted(set(bounds)):
        raise ValueError(f"buckets {text!r}: positive seconds in increasing order")
    return bounds


def load_peers(path: str) -> tuple[Target, ...]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"peers file {path}: {exc}") from None
    try:
        return tuple(parse_peers(text))
    except ValueError as exc:
        raise ValueError(f"peers file {path}: {exc}") from None


def known_targets(settings: Settings) -> list[Target]:
    """The default gateways and the iSCSI portals of the node records, if readable."""
    procfs = Path(settings.path_procfs)
    texts = []
    for name in ("route", "ipv6_route"):
        try:
            texts.append((procfs / "net" / name).read_text())
        except OSError:
            texts.append("")
    records = read_node_records(Path(NODES_DIR.of(settings)))
    return default_gateways(*texts) + iscsi_portals(r.portal for r in records)


def probe_families(prober: Prober) -> list[Family]:
    info = gauge("probe_target_info", "A probe target: its host, TCP port (0: ICMP echo), where it "
                 "came from (flag, peers, gateway, iscsi) and the address last probed.",
                 ["target", "kind", "host", "port", "source", "address"])
    rtt = histogram("probe_rtt_seconds", "Round-trip times of the answered probes (ICMP echo, or TCP "
                    "handshake), in seconds.", TK)
    sent = counter("probe_sent", "Probes sent to the target.", TK)
    received = counter("probe_received", "Probes the target answered within the timeout.", TK)
    last = gauge("probe_last_rtt_seconds", "Round-trip time of the target's last answered probe.", TK)
    dns = counter("probe_dns_errors", "Resolutions of the target's host name that failed (no probe "
                  "was sent).", ["target"])
    failures = counter("probe_failures", "Probes without an answer, by reason (timeout, refused, "
                       "unreachable, error).", [*TK, "reason"])
    for target in prober.targets:
        stats: Stats = prober.stats[target.name]
        key = (target.name, target.kind)
        info.add((*key, target.host, str(target.port), target.source, stats.address), 1)
        observe_histogram(rtt, key, stats.bounds, stats.counts, stats.rtt_sum)
        sent.add(key, stats.sent)
        received.add(key, stats.received)
        if stats.last_rtt is not None:
            last.add(key, stats.last_rtt)
        dns.add((target.name,), stats.dns_errors)
        for reason, count in sorted(stats.failures.items()):
            failures.add((*key, reason), count)
    mode = gauge("probe_icmp_mode", "How ICMP probes are sent: unprivileged datagram sockets "
                 "(net.ipv4.ping_group_range) or raw sockets (CAP_NET_RAW): 1 for the one in use.", ["mode"])
    mode.add((prober.mode,), 1)
    late = counter("probe_skipped_ticks", "Probe ticks skipped because the exporter was late for them "
                   "(a busy host; probes are never queued).")
    late.add((), prober.late)
    return [info, rtt, sent, received, last, dns, failures, mode, late]


class ProbeCollector:
    name = "probe"

    def __init__(self, settings: Settings) -> None:
        configured = [*TARGETS.of(settings), *PEERS_FILE.of(settings)]
        targets = unique(configured + (known_targets(settings) if configured and AUTO.of(settings) else []))
        self.prober = Prober(targets, INTERVAL.of(settings), TIMEOUT.of(settings), BUCKETS.of(settings),
                             icmp_mode(ICMP_MODE.of(settings)))
        with contextlib.suppress(RuntimeError):  # created in the app's startup: probe from now on
            asyncio.get_running_loop()
            if targets:
                self.prober.start()

    async def collect(self) -> list[Family]:
        count = gauge("probe_targets", "Targets probed, by where they came from.", ["source"])
        for source in ("flag", "peers", "gateway", "iscsi"):
            count.add((source,), sum(t.source == source for t in self.prober.targets))
        if not self.prober.targets:
            return [count]
        self.prober.start()
        return [count, *probe_families(self.prober)]

    async def close(self) -> None:
        await self.prober.stop()


TARGETS: Option[tuple[Target, ...]] = Option(
    "probe.target", (), "A target to probe (repeatable): ADDRESS, NAME=ADDRESS, tcp://HOST:PORT or "
    "NAME=tcp://HOST:PORT.", parse=parse_target, repeatable=True)  # type: ignore[arg-type]
PEERS_FILE: Option[tuple[Target, ...]] = Option(
    "probe.peers-file", (), "A file of targets, one per line (# comments), e.g. the other hypervisors "
    "of a migration group, as the fleet playbooks write it.", parse=load_peers)
AUTO = Option("probe.auto-targets", True, "With any target configured, also probe the default gateways "
              "and the iSCSI portals of the node records.")
INTERVAL = Option("probe.interval", 1.0, "How often each target is probed.", parse=duration, shown="1s")
TIMEOUT = Option("probe.timeout", 1.0, "Time a probe may wait for its answer before it is lost (at most "
                 "0.9 x the interval).", parse=duration, shown="1s")
BUCKETS = Option("probe.buckets", DEFAULT_BUCKETS, "Upper bounds of the RTT histogram's buckets, in "
                 "seconds, comma-separated.", parse=parse_buckets, shown="5e-05,0.0001,...,26.2144")
ICMP_MODE = Option("probe.icmp-mode", "auto", "unprivileged (datagram ICMP sockets, allowed by "
                   "net.ipv4.ping_group_range), raw (needs CAP_NET_RAW) or auto (unprivileged where "
                   "allowed).", choices=("auto", "unprivileged", "raw"))


@register("probe", default_enabled=True,
          options=[TARGETS, PEERS_FILE, AUTO, INTERVAL, TIMEOUT, BUCKETS, ICMP_MODE],
          description="ICMP/TCP latency and loss probes in the background (runs only with targets)")
def create(settings: Settings, _shared: Shared) -> ProbeCollector:
    return ProbeCollector(settings)

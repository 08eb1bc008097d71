"""Two network namespaces joined by a veth pair with link-local addresses, for the probe
tests (fault network_latency): the prober's side (`near`, 169.254.77.1) and the target's side
(`far`, 169.254.77.2). An exporter runs inside `near` and is scraped from inside it; loss
comes from an iptables `statistic` DROP rule on the far side, an outage from its link down."""

from __future__ import annotations

import pwd
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from support.netns import Netns, run
from support.scrape import Samples, free_port, parse_samples

NEAR, FAR = "169.254.77.1", "169.254.77.2"


class ProbeLab:
    def __init__(self) -> None:
        self.near, self.far = Netns("pnear"), Netns("pfar")
        suffix = self.near.name[-6:]
        self.near_link, self.far_link = f"kvmxtpn{suffix}", f"kvmxtpf{suffix}"
        run("ip", "link", "add", self.near_link, "netns", self.near.name, "type", "veth",
            "peer", self.far_link, "netns", self.far.name)
        self.near.ip("addr", "add", f"{NEAR}/30", "dev", self.near_link)
        self.far.ip("addr", "add", f"{FAR}/30", "dev", self.far_link)
        self.near.ip("link", "set", self.near_link, "up")
        self.far.ip("link", "set", self.far_link, "up")

    def drop(self, probability: float) -> list[str]:
        """A rule on the far side dropping that share of incoming echo requests; returns it."""
        rule = ["INPUT", "-p", "icmp", "--icmp-type", "echo-request", "-m", "statistic", "--mode",
                "random", "--probability", str(probability), "-j", "DROP"]
        self.far.exec("iptables", "-A", *rule)
        return rule

    def undrop(self, rule: list[str]) -> None:
        self.far.exec("iptables", "-D", *rule)

    def close(self) -> None:
        self.near.close()
        self.far.close()


class NamespacedExporter:
    """kvm-exporter run inside a namespace (`ip netns exec`), scraped from inside it."""

    def __init__(self, netns: Netns, *flags: str, user: str = "") -> None:
        self.netns = netns
        self.url = f"http://127.0.0.1:{free_port()}/metrics"
        listen = self.url.removeprefix("http://").removesuffix("/metrics")
        prefix = []
        if user:  # the user and its own group, no other groups
            prefix = ["setpriv", f"--reuid={user}", f"--regid={pwd.getpwnam(user).pw_gid}", "--clear-groups"]
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", netns.name, *prefix, sys.executable, "-m", "exporter",
             f"--web.listen-address={listen}", *flags],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.scrape()
                return
            except AssertionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.2)

    def scrape(self) -> Samples:
        return parse_samples(run("ip", "netns", "exec", self.netns.name, "curl", "-sf", self.url))

    def stop(self) -> str:
        self.process.terminate()
        try:
            _, stderr = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, stderr = self.process.communicate()
        return stderr.decode(errors="replace")


@contextmanager
def probe_lab() -> Iterator[ProbeLab]:
    lab = ProbeLab()
    try:
        yield lab
    finally:
        lab.close()


@contextmanager
def namespaced_exporter(netns: Netns, *flags: str, user: str = "") -> Iterator[NamespacedExporter]:
    running = NamespacedExporter(netns, *flags, user=user)
    try:
        yield running
    finally:
        running.stop()

"""Scrape helpers: parse exposition text into {(name, labels): value}."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_samples(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def get(samples: Samples, name: str, /, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def series(samples: Samples, name: str, /, **labels: str) -> list[dict[str, str]]:
    """Label sets of every series of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return [dict(lbls) for n, lbls in samples if n == name and wanted <= lbls]


def wait_until(scrape: Callable[[], Samples], ready: Callable[[Samples], object],
               seconds: float = 20) -> Samples:
    """Scrape until `ready(samples)` holds or `seconds` pass; the last samples either way
    (the caller's assertions then say what is missing)."""
    deadline = time.monotonic() + seconds
    while True:
        samples = scrape()
        if ready(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.2)


def only(*collectors: str) -> tuple[str, ...]:
    """Flags that turn on these collectors and no other (the one list of collectors is the
    exporter's own registry, which --collector.disable-defaults consults)."""
    return ("--collector.disable-defaults", *(f"--collector.{name}" for name in collectors))


def free_port() -> int:
    """A free TCP port on loopback for a process the test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(command: Sequence[str], ready_url: str, seconds: float = 30,
            env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server process, wait until `ready_url` answers, stop it by its pid afterwards."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                urllib.request.urlopen(ready_url, timeout=2).close()
                break
            except OSError:
                if process.poll() is not None:
                    stderr = process.stderr.read().decode() if process.stderr else ""
                    raise AssertionError(f"{command[0]} exited: {stderr}") from None
                assert time.monotonic() < deadline, f"{command[0]} did not answer {ready_url}"
                time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        process.wait(10)


@dataclass
class Exporter:
    url: str
    process: subprocess.Popen[bytes]

    def scrape(self) -> Samples:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=30) as response:
            return parse_samples(response.read().decode())

    def stderr_after_exit(self) -> str:
        self.process.terminate()
        _, stderr = self.process.communicate(timeout=10)
        return stderr.decode()


@contextmanager
def exporter(*flags: str, env: dict[str, str] | None = None) -> Iterator[Exporter]:
    """The real kvm-exporter process on a free loopback port, with `flags`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "exporter", f"--web.listen-address=127.0.0.1:{port}", *flags]
    with serving(command, f"{url}/-/ready", env=env) as process:
        yield Exporter(url, process)

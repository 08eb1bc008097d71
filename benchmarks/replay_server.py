"""Serve the exporter with its libvirt source replaced by N domains replayed from real records.

    python benchmarks/replay_server.py PORT N

Every scrape runs the real collector path (families from the snapshot, exposition, gzip
when asked); only the libvirt calls are replaced, by records captured from real QEMU
domains (tests/fixtures/libvirt/recorded-qemu-7.2.json), renamed to N distinct domains.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from aiohttp import web

from exporter.collectors.libvirt import LibvirtCollector
from exporter.collectors.process import ProcessCollector
from exporter.http import create_app
from exporter.libvirt.domxml import parse_domain_xml
from exporter.libvirt.snapshot import DomainRecord, HostInfo, LibvirtSnapshot
from exporter.settings import Settings

FIXTURE = Path(__file__).parent.parent / "tests/fixtures/libvirt/recorded-qemu-7.2.json"
HOST = HostInfo("x86_64", 256, 2400, 2, 2, 64, 2, 2**40, 2**39, "9.0.0", "QEMU", "7.2.0")


class ReplaySource:
    def __init__(self, count: int) -> None:
        recorded = json.loads(FIXTURE.read_text())["domains"]
        self.domains = []
        for index in range(count):
            d = recorded[index % len(recorded)]
            self.domains.append(DomainRecord(
                name=f"{d['name']}-{index:04d}", uuid=f"{index:08x}{d['uuid'][8:]}",
                stats=dict(d["stats"]), autostart=d["autostart"], persistent=d["persistent"],
                xml=parse_domain_xml(d["xml"])))

    async def fetch(self) -> LibvirtSnapshot:
        return LibvirtSnapshot(up=True, host=HOST, domains=list(self.domains))

    async def close(self) -> None:
        return None


def main() -> None:
    port, count = int(sys.argv[1]), int(sys.argv[2])
    collectors = [LibvirtCollector(ReplaySource(count)), ProcessCollector()]  # type: ignore[arg-type]
    app = create_app(Settings(collectors=frozenset({"libvirt", "process"})), collectors)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()

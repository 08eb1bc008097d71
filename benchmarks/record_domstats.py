"""Record real bulk-stats records (and domain XML) from a libvirtd into a JSON fixture.

    python benchmarks/record_domstats.py qemu:///system tests/fixtures/libvirt/recorded.json [NAME...]

The file holds what `virDomainListGetStats` returned for each domain, unchanged, so tests
and the replay benchmark run the exporter's parsers on exactly what libvirt produced.
"""

from __future__ import annotations

import json
import sys

import libvirt

from exporter.libvirt.source import STATS_GROUPS


def record(uri: str, names: list[str]) -> dict[str, object]:
    conn = libvirt.openReadOnly(uri)
    domains = [conn.lookupByName(n) for n in names] if names else conn.listAllDomains(0)
    # cpu-total as well: the exporter merges the same keys in from virDomainGetCPUStats.
    records = conn.domainListGetStats(domains, STATS_GROUPS | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL, 0)
    return {
        "libvirt_version": conn.getLibVersion(),
        "hypervisor_version": conn.getVersion(),
        "domains": [
            {
                "name": dom.name(),
                "uuid": dom.UUIDString(),
                "autostart": bool(dom.autostart()),
                "persistent": bool(dom.isPersistent()),
                "stats": stats,
                "xml": dom.XMLDesc(0),
            }
            for dom, stats in records
        ],
    }


def main() -> None:
    uri, out, *names = sys.argv[1:]
    with open(out, "w") as handle:
        json.dump(record(uri, names), handle, indent=1, sort_keys=True)
        handle.write("\n")


if __name__ == "__main__":
    main()

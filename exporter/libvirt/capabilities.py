"""What libvirt's capabilities XML says about KVM (readable on a read-only connection,
unlike virConnectGetDomainCapabilities)."""

from __future__ import annotations

import xml.etree.ElementTree as ET


def kvm_usable(capabilities_xml: str) -> bool:
    """Whether libvirt offers `<domain type='kvm'>` for a guest of the host's own architecture.

    libvirt lists the kvm domain type only when /dev/kvm is usable by its QEMU binaries.
    Raises ValueError if the document is not well-formed.
    """
    try:
        root = ET.fromstring(capabilities_xml)
    except ET.ParseError as exc:
        raise ValueError(f"capabilities XML: {exc}") from exc
    host_arch = root.findtext("host/cpu/arch")
    for guest in root.iterfind("guest"):
        arch = guest.find("arch")
        if arch is None or (host_arch and arch.get("name") != host_arch):
            continue
        if any(domain.get("type") == "kvm" for domain in arch.iterfind("domain")):
            return True
    return False

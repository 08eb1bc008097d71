"""Pure parser of libvirt domain XML into the descriptive data of the info metrics."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

NOVA_NAMESPACES = (
    "http://openstack.org/xmlns/libvirt/nova/1.1",
    "http://openstack.org/xmlns/libvirt/nova/1.0",
)


@dataclass(frozen=True, slots=True)
class DiskInfo:
    target: str
    device: str = ""
    bus: str = ""
    source_type: str = ""
    source: str = ""
    protocol: str = ""
    driver_type: str = ""
    cache: str = ""
    serial: str = ""
    # `<iotune>` limits set on the disk (`virsh blkdeviotune`): e.g. total_iops_sec -> 200
    iotune: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class InterfaceInfo:
    target: str
    mac: str = ""
    type: str = ""
    source_bridge: str = ""
    source_network: str = ""
    model: str = ""


@dataclass(frozen=True, slots=True)
class NovaInfo:
    name: str = ""
    flavor: str = ""
    project_name: str = ""
    project_uuid: str = ""
    user_name: str = ""
    user_uuid: str = ""


@dataclass(frozen=True, slots=True)
class CpuPinning:
    """Host CPU sets from `<vcpu cpuset>` and `<cputune>`, as libvirt writes them ("0-3,^2").
    `vcpus` holds every vCPU with a set of its own or the domain default; an empty map means
    the vCPUs may run anywhere."""

    vcpus: tuple[tuple[int, str], ...] = ()
    emulator: str = ""
    iothreads: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class DomainXMLInfo:
    os_type: str = ""
    arch: str = ""
    machine: str = ""
    nova: NovaInfo | None = None
    disks: tuple[DiskInfo, ...] = field(default_factory=tuple)
    interfaces: tuple[InterfaceInfo, ...] = field(default_factory=tuple)
    balloon_period: int = 0  # seconds between the guest's memory statistics (0: none)
    pinning: CpuPinning | None = None
    blkio_weight: int | None = None  # `<blkiotune><weight>`: the domain's share of host disk time

    @property
    def disk_targets(self) -> frozenset[str]:
        return frozenset(d.target for d in self.disks)

    @property
    def interface_targets(self) -> frozenset[str]:
        return frozenset(i.target for i in self.interfaces if i.target)


def parse_root(text: str, tag: str) -> ET.Element:
    """The root element of a libvirt XML document whose root must be `<tag>`; ValueError if
    the text does not parse or has another root."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"{tag} XML does not parse: {exc}") from exc
    if root.tag != tag:
        raise ValueError(f"expected a <{tag}> document, got <{root.tag}>")
    return root


def parse_domain_xml(text: str) -> DomainXMLInfo:
    """Parse `virDomainGetXMLDesc` output; raise ValueError if it is not domain XML."""
    root = parse_root(text, "domain")
    os_type = root.find("os/type")
    return DomainXMLInfo(
        os_type=(os_type.text or "").strip() if os_type is not None else "",
        arch=os_type.get("arch", "") if os_type is not None else "",
        machine=os_type.get("machine", "") if os_type is not None else "",
        nova=_parse_nova(root),
        disks=tuple(_parse_disk(d) for d in root.iterfind("devices/disk")),
        interfaces=tuple(_parse_interface(i) for i in root.iterfind("devices/interface")),
        balloon_period=_balloon_period(root),
        pinning=_parse_pinning(root),
        blkio_weight=_int_text(root.find("blkiotune/weight")),
    )


def _number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None


def _int_text(element: ET.Element | None) -> int | None:
    return _number((element.text or "").strip()) if element is not None else None


def _parse_pinning(root: ET.Element) -> CpuPinning | None:
    vcpu = root.find("vcpu")
    default = _attr(vcpu, "cpuset")
    count = _int_text(vcpu) or 0
    own = {_number(pin.get("vcpu", "")): pin.get("cpuset", "") for pin in root.iterfind("cputune/vcpupin")}
    own.pop(None, None)
    vcpus = {n: own.get(n, default) for n in range(count) if own.get(n, default)}
    vcpus.update((n, cpuset) for n, cpuset in own.items() if n is not None and n >= count and cpuset)
    iothreads = tuple(sorted((n, pin.get("cpuset", "")) for pin in root.iterfind("cputune/iothreadpin")
                             if (n := _number(pin.get("iothread", ""))) is not None and pin.get("cpuset")))
    emulator = _attr(root.find("cputune/emulatorpin"), "cpuset")
    if not (vcpus or iothreads or emulator):
        return None
    return CpuPinning(tuple(sorted(vcpus.items())), emulator, iothreads)


def _balloon_period(root: ET.Element) -> int:
    """`<memballoon><stats period='10'/>`: how often the guest reports its memory statistics."""
    period = _attr(root.find("devices/memballoon/stats"), "period")
    return int(period) if period.isascii() and period.isdigit() else 0


def _attr(element: ET.Element | None, name: str) -> str:
    return element.get(name, "") if element is not None else ""


def _parse_disk(disk: ET.Element) -> DiskInfo:
    source = disk.find("source")
    source_type = disk.get("type", "")
    protocol = _attr(source, "protocol")
    if source_type == "network":
        location = _attr(source, "name")
    elif source_type == "volume":
        location = f"{_attr(source, 'pool')}/{_attr(source, 'volume')}"
    else:
        location = _attr(source, "file") or _attr(source, "dev") or _attr(source, "dir")
    driver = disk.find("driver")
    serial = disk.find("serial")
    return DiskInfo(
        target=_attr(disk.find("target"), "dev"),
        device=disk.get("device", "disk"),
        bus=_attr(disk.find("target"), "bus"),
        source_type=source_type,
        source=location,
        protocol=protocol,
        driver_type=_attr(driver, "type"),
        cache=_attr(driver, "cache"),
        serial=(serial.text or "").strip() if serial is not None else "",
        iotune=_iotune(disk.find("iotune")),
    )


def _iotune(element: ET.Element | None) -> tuple[tuple[str, int], ...]:
    """The numeric limits of `<iotune>` that are set (libvirt writes only those, as integers)."""
    if element is None:
        return ()
    limits = ((child.tag, _int_text(child)) for child in element)
    return tuple(sorted((tag, value) for tag, value in limits if value))


def _parse_interface(interface: ET.Element) -> InterfaceInfo:
    source = interface.find("source")
    return InterfaceInfo(
        target=_attr(interface.find("target"), "dev"),
        mac=_attr(interface.find("mac"), "address"),
        type=interface.get("type", ""),
        source_bridge=_attr(source, "bridge"),
        source_network=_attr(source, "network"),
        model=_attr(interface.find("model"), "type"),
    )


def _parse_nova(root: ET.Element) -> NovaInfo | None:
    for namespace in NOVA_NAMESPACES:
        instance = root.find(f"metadata/{{{namespace}}}instance")
        if instance is None:
            continue

        def text(path: str, ns: str = namespace, node: ET.Element = instance) -> str:
            found = node.find(path.replace("nova:", f"{{{ns}}}"))
            return (found.text or "").strip() if found is not None else ""

        user = instance.find(f"{{{namespace}}}owner/{{{namespace}}}user")
        project = instance.find(f"{{{namespace}}}owner/{{{namespace}}}project")
        return NovaInfo(
            name=text("nova:name"),
            flavor=_attr(instance.find(f"{{{namespace}}}flavor"), "name"),
            project_name=(project.text or "").strip() if project is not None else "",
            project_uuid=_attr(project, "uuid"),
            user_name=(user.text or "").strip() if user is not None else "",
            user_uuid=_attr(user, "uuid"),
        )
    return None

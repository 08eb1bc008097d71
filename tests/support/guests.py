"""Tiny guests and domain XML for tests against a real libvirtd.

No OS image is downloaded: the boot disk holds a 512-byte x86 real-mode program that
SeaBIOS boots. `halt` idles the vCPU (HLT forever) so many KVM domains stay cheap; `spin`
keeps it busy;
`disk_io` loops reading sector 2 and writing sector 3 through BIOS int 13h (which
SeaBIOS turns into virtio-blk requests), halting until the next timer tick between
rounds, so the domain's block counters really move.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

SECTOR = 512
BOOT_SIGNATURE = b"\x55\xaa"

HALT = bytes([0xFA, 0xF4, 0xEB, 0xFD])  # cli; hlt; jmp $-1 (back to hlt)
SPIN = bytes([0xFA, 0xEB, 0xFE])  # cli; jmp $ (a vCPU always runnable, a CPU hog)

_SETUP = bytes([
    0xFA,                    # cli
    0x31, 0xC0,              # xor ax, ax
    0x8E, 0xD8,              # mov ds, ax
    0x8E, 0xC0,              # mov es, ax
    0x8E, 0xD0,              # mov ss, ax
    0xBC, 0x00, 0x7C,        # mov sp, 0x7c00
    0x88, 0x16, 0x00, 0x7E,  # mov [0x7e00], dl   (boot drive from the BIOS)
    0xFB,                    # sti
])


def _int13(function: int, sector: int) -> bytes:
    return bytes([
        0xB8, 0x01, function,    # mov ax, (function << 8) | 1 sector
        0xB9, sector, 0x00,      # mov cx, sector (cylinder 0)
        0xB6, 0x00,              # mov dh, 0 (head 0)
        0x8A, 0x16, 0x00, 0x7E,  # mov dl, [0x7e00]
        0xBB, 0x00, 0x80,        # mov bx, 0x8000 (buffer)
        0xCD, 0x13,              # int 0x13
    ])


def _disk_io_program(write_sector: int = 3) -> bytes:
    body = _int13(0x02, 2) + _int13(0x03, write_sector) + bytes([0xF4])  # read, write, hlt
    jump_back = -(len(body) + 2)
    return _SETUP + body + bytes([0xEB, jump_back & 0xFF])


DISK_IO = _disk_io_program()
# The same, writing CHS sector 9: the first byte of the disk's second 4 KiB page, a hole in a
# sparse image (a full filesystem under it makes that first write fail with ENOSPC).
DISK_IO_SECOND_PAGE = _disk_io_program(write_sector=9)

# Polls sector 2 through int 13h every timer tick until its first byte is 0x42 (the test
# writes it into the image), then enters 32-bit protected mode with a flat data segment and
# writes one byte per 4 KiB page from 1 MiB to 64 MiB: the guest suddenly needs ~63 MiB of
# host memory. Assembled with GNU as (.code16 ... lgdtl; ljmpl $0x08, pm; .code32 ...);
# the GDT (null, flat code 0x00CF9A000000FFFF, flat data 0x00CF92000000FFFF) sits at +0x60.
TOUCH_64M_ON_SIGNAL = bytes.fromhex(
    "fa31c08ed88ec08ed0bc007c881600 7efbf4b80102b90200b6008a16007ebb"
    "0080cd13803e00804275e7fa660f0116787c0f20c00c010f22c066ea417c0000"
    "0800 66b810008ed8bf00001000c60701 81c70010000081ff000000 0472eff4ebfd"
    "0000000000000000ffff0000009acf00ffff00000092cf001700607c0000".replace(" ", "")
)
TOUCH_SIGNAL_OFFSET = SECTOR  # CHS sector 2 is the second sector of the disk


def file_disk(path: Path | str, target: str, fmt: str = "qcow2") -> str:
    """A second disk for `extra_devices`."""
    return (f"<disk type='file' device='disk'><driver name='qemu' type='{fmt}'/>"
            f"<source file='{escape(str(path))}'/><target dev='{target}' bus='virtio'/></disk>")


def boot_image(path: Path, program: bytes, size: int = 1024 * 1024) -> Path:
    sector = program.ljust(SECTOR - len(BOOT_SIGNATURE), b"\0") + BOOT_SIGNATURE
    path.write_bytes(sector + bytes(size - SECTOR))
    return path


def domain_xml(
    name: str,
    disk: Path,
    *,
    virt_type: str = "kvm",
    memory_mib: int = 64,
    vcpus: int = 1,
    bridge: str | None = None,
    tap: str | None = None,
    title: str = "",
    extra_devices: str = "",
    iothreads: int = 0,
) -> str:
    nic = ""
    if bridge:
        target = f"<target dev='{tap}'/>" if tap else ""
        nic = (f"<interface type='bridge'><source bridge='{bridge}'/>{target}"
               "<model type='virtio'/></interface>")
    return f"""<domain type='{virt_type}'>
  <name>{escape(name)}</name>
  <title>{escape(title)}</title>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>{vcpus}</vcpu>
  {f"<iothreads>{iothreads}</iothreads>" if iothreads else ""}
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source file='{escape(str(disk))}'/>
      <target dev='vda' bus='virtio'/>
      <serial>kvmx-{abs(hash(name)) % 10**8}</serial>
    </disk>
    {nic}
    {extra_devices}
    <memballoon model='virtio'><stats period='2'/></memballoon>
  </devices>
</domain>"""

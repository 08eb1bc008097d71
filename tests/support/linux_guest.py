"""A small Linux guest with a real QEMU guest agent, for TCG domains (the KVM here is PVM
based and boots no stock kernel): Debian's cloud kernel, busybox-static and qemu-guest-agent
fetched with `apt-get download` (the package registry; nothing is installed), qemu-ga's
shared libraries copied from this Debian host, all in an initramfs whose init loads the
virtio modules, mounts an ext4 data disk at /data, sets hostname `kvmx-guest` and runs
qemu-ga on the agent's virtio port. Built once per machine into CACHE.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import tempfile
from pathlib import Path

CACHE = Path("/var/lib/libvirt/images/kvm-exporter-linux-guest")
MODULES = ("virtio/virtio_ring", "virtio/virtio", "virtio/virtio_pci_legacy_dev",  # in load order
           "virtio/virtio_pci_modern_dev", "virtio/virtio_pci", "char/virtio_console", "block/virtio_blk")
APPLETS = ("sh", "mount", "insmod", "mkdir", "sleep", "cat", "ls", "basename", "hostname", "echo", "ip")
INIT = """#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in {modules}; do insmod /lib/modules/$m.ko; done
sleep 1
mount -t ext4 /dev/vda /data || echo "kvmx: no data disk"
hostname kvmx-guest
ip link set lo up
for p in /sys/class/virtio-ports/*; do
  [ "$(cat $p/name)" = org.qemu.guest_agent.0 ] && port=$(basename $p)
done
echo "kvmx: agent on /dev/$port"
exec /usr/sbin/qemu-ga -m virtio-serial -p /dev/$port -t /run
"""


def _run(*argv: str, cwd: Path | None = None) -> str:
    return subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True).stdout


def kernel_package() -> str:
    for line in _run("apt-cache", "depends", "linux-image-cloud-amd64").splitlines():
        if line.strip().startswith("Depends: linux-image-"):
            return line.split(":", 1)[1].strip()
    raise RuntimeError("apt-cache knows no linux-image-cloud-amd64 (run apt-get update)")


def _newc(root: Path) -> bytes:
    """The initramfs as a newc cpio archive (busybox's cpio writes it)."""
    listing = "\n".join(sorted(str(p.relative_to(root)) for p in root.rglob("*"))) + "\n"
    return subprocess.run([str(root / "bin" / "busybox"), "cpio", "-o", "-H", "newc"], cwd=root,
                          input=listing.encode(), check=True, capture_output=True).stdout


def build() -> tuple[Path, Path]:
    """(vmlinuz, initrd.gz), built once."""
    kernel_name = kernel_package()
    target = CACHE / kernel_name
    vmlinuz, initrd = target / "vmlinuz", target / "initrd.gz"
    if vmlinuz.exists() and initrd.exists():
        return vmlinuz, initrd
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        _run("apt-get", "download", kernel_name, "busybox-static", "qemu-guest-agent", cwd=work)
        for deb in work.glob("*.deb"):
            _run("dpkg-deb", "-x", str(deb), str(work / "x"))
        extracted, root = work / "x", work / "root"
        for directory in ("bin", "usr/sbin", "lib/modules", "lib64", "lib/x86_64-linux-gnu", "etc",
                          "proc", "sys", "dev", "run", "tmp", "data"):
            (root / directory).mkdir(parents=True, exist_ok=True)
        shutil.copy(extracted / "bin" / "busybox", root / "bin" / "busybox")
        for applet in APPLETS:
            (root / "bin" / applet).symlink_to("busybox")
        agent = extracted / "usr" / "sbin" / "qemu-ga"
        shutil.copy(agent, root / "usr" / "sbin" / "qemu-ga")
        for line in _run("ldd", str(agent)).splitlines():
            if "=>" in line and "/" in line.split("=>", 1)[1]:
                shutil.copy(line.split("=>", 1)[1].split()[0], root / "lib" / "x86_64-linux-gnu")
        shutil.copy("/lib64/ld-linux-x86-64.so.2", root / "lib64")
        modules = next((extracted / "lib" / "modules").iterdir()) / "kernel" / "drivers"
        for module in MODULES:
            shutil.copy(modules / f"{module}.ko", root / "lib" / "modules")
        shutil.copy("/etc/os-release", root / "etc" / "os-release")
        init = root / "init"
        init.write_text(INIT.format(modules=" ".join(m.split("/")[1] for m in MODULES)))
        init.chmod(0o755)
        target.mkdir(parents=True, exist_ok=True)
        CACHE.chmod(0o755)
        target.chmod(0o755)
        initrd.write_bytes(gzip.compress(_newc(root), 1))
        shutil.copy(next((extracted / "boot").glob("vmlinuz-*")), vmlinuz)
    return vmlinuz, initrd


def data_disk(path: Path) -> Path:
    """A 32 MiB ext4 image the guest mounts at /data."""
    with path.open("wb") as image:
        image.truncate(32 << 20)
    _run("mkfs.ext4", "-q", "-F", str(path))
    return path


def domain_xml(name: str, vmlinuz: Path, initrd: Path, disk: Path, console: Path) -> str:
    return f"""<domain type='qemu'><name>{name}</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>{vmlinuz}</kernel><initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 rdinit=/init quiet</cmdline></os>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{disk}'/>
      <target dev='vda' bus='virtio'/></disk>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <serial type='file'><source path='{console}'/><target port='0'/></serial>
  </devices></domain>"""

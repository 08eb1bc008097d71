"""The config collector: libvirt's conf syntax on the files libvirt ships, corrupt copies of
a config dir reported per file, content changes counted, and real domain definitions
edited behind libvirt's back reported as drift.

Faults: config_corruption.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import libvirt
import pytest
from support.domstats_fixtures import FIXTURES
from support.scrape import exporter, get, only

from exporter.collectors.config import ConfigSnapshot, config_families
from exporter.collectors.config.files import (
    ConfigWatcher,
    ConfSyntaxError,
    normalized_domain_xml,
    parse_libvirt_conf,
)

CONFIG = FIXTURES / "libvirt-config"
CONFIG_ONLY = only("config")


def uncomment_examples(text: str) -> str:
    """Turn libvirt's commented-out examples (`#key = value`, lists over several lines) on."""
    out, open_brackets = [], 0
    for line in text.splitlines():
        if open_brackets or re.match(r"#\s?[a-z_]+ = ", line):
            line = line.lstrip("#")
            open_brackets += line.count("[") - line.count("]")
        out.append(line)
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("name", ["qemu.conf", "libvirtd.conf", "virtlogd.conf"])
def test_every_example_libvirt_ships_parses(name: str) -> None:
    settings = parse_libvirt_conf(uncomment_examples((CONFIG / name).read_text()))
    assert len(settings) >= 5
    if name == "qemu.conf":
        assert settings["cgroup_device_acl"] == ["/dev/null", "/dev/full", "/dev/zero", "/dev/random",
                                                 "/dev/urandom", "/dev/ptmx", "/dev/kvm"]
        assert settings["vnc_listen"] == "0.0.0.0"


def test_the_hosts_own_libvirt_confs_parse() -> None:
    confs = sorted(Path("/etc/libvirt").glob("*.conf"))
    if not confs:
        pytest.skip("no /etc/libvirt here")
    for conf in confs:
        parse_libvirt_conf(conf.read_text())


@pytest.mark.parametrize(("text", "error"), [
    ('user = root\n', "line 1: expected a quoted string"),
    ('# comment\n\nuser "qemu"\n', "line 3: expected '=' after a setting name, found a quote at column 6"),
    ('ok = 1\nlist = [ "a", "b"\n', "line 2: a list opened here is never closed"),
    ('l = [ "a" "b" ]\n', "line 1: expected ',' or ']' in a list, found a quote at column 11"),
    ('name = "unterminated\n', "line 1: expected a quoted string"),
    ('x = 1 2\n', "line 1: expected the end of the line after the value of 'x', found a digit at column 7"),
    ('= 3\n', "line 1: expected a setting name"),
])
def test_conf_errors_name_the_line(text: str, error: str) -> None:
    with pytest.raises(ConfSyntaxError, match=re.escape(error)):
        parse_libvirt_conf(text)


@pytest.mark.parametrize("text", [
    "vnc_password = SECRET123CONF\n", "spice_password = 'SECRET123CONF\n", "a = 1 SECRET123CONF\n",
    "l = [ 1 SECRET123CONF ]\n", "SECRET123CONF\n", "x = [ SECRET123CONF\n",
])
def test_conf_errors_never_echo_the_text(text: str) -> None:
    """A value left unquoted may be a password: the error says where, never what."""
    with pytest.raises(ConfSyntaxError) as raised:
        parse_libvirt_conf(text)
    assert "SECRET" not in str(raised.value) and "CONF" not in str(raised.value)


def test_conf_values() -> None:
    text = 'a = 1 # c\nb = -2\nc = \'x\'\nd = """multi\nline"""\ne = [ 1, "z", ]\nf = []\n'
    assert parse_libvirt_conf(text) == {
        "a": 1, "b": -2, "c": "x", "d": "multi\nline", "e": [1, "z"], "f": []}


def test_normalized_xml_ignores_layout_comments_and_hidden_secrets() -> None:
    a = ("<!-- generated --><domain type='kvm'><name>a</name>"
         "<devices><graphics type='vnc' passwd='s'/></devices></domain>")
    b = ('<domain type="kvm">\n  <name>a</name>\n  <devices>\n    <graphics type="vnc"/>\n'
         "  </devices>\n</domain>")
    assert normalized_domain_xml(a) == normalized_domain_xml(b)
    assert normalized_domain_xml(a) != normalized_domain_xml(b.replace("<name>a", "<name>b"))


def valid(samples: dict, path: str, kind: str) -> float | None:  # type: ignore[type-arg]
    return get(samples, "kvm_libvirt_config_file_valid", path=path, kind=kind)


def test_corrupt_copies_are_reported_per_file_and_changes_counted(tmp_path: Path) -> None:
    config = tmp_path / "libvirt"
    shutil.copytree(CONFIG, config, symlinks=True)
    with exporter(*CONFIG_ONLY, f"--libvirt.config-dir={config}") as running:
        before = running.scrape()
        assert valid(before, "qemu.conf", "conf") == 1
        assert valid(before, "qemu/networks/default.xml", "xml") == 1
        assert valid(before, "qemu/broken.xml", "xml") == 0  # shipped corrupt in the fixture
        with (config / "qemu.conf").open("a") as conf:
            conf.write('\nuser = root\n')
        network = config / "qemu" / "networks" / "default.xml"
        network.write_text(network.read_text()[:60])
        os.utime(config / "libvirtd.conf", (1_700_000_000, 1_700_000_000))  # touched, content same
        after = running.scrape()
        stderr = running.stderr_after_exit()
    assert valid(after, "qemu.conf", "conf") == 0
    assert valid(after, "qemu/networks/default.xml", "xml") == 0
    assert valid(after, "libvirtd.conf", "conf") == 1
    assert valid(after, "nwfilter/clean-traffic.xml", "xml") == 1
    changes = {path: get(after, "kvm_libvirt_config_file_changes_total", path=path)
               for path in ("qemu.conf", "qemu/networks/default.xml", "libvirtd.conf")}
    assert changes == {"qemu.conf": 1, "qemu/networks/default.xml": 1, "libvirtd.conf": 0}
    assert get(after, "kvm_libvirt_config_file_modified_time_seconds", path="libvirtd.conf") == 1_700_000_000
    assert "line 813: expected a quoted string" in stderr or "expected a quoted string" in stderr
    assert stderr.count("does not parse") == 3  # broken.xml once at start, then the two we broke


def test_missing_config_dir_fails_the_collector(tmp_path: Path) -> None:
    with exporter(*CONFIG_ONLY, f"--libvirt.config-dir={tmp_path / 'none'}") as running:
        samples = running.scrape()
    assert get(samples, "kvm_scrape_collector_success", collector="config") == 0


def test_domain_edited_behind_libvirts_back_drifts(domains) -> None:  # type: ignore[no-untyped-def]
    dom = domains.create("drift", persistent=True, start=False)
    name = dom.name()
    on_disk = Path(f"/etc/libvirt/qemu/{name}.xml")
    with exporter(*CONFIG_ONLY) as running:
        assert get(running.scrape(), "kvm_domain_config_drift", domain=name) == 0
        original = on_disk.read_text()
        on_disk.write_text(original.replace("<memory unit='KiB'>65536</memory>",
                                            "<memory unit='KiB'>131072</memory>"))
        assert get(running.scrape(), "kvm_domain_config_drift", domain=name) == 1
        on_disk.write_text(original)
        assert get(running.scrape(), "kvm_domain_config_drift", domain=name) == 0
        on_disk.write_text(original[: len(original) // 2])  # cut off: libvirt could not load it back
        corrupt = running.scrape()
        assert get(corrupt, "kvm_domain_config_drift", domain=name) == 1
        assert get(corrupt, "kvm_scrape_collector_success", collector="config") == 1
        on_disk.write_text(original)
        assert get(running.scrape(), "kvm_domain_config_drift", domain=name) == 0
        # libvirt redefines the domain: it rewrites the file itself, so no drift
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_DESCRIPTION, "changed through libvirt", None, None,
                        libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        assert get(running.scrape(), "kvm_domain_config_drift", domain=name) == 0
        on_disk.unlink()  # the file is gone, libvirt still has the domain
        assert get(running.scrape(), "kvm_domain_config_drift", domain=name) == 1
        on_disk.write_text(original)


def scan_as_nobody(directory: Path) -> dict[str, tuple[bool, str]]:
    """ConfigWatcher.scan() in a child running as nobody: path -> (readable, error)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.setgid(65534)
            os.setuid(65534)
            files = ConfigWatcher(directory).scan().files
            os.write(write_end, json.dumps({p: (f.readable, f.error) for p, f in files.items()}).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return {p: (r, e) for p, (r, e) in json.loads(data).items()}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to nobody")
def test_files_the_exporter_may_not_read_are_unreadable_not_corrupt() -> None:
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        config = Path(tmp) / "libvirt"
        shutil.copytree(CONFIG, config)
        for path in (Path(tmp), *config.rglob("*")):
            path.chmod(0o755 if path.is_dir() else 0o644)
        config.chmod(0o755)
        (config / "qemu.conf").chmod(0o600)  # as Debian ships it
        result = scan_as_nobody(config)
    assert result["qemu.conf"][0] is False and result["qemu.conf"][1].startswith("unreadable")
    assert result["libvirtd.conf"] == (True, "")
    assert result["qemu/broken.xml"][0] is True and result["qemu/broken.xml"][1].startswith("XML")
    scan = ConfigWatcher(CONFIG).scan()
    families = {f.name: f for f in config_families(ConfigSnapshot(
        [replace(scan.files["qemu.conf"], readable=False, error="unreadable: Permission denied")], {}))}
    assert families["kvm_libvirt_config_file_readable"].rows == [(("qemu.conf",), 0)]
    assert families["kvm_libvirt_config_file_valid"].rows == []

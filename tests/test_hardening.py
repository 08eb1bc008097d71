"""What a hostile client, odd names and stuck children do to the exporter. Each test keeps one
defect found by probing the exporter as an attacker and an unlucky operator would; each failed
on the code before its fix.

Faults: exporter_health.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import libvirt
import psutil
import pytest
from support.netns import Netns
from support.scrape import exporter, free_port, get, only, parse_samples, series, serving

from exporter import collectors as _registered  # noqa: F401 - registers the collectors
from exporter import commands, webconfig
from exporter.collector import LOCAL_WAIT, ThreadedCollector, in_turn
from exporter.collectors.config import DriftChecker
from exporter.collectors.storage import LibvirtStorage
from exporter.http import create_app
from exporter.libvirt.shared import SharedLibvirt
from exporter.metrics import gauge
from exporter.server import RepeatedErrorFilter
from exporter.settings import Settings
from exporter.webconfig import WebConfig

PROMTOOL = "promtool"


def basic(user: str, password: str) -> dict[str, str]:
    raw = f"{user}:{password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


class ThreadCollector(ThreadedCollector[int]):
    """Reads in the default executor, as the real collectors do."""

    name = "threaded"

    def __init__(self) -> None:
        super().__init__(lambda: 1, lambda value: [self._family(value)])

    @staticmethod
    def _family(value: int) -> Any:
        family = gauge("threaded_value", "A value read in a worker thread.")
        family.add((), value)
        return family


def auth_app(users: dict[str, bytes], headers: dict[str, str] | None = None) -> Any:
    config = WebConfig(basic_auth_users=users, headers=headers or {})
    return create_app(Settings(web_config=config, collector_timeout=30), [ThreadCollector()])


# --- 1. basic auth -------------------------------------------------------------------------

@pytest.mark.slow  # bcrypt checks of many wrong passwords
async def test_wrong_passwords_do_not_stall_authenticated_scrapes(aiohttp_client: Any) -> None:
    client = await aiohttp_client(auth_app({"prometheus": bcrypt.hashpw(b"right", bcrypt.gensalt(10))}))
    good = basic("prometheus", "right")
    assert (await client.get("/metrics", headers=good)).status == 200  # remembered from now on
    attacks = [asyncio.ensure_future(client.get("/metrics", headers=basic("prometheus", f"wrong{i}")))
               for i in range(40)]
    await asyncio.sleep(0.05)
    response = await client.get("/metrics", headers=good)
    answered_first = sum(task.done() for task in attacks)
    assert response.status == 200 and "kvm_threaded_value 1" in await response.text()
    # Before: every bcrypt ran in the executor the collectors use; the scrape queued behind them.
    assert answered_first < 10
    statuses = [(await task).status for task in attacks]
    assert set(statuses) == {401}


async def test_an_unknown_user_costs_a_bcrypt_run_like_a_wrong_password(
        aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client = await aiohttp_client(auth_app({"prometheus": bcrypt.hashpw(b"right", bcrypt.gensalt(4))}))
    runs: list[bytes] = []
    real = webconfig.bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        runs.append(hashed)
        return bool(real(password, hashed))

    monkeypatch.setattr(webconfig.bcrypt, "checkpw", counting)
    assert (await client.get("/metrics", headers=basic("nobody", "x"))).status == 401
    assert (await client.get("/metrics", headers=basic("prometheus", "x"))).status == 401
    assert len(runs) == 2  # the unknown user was checked against a dummy hash, not answered at once
    assert (await client.get("/metrics", headers=basic("nobody", "x"))).status == 401
    assert len(runs) == 2  # and the result is remembered


async def test_malformed_credentials_are_a_401_not_a_500(aiohttp_client: Any,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    client = await aiohttp_client(auth_app({"prometheus": bcrypt.hashpw(b"right", bcrypt.gensalt(4))}))
    for header in ("Basic é", "Basic ####", "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
                   "Basic", "Bearer x", "Basic " + base64.b64encode(b"nocolon").decode()):
        response = await client.get("/metrics", headers={"Authorization": header})
        assert response.status == 401, header
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []


async def test_passwords_longer_than_72_bytes_log_in(aiohttp_client: Any) -> None:
    password = "long-" * 20  # 100 bytes; bcrypt reads the first 72, as Go's and htpasswd's hashes mean
    hashed = bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(4))
    client = await aiohttp_client(auth_app({"prometheus": hashed}))
    assert (await client.get("/metrics", headers=basic("prometheus", password))).status == 200
    assert (await client.get("/metrics", headers=basic("prometheus", "long-"))).status == 401


async def test_configured_headers_are_sent_on_401_too(aiohttp_client: Any) -> None:
    app = auth_app({"prometheus": bcrypt.hashpw(b"right", bcrypt.gensalt(4))},
                   {"X-Content-Type-Options": "nosniff", "Strict-Transport-Security": "max-age=31536000"})
    client = await aiohttp_client(app)
    for headers in ({}, basic("prometheus", "wrong"), basic("prometheus", "right")):
        response = await client.get("/metrics", headers=headers)
        assert response.headers.get("X-Content-Type-Options") == "nosniff", response.status
        assert response.headers.get("Strict-Transport-Security") == "max-age=31536000"


# --- 2. file descriptors -------------------------------------------------------------------

@pytest.mark.slow
def test_idle_connections_cannot_lock_out_a_scrape() -> None:
    """1,100 idle TCP connections against a process allowed 512 open files (Go raises its soft
    limit by itself; before, Python did not and accept() failed with EMFILE, logging each)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = ["prlimit", "--nofile=512:512", sys.executable, "-m", "exporter",
               f"--web.listen-address=127.0.0.1:{port}", *only("process")]
    idle: list[socket.socket] = []
    with serving(command, f"{url}/-/ready") as process:
        try:
            for _ in range(1100):
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            with urllib.request.urlopen(f"{url}/metrics", timeout=15) as response:
                samples = parse_samples(response.read().decode())
            assert get(samples, "kvm_scrape_collector_success", collector="process") == 1
            assert (get(samples, "kvm_process_open_fds") or 0) < 512
        finally:
            for sock in idle:
                sock.close()
        process.terminate()
        _, stderr = process.communicate(timeout=15)
    assert stderr.decode().count("out of system resource") <= 1


def test_repeated_event_loop_errors_are_logged_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    handler = RepeatedErrorFilter()
    loop = asyncio.new_event_loop()
    try:
        for _ in range(10_000):
            handler(loop, {"message": "socket.accept() out of system resource",
                           "exception": OSError(24, "Too many open files")})
        handler(loop, {"message": "another error"})
    finally:
        loop.close()
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["socket.accept() out of system resource", "another error"]


# --- 3. names that are not UTF-8 -----------------------------------------------------------

def assert_promtool_clean(text: str, tmp_path: Path) -> None:
    path = tmp_path / "metrics.prom"
    path.write_text(text)
    result = subprocess.run([PROMTOOL, "check", "metrics"], stdin=path.open(), capture_output=True, text=True)
    assert "error" not in (result.stdout + result.stderr).lower(), result.stdout + result.stderr


def scrape_text(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as response:
        assert response.status == 200
        return response.read().decode("utf-8")  # strict: the output must be valid UTF-8


def test_file_names_that_are_not_utf8_become_label_values(tmp_path: Path) -> None:
    config = tmp_path / "libvirt"
    (config / "qemu").mkdir(parents=True)
    (config / os.fsdecode(b"bad\xff.conf")).write_text("x = 1\n")
    zone = tmp_path / "sys" / "class" / "thermal" / os.fsdecode(b"thermal_zone\xff")
    zone.mkdir(parents=True)
    (zone / "type").write_text("acpitz\n")
    (zone / "temp").write_text("41000\n")
    with exporter(*only("config", "thermal"), f"--libvirt.config-dir={config}", "--libvirt.uri=test:///default",
                  f"--path.sysfs={tmp_path / 'sys'}") as running:
        text = scrape_text(running.url)
        with urllib.request.urlopen(f"{running.url}/", timeout=10) as landing:
            landing.read().decode("utf-8")
    samples = parse_samples(text)
    files = [labels["path"] for labels in series(samples, "kvm_libvirt_config_file_readable")]
    assert files == ["bad\\xff.conf"]
    assert get(samples, "kvm_scrape_collector_success", collector="thermal") == 1
    assert [labels["zone"] for labels in series(samples, "kvm_thermal_zone_temperature_celsius")] == ["\\xff"]
    assert_promtool_clean(text, tmp_path)


@pytest.fixture
def netns() -> Iterator[Netns]:
    ns = Netns("utf8")
    yield ns
    ns.close()


def test_a_link_named_with_a_raw_byte_is_exported(netns: Netns, tmp_path: Path) -> None:
    bad = os.fsdecode(b"kvmxt\xff")
    netns.ip("link", "add", bad, "type", "veth", "peer", "name", "kvmxtpeer")
    netns.ip("link", "set", bad, "up")
    with exporter(*only("network"), "--network.ethtool", f"--path.sysfs={netns.sysfs}",
                  f"--path.procfs={netns.procfs}") as running:
        text = scrape_text(running.url)
    samples = parse_samples(text)
    assert get(samples, "kvm_scrape_collector_success", collector="network") == 1
    assert [info["kind"] for info in series(samples, "kvm_network_info", device="kvmxt\\xff")] == ["veth"]
    assert get(samples, "kvm_network_up", device="kvmxt\\xff") == 0  # its peer is down
    assert get(samples, "kvm_network_admin_up", device="kvmxt\\xff") == 1
    assert get(samples, "kvm_network_receive_packets_total", device="kvmxt\\xff") == 0
    assert_promtool_clean(text, tmp_path)


# --- 4 and 9. stuck libvirt, stuck commands, shutdown ------------------------------------

def hanging_command(path: Path, marker: str) -> Path:
    """A wrapper script whose child and grandchild hang holding stdout, as `sudo zpool` on a
    hung pool does."""
    path.write_text(f"#!/bin/sh\nsleep {marker} &\nsleep {marker}\n")
    path.chmod(0o755)
    return path


def processes_with(argument: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        if argument in (process.info["cmdline"] or []) and process.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(process)
    return found


@pytest.mark.slow
def test_sigterm_ends_the_exporter_whatever_hangs(tmp_path: Path) -> None:
    """A libvirt socket that accepts and never answers (virConnectOpen has no timeout) and a
    zpool whose children hang: SIGTERM must still end the process within seconds, leaving no
    child behind; and while libvirt hangs, `kvm_libvirt_up` says 0."""
    frozen = socket.socket(socket.AF_UNIX)
    frozen.bind(str(tmp_path / "libvirt-sock"))
    frozen.listen(64)
    marker = f"{1000 + uuid.uuid4().int % 1000}.5"
    zpool = hanging_command(tmp_path / "zpool", marker)
    (tmp_path / "proc" / "spl" / "kstat" / "zfs").mkdir(parents=True)
    flags = [*only("libvirt", "zfs"), f"--libvirt.uri=qemu:///system?socket={tmp_path / 'libvirt-sock'}",
             f"--zpool.path={zpool}", f"--zfs.path={zpool}", "--zfs.timeout=10m",
             f"--path.procfs={tmp_path / 'proc'}", "--collector.timeout=1s"]
    try:
        with exporter(*flags) as running:
            samples = running.scrape()
            assert get(samples, "kvm_libvirt_up") == 0
            assert get(samples, "kvm_scrape_collector_success", collector="libvirt") == 0
            assert processes_with(marker)  # zpool status, get and list hang, each with a child
            start = time.monotonic()
            running.process.send_signal(signal.SIGTERM)
            running.process.wait(20)
            took = time.monotonic() - start
        assert took < 10, f"took {took:.1f}s to stop"
        deadline = time.monotonic() + 5
        while processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert processes_with(marker) == []
    finally:
        frozen.close()
        for process in processes_with(marker):
            process.kill()


def test_an_unreachable_libvirt_is_logged_once(tmp_path: Path) -> None:
    with exporter(*only("libvirt"), f"--libvirt.uri=qemu:///system?socket={tmp_path / 'none'}") as running:
        for _ in range(4):
            assert get(running.scrape(), "kvm_libvirt_up") == 0
        stderr = running.stderr_after_exit()
    assert stderr.count('msg="libvirt unreachable"') == 1


# --- 5. commands with children -------------------------------------------------------------

async def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    marker = f"{2000 + uuid.uuid4().int % 1000}.5"
    command = hanging_command(tmp_path / "hang", marker)
    start = time.monotonic()
    with pytest.raises(commands.CommandError, match="timeout"):
        async with asyncio.timeout(20):
            await commands.run_command([str(command)], 0.5)
    assert time.monotonic() - start < 5
    deadline = time.monotonic() + 5
    while processes_with(marker) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert processes_with(marker) == []


async def test_command_output_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commands, "MAX_OUTPUT_BYTES", 1 << 20)
    with pytest.raises(commands.CommandError, match="output_too_large"):
        await commands.run_command(["yes"], 30)


async def test_no_command_starts_once_the_exporter_is_stopping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commands, "_closing", False)
    assert (await commands.run_command(["true"], 5))[0] == 0
    commands.stop_all_commands()
    with pytest.raises(commands.CommandError, match="shutting_down"):
        await commands.run_command(["true"], 5)


async def test_large_command_output_is_parsed_off_the_event_loop() -> None:
    def on_loop_thread(_text: str) -> bool:
        return threading.current_thread() is threading.main_thread()

    assert await commands.parse_off_loop(on_loop_thread, "small") is True
    assert await commands.parse_off_loop(on_loop_thread, "x" * (1 << 20)) is False


# --- 6. a FIFO where a sysfs file should be ------------------------------------------------

def test_a_fifo_in_hwmon_costs_that_file_only(tmp_path: Path) -> None:
    chip = tmp_path / "sys" / "class" / "hwmon" / "hwmon0"
    chip.mkdir(parents=True)
    (chip / "name").write_text("coretemp\n")
    (chip / "temp1_input").write_text("45000\n")
    os.mkfifo(chip / "temp2_input")
    try:
        flags = [*only("thermal"), f"--path.sysfs={tmp_path / 'sys'}", "--collector.timeout=2s"]
        with exporter(*flags) as running:
            samples = running.scrape()
            assert get(samples, "kvm_scrape_collector_success", collector="thermal") == 1
            assert (get(samples, "kvm_collector_read_errors_total", collector="thermal") or 0) >= 1
            sensors = series(samples, "kvm_hwmon_temperature_celsius")
            assert [labels["sensor"] for labels in sensors] == ["temp1"]
            assert get(samples, "kvm_hwmon_temperature_celsius", **sensors[0]) == 45
            start = time.monotonic()
            running.process.terminate()
            running.process.wait(20)
            assert time.monotonic() - start < 10
    finally:
        # Before the fix a reader thread sat in open(): give it a writer so that it can end
        # (ENXIO when nobody reads, as now).
        with contextlib.suppress(OSError):
            os.close(os.open(chip / "temp2_input", os.O_WRONLY | os.O_NONBLOCK))


# --- 9. per-domain state is pruned -------------------------------------------------------------

def test_storage_and_config_forget_domains_that_are_gone(tmp_path: Path) -> None:
    shared = SharedLibvirt("test:///default")
    shared.begin_collection()
    shared._domain_event("gone-uuid", libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED)
    shared._lifecycle_event("gone", 0, 0)
    storage = LibvirtStorage(shared, Path("/proc"))
    storage._snapshot_times[("gone-uuid", "snap")] = 1.0
    snapshot = storage.read()
    assert list(snapshot.snapshots) == ["test"]  # test:///default has its domain "test"
    assert shared.events_of("gone-uuid") == 0 and "gone-uuid" not in shared._events
    assert "gone" not in shared._lifecycle
    assert ("gone-uuid", "snap") not in storage._snapshot_times
    drift = DriftChecker(shared)
    assert drift.check(tmp_path, {}) == {"test": True}  # defined in libvirt, no file on disk
    shared.connection.drop()


# --- 8. secrets in configuration files that do not parse -----------------------------------

def test_a_config_parse_error_never_logs_the_value(tmp_path: Path) -> None:
    config = tmp_path / "libvirt"
    (config / "qemu").mkdir(parents=True)
    (config / "qemu.conf").write_text('vnc_listen = "0.0.0.0"\nvnc_password = SECRET123CONF\n')
    flags = [*only("config"), f"--libvirt.config-dir={config}", "--libvirt.uri=test:///default"]
    with exporter(*flags) as running:
        samples = running.scrape()
        stderr = running.stderr_after_exit()
    assert get(samples, "kvm_libvirt_config_file_valid", path="qemu.conf", kind="conf") == 0
    assert "qemu.conf" in stderr and "line 2" in stderr
    assert "SECRET" not in stderr and "CONF\"" not in stderr


def test_a_local_read_stuck_in_the_kernel_delays_the_others_briefly() -> None:
    """Local reads take turns, but one that never returns (a sysfs attribute of a dead
    device) holds the others for LOCAL_WAIT, not for good."""
    release = threading.Event()
    started = threading.Event()

    def stuck() -> None:
        started.set()
        release.wait(30)

    holder = threading.Thread(target=in_turn, args=(stuck,), daemon=True)
    holder.start()
    assert started.wait(5)
    done: list[str] = []
    other = threading.Thread(target=lambda: done.append(in_turn(lambda: "read")), daemon=True)
    other.start()
    other.join(LOCAL_WAIT * 20)
    assert done == ["read"] and holder.is_alive()
    release.set()
    holder.join(5)
    assert in_turn(lambda: "next") == "next"


ARENA_PROBE = """
import sys, threading
from exporter.__main__ import one_malloc_arena
if sys.argv[1] == "one":
    assert one_malloc_arena()
kept = []
def allocate():
    kept.extend(bytes(1000) for _ in range(2000))  # past pymalloc's small objects: malloc
threads = [threading.Thread(target=allocate) for _ in range(6)]
for t in threads: t.start()
for t in threads: t.join()
heaps = 0
for line in open("/proc/self/maps"):
    fields = line.split()
    start = int(fields[0].split("-")[0], 16)
    if len(fields) == 5 and fields[1] == "rw-p" and start % (64 << 20) == 0:
        heaps += 1  # a thread arena: anonymous, aligned to its 64 MiB reservation
print(heaps)
"""


@pytest.mark.parametrize(("mode", "most"), [("one", 0), ("default", None)])
def test_the_exporter_keeps_one_malloc_arena(mode: str, most: int | None) -> None:
    """Threads that allocate get arenas of their own unless the exporter asked glibc for one."""
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    heaps = int(subprocess.run([sys.executable, "-c", ARENA_PROBE, mode], env=env, check=True,
                               capture_output=True, text=True).stdout)
    if most is None:
        assert heaps >= 1
    else:
        assert heaps <= most

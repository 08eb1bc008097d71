"""Property-based: every storage parser, fed truncated, mutated or random command output,
either parses or raises its ValueError; what parses renders to valid exposition.

Faults: iscsi_session, zfs_pool, raid_degraded, virtual_disk.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from support.domstats_fixtures import FIXTURES

from exporter.collectors.iscsi import IscsiSnapshot, session_families
from exporter.collectors.iscsi.sessions import parse_node_record, parse_session_stats, read_sessions
from exporter.collectors.mdraid import MdSnapshot, md_families
from exporter.collectors.mdraid.mdstat import MdSysfs, parse_mdstat
from exporter.collectors.storage.images import parse_check, parse_mountinfo
from exporter.collectors.zfs import ZfsState, kstat_families, pool_families, snapshot_families
from exporter.collectors.zfs.parse import (
    parse_get,
    parse_kstat,
    parse_kstat_io,
    parse_snapshots,
    parse_status_json,
    parse_status_text,
    read_kstats,
)
from exporter.metrics import render
from exporter.sysfs import SysfsReader

NO_SYSFS = MdSysfs(None, None, None, None)
SAMPLES = {
    "mdstat": (FIXTURES / "procfs" / "mdstat").read_text(),
    "status_text": (FIXTURES / "zfs" / "danjl1100-01-corrupted.txt").read_text(),
    "status_json": (FIXTURES / "zfs" / "bitranox-proxmox-zpool-status-j-json-int-DEGRADED.json").read_text(),
    "get": (FIXTURES / "zfs-fake" / "zpool" / "get.txt").read_text(),
    "snapshots": (FIXTURES / "zfs-fake" / "zfs" / "snapshots.txt").read_text(),
    "kstat": (FIXTURES / "procfs" / "spl" / "kstat" / "zfs" / "arcstats").read_text(),
    "stats": (FIXTURES / "iscsiadm" / "session-stats.txt").read_text(),
}


def valid(families: list[Any]) -> None:
    list(text_string_to_metric_families(render(families)))


def truncations(sample: str) -> st.SearchStrategy[str]:
    """The sample cut anywhere, or with a slice replaced by random text."""
    cut = st.integers(min_value=0, max_value=len(sample)).map(lambda n: sample[:n])
    mutated = st.tuples(st.integers(0, len(sample)), st.integers(0, 40), st.text(max_size=20)).map(
        lambda t: sample[: t[0]] + t[2] + sample[t[0] + t[1] :]
    )
    return st.one_of(cut, mutated, st.text(max_size=200))


def parses_or_value_error(parse: Callable[[str], Any], text: str) -> Any:
    with contextlib.suppress(ValueError):
        return parse(text)
    return None


@settings(max_examples=200, deadline=None)
@given(truncations(SAMPLES["mdstat"]))
def test_mdstat(text: str) -> None:
    arrays = parses_or_value_error(parse_mdstat, text)
    if arrays is not None:
        valid(md_families(MdSnapshot([(a, NO_SYSFS) for a in arrays])))


@settings(max_examples=200, deadline=None)
@given(truncations(SAMPLES["status_text"]))
def test_zpool_status_text(text: str) -> None:
    pools = parses_or_value_error(parse_status_text, text)
    if pools is not None:
        valid(pool_families(ZfsState(pools=pools)))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**64), max_value=2**70) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=15,
)
vdev_keys = st.sampled_from(
    ["name", "vdev_type", "state", "read_errors", "write_errors", "checksum_errors", "vdevs", "path"]
)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        truncations(SAMPLES["status_json"]),
        st.dictionaries(
            st.text(max_size=8), st.dictionaries(vdev_keys, json_values, max_size=6), max_size=3
        ).map(
            lambda pools: json.dumps(
                {
                    "pools": {
                        n: {"name": n, "state": "ONLINE", "vdevs": {n: p}, "scan_stats": p}
                        for n, p in pools.items()
                    }
                }
            )
        ),
    )
)
def test_zpool_status_json(text: str) -> None:
    pools = parses_or_value_error(parse_status_json, text)
    if pools is not None:
        valid(pool_families(ZfsState(pools=pools)))


@settings(max_examples=150, deadline=None)
@given(truncations(SAMPLES["get"]), truncations(SAMPLES["snapshots"]))
def test_zpool_get_and_snapshots(get_text: str, snapshot_text: str) -> None:
    properties = parses_or_value_error(parse_get, get_text) or {}
    snapshots = parses_or_value_error(parse_snapshots, snapshot_text) or {}
    valid(pool_families(ZfsState(properties=properties)) + snapshot_families(snapshots))


@settings(max_examples=150, deadline=None)
@given(truncations(SAMPLES["kstat"]), st.text(max_size=100))
def test_kstat_files(arcstats: str, io: str) -> None:
    parses_or_value_error(parse_kstat, arcstats)
    parses_or_value_error(parse_kstat_io, io)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "arcstats").write_text(arcstats)
        (root / "pool with spaces").mkdir()
        (root / "pool with spaces" / "io").write_text(io)
        (root / "pool with spaces" / "objset-0x1").write_text(arcstats)
        kstats = read_kstats(root)
        valid(kstat_families(kstats))


@settings(max_examples=150, deadline=None)
@given(truncations(SAMPLES["stats"]), st.text(max_size=300), st.text(max_size=200))
def test_iscsi_texts(stats: str, record: str, mountinfo: str) -> None:
    parses_or_value_error(parse_session_stats, stats)
    assert "password" not in "".join(parse_node_record(record))
    parse_mountinfo(mountinfo)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=255), st.one_of(st.text(max_size=100), json_values.map(json.dumps)))
def test_qemu_img_check_output(code: int, output: str) -> None:
    result = parse_check(code, output, 1.0)
    assert result.status in ("ok", "corrupt", "leaks", "failed", "unsupported")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.binary(max_size=30), st.text(max_size=20).map(str.encode)), min_size=6, max_size=6)
)
def test_iscsi_sysfs_contents(contents: list[bytes]) -> None:
    names = ["targetname", "state", "tpgt", "recovery_tmo", "initiatorname", "ifacename"]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "class" / "iscsi_session" / "session7"
        base.mkdir(parents=True)
        for name, data in zip(names, contents, strict=True):
            (base / name).write_bytes(data)
        reader = SysfsReader(tmp)
        valid(session_families(IscsiSnapshot(read_sessions(reader), [])))

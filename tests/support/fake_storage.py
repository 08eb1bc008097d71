#!/usr/bin/env python3
"""A stand-in for iscsiadm, zpool, zfs, ovs-vsctl and drbdsetup (named by its first argument) that replays
captured outputs from $FAKE_STORAGE_DIR, so a test can swap a file to inject a fault:

  iscsiadm/session-<sid>.txt   printed for `iscsiadm -m session -r <sid> -s`
  zpool/status.json            printed for `zpool status -j ...`; without it `-j` is an
                               unknown option (exit 2), as on OpenZFS < 2.3
  zpool/status.txt             printed for `zpool status -p`
  zpool/get.txt                printed for `zpool get -Hp ...`
  zfs/snapshots.txt            printed for `zfs list -t snapshot ...`
  ovs-vsctl/tables.json        printed for `ovs-vsctl --format=json ... list Bridge/Port/Interface`
  drbdsetup/status.json        printed for `drbdsetup status --json`; without it `--json` is an
                               unknown option (exit 20), as on drbd-utils < 9.10
  drbdsetup/events2.txt        printed for `drbdsetup events2 --now --statistics`
  crm_mon/status.xml           printed for `crm_mon --output-as=xml ...`
  cibadmin/configuration.xml   printed for `cibadmin --query --scope configuration`
  corosync-quorumtool/p.txt    printed for `corosync-quorumtool -p`
  corosync-cfgtool/s.txt       printed for `corosync-cfgtool -s`
  <command>/exit               the exit status after a replay (corosync-quorumtool: 2 when
                               not quorate)
  <command>/hang               the command hangs until it is killed
  <command>/garbage            the command prints this file's text instead (exit 0)
Every call is appended to calls.log.

Faults: zfs_pool, iscsi_session, vswitch_down, replication_lag (and the cluster tools' replays).
"""

import os
import sys
import time
from pathlib import Path

root = Path(os.environ["FAKE_STORAGE_DIR"])
command = sys.argv[1]  # the wrapper script named iscsiadm/zpool/zfs passes its name
args = sys.argv[2:]
with open(root / "calls.log", "a") as log:
    log.write(f"{command} {' '.join(args)}\n")
here = root / command
if (here / "hang").exists():
    time.sleep(3600)
if (here / "garbage").exists():
    sys.stdout.write((here / "garbage").read_text())
    sys.exit(0)


def replay(name: str, missing_status: int = 1) -> None:
    path = here / name
    if not path.exists():
        sys.stderr.write(f"{command}: no such fixture {name}\n")
        sys.exit(missing_status)
    sys.stdout.write(path.read_text())
    status = here / "exit"
    sys.exit(int(status.read_text()) if status.exists() else 0)


if command == "iscsiadm":
    replay(f"session-{args[args.index('-r') + 1]}.txt", missing_status=21)
elif command == "zpool" and args[0] == "status":
    if "-j" in args:
        if not (here / "status.json").exists():
            sys.stderr.write("invalid option 'j'\n")
            sys.exit(2)
        replay("status.json")
    replay("status.txt")
elif command == "zpool" and args[0] == "get":
    replay("get.txt")
elif command == "zfs" and args[0] == "list":
    replay("snapshots.txt")
elif command == "ovs-vsctl":
    replay("tables.json")
elif command == "drbdsetup" and args[0] == "status":
    if not (here / "status.json").exists():
        sys.stderr.write("drbdsetup status: unrecognized option '--json'\n")
        sys.exit(20)
    replay("status.json")
elif command == "drbdsetup" and args[0] == "events2":
    replay("events2.txt")
elif command == "crm_mon":
    replay("status.xml", missing_status=102)
elif command == "cibadmin":
    replay("configuration.xml", missing_status=102)
elif command == "corosync-quorumtool":
    replay("p.txt")
elif command == "corosync-cfgtool":
    replay("s.txt")
sys.exit(2)

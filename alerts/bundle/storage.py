"""Alerts of the storage layer: one or more per fault id of that layer (alerts/taxonomy.yml)."""

from __future__ import annotations

from bundle.model import HOST, VM, Alert, Case, J, grew, s

ALERTS: list[Alert] = [
    Alert(
        name="IscsiSessionNotLoggedIn", layer="storage", fault="iscsi_session", severity="critical",
        expr="kvm_iscsi_session_logged_in{$sel} == 0",
        for_="2m", summary="An iSCSI session is not logged in.",
        description=f"iSCSI session {{{{ $labels.sid }}}} to {{{{ $labels.target }}}} on {HOST} is not logged in.",
        impact="Disks behind the session fail I/O after the recovery timeout: VMs on them pause or see errors.",
        diagnosis=["`iscsiadm -m session -P 3`", "`journalctl -k | grep -i -e iscsi -e 'conn error'`", "`ping PORTAL`"],
        mitigation=["Restore the network path to the portal; re-login: `iscsiadm -m node -T TARGET -p PORTAL --login`.",
         "Resume paused VMs: `virsh resume DOMAIN`."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_iscsi_session_logged_in", 'sid="5",target="iqn.2017-10.com.example:vms"'): "0x5"}, at="4m",
                 labels={"sid": "5", "target": "iqn.2017-10.com.example:vms"},
                 description="iSCSI session 5 to iqn.2017-10.com.example:vms on hv1:9978 is not logged in."),
            Case(series={s("kvm_iscsi_session_logged_in", 'sid="5",target="iqn.2017-10.com.example:vms"'): "1 0 1x5"},
                 at="5m"),
        ]),
    Alert(
        name="IscsiExpectedSessionMissing", layer="storage", fault="iscsi_session", severity="critical",
        expr="kvm_iscsi_node_logged_in{$sel} == 0",
        for_="5m", summary="An iSCSI target set to log in automatically has no session.",
        description=f"{{{{ $labels.target }}}} at {{{{ $labels.portal }}}} should be logged in on {HOST} (node.startup "
        "automatic) but no session exists.",
        impact="The LUNs of that target are missing: VMs using them cannot start.",
        diagnosis=["`iscsiadm -m node -T TARGET -p PORTAL` (auth settings)", "`iscsiadm -m node -T TARGET -p PORTAL --login` "
         "(the error says CHAP/authorization failure)", "`journalctl -u iscsid`"],
        mitigation=["Fix the CHAP credentials or the target's ACL, then log in.",
         "If the target is gone for good, `iscsiadm -m node -T TARGET -p PORTAL -o delete`."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_iscsi_node_logged_in", 'target="iqn.2017-10.com.example:backup",portal="192.0.2.7:3260",'
                    'iface="default"'): "0x10"}, at="8m",
                 labels={"target": "iqn.2017-10.com.example:backup", "portal": "192.0.2.7:3260", "iface": "default"},
                 description="iqn.2017-10.com.example:backup at 192.0.2.7:3260 should be logged in on hv1:9978 (node.startup "
                 "automatic) but no session exists."),
            Case(series={s("kvm_iscsi_node_logged_in", 'target="iqn.2017-10.com.example:backup",portal="192.0.2.7:3260",'
                    'iface="default"'): "1x10"}, at="8m"),
        ]),
    Alert(
        name="IscsiDeviceOffline", layer="storage", fault="iscsi_session", severity="critical",
        expr="kvm_iscsi_device_running{$sel} == 0",
        for_="2m", summary="A disk behind an iSCSI session is offline.",
        description=f"SCSI device {{{{ $labels.device }}}} ({{{{ $labels.scsi_address }}}}) of iSCSI target "
        f"{{{{ $labels.target }}}} on {HOST} is {{{{ $labels.state }}}}.",
        impact="I/O to the disk fails: VMs on it pause on I/O errors.",
        diagnosis=["`iscsiadm -m session -P 3`", "`cat /sys/class/scsi_device/*/device/state`"],
        mitigation=["Restore the session; then `echo running > /sys/class/scsi_device/H:C:I:L/device/state`."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_iscsi_device_running", 'sid="5",target="iqn.2017-10.com.example:vms",scsi_address="5:0:0:0",'
                    'device="sdf",state="offline"'): "0x5"}, at="4m",
                 labels={"sid": "5", "target": "iqn.2017-10.com.example:vms", "scsi_address": "5:0:0:0", "device": "sdf",
                  "state": "offline"},
                 description="SCSI device sdf (5:0:0:0) of iSCSI target iqn.2017-10.com.example:vms on hv1:9978 is offline."),
            Case(series={s("kvm_iscsi_device_running", 'sid="5",target="iqn.2017-10.com.example:vms",scsi_address="5:0:0:0",'
                    'device="sdf",state="running"'): "1x5"}, at="4m"),
        ]),
    Alert(
        name="IscsiConnectionErrors", layer="storage", fault="iscsi_session", severity="warning",
        expr=grew("kvm_kernel_iscsi_connection_errors_total{$sel}", "15m", "job, instance")
        + " or " + grew("kvm_kernel_iscsi_session_recovery_timeouts_total{$sel}", "15m", "job, instance"),
        for_="0m", summary="The kernel logged iSCSI connection errors.",
        description=f"The kernel on {HOST} logged {{{{ $value }}}} iSCSI connection errors or session recovery timeouts in "
        "the last 15 minutes.",
        impact="Sessions reconnect (I/O stalls) or fail (I/O errors) — a flaky path to the storage.",
        diagnosis=["`journalctl -k | grep -e 'conn error' -e 'recovery timed out'`", "`iscsiadm -m session -s`"],
        mitigation=["Check the storage network (NIC, switch, MTU, target load)."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_kernel_iscsi_connection_errors_total", 'code="1020"'): "_x20 2x10",
                  f"up{{{J}}}": "1x30"}, at="24m", labels={},
                 description="The kernel on hv1:9978 logged 2 iSCSI connection errors or session recovery timeouts in the "
                 "last 15 minutes."),
            Case(series={s("kvm_kernel_iscsi_connection_errors_total", 'code="1020"'): "2x20"}, at="18m"),
        ]),
    Alert(
        name="ZfsPoolNotOnline", layer="storage", fault="zfs_pool", severity="critical",
        expr='kvm_zfs_pool_state{$sel,state="ONLINE"} == 0',
        for_="2m", summary="A ZFS pool is not ONLINE.",
        description=f"ZFS pool {{{{ $labels.pool }}}} on {HOST} is not ONLINE (degraded, faulted or suspended).",
        impact="Redundancy is reduced or gone; a faulted/suspended pool stops I/O for every VM on it.",
        diagnosis=["`zpool status -v POOL`", "`zpool events -v | tail -50`", "`smartctl -a` on the failing disks"],
        mitigation=["Replace the failed device: `zpool replace POOL OLD NEW`; watch the resilver.",
         "For transient errors after fixing cabling: `zpool clear POOL`."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_zfs_pool_state", 'pool="rpool",state="ONLINE"'): "0x5"}, at="4m", labels={"pool": "rpool", "state": "ONLINE"},
                 description="ZFS pool rpool on hv1:9978 is not ONLINE (degraded, faulted or suspended)."),
            Case(series={s("kvm_zfs_pool_state", 'pool="rpool",state="ONLINE"'): "1x5"}, at="4m"),
        ]),
    Alert(
        name="ZfsVdevErrorsGrowing", layer="storage", fault="zfs_pool", severity="warning",
        expr="sum by (job, instance, pool, vdev) (increase(kvm_zfs_vdev_read_errors_total{$sel}[1h])"
        " or increase(kvm_zfs_vdev_write_errors_total{$sel}[1h])"
        " or increase(kvm_zfs_vdev_checksum_errors_total{$sel}[1h])) > 0",
        for_="0m", summary="A ZFS vdev is accumulating errors.",
        description=f"Vdev {{{{ $labels.vdev }}}} of pool {{{{ $labels.pool }}}} on {HOST} counted {{{{ $value }}}} new "
        "read/write/checksum errors in the last hour.",
        impact="The device or its path is failing; ZFS repairs from redundancy while it can.",
        diagnosis=["`zpool status -v POOL`", "`smartctl -a DEVICE`"],
        mitigation=["Replace or reseat the device; `zpool clear POOL VDEV` once fixed."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_zfs_vdev_write_errors_total", 'pool="rpool",vdev="sda3"'): "0x65 8x10"}, at="70m",
                 labels={"pool": "rpool", "vdev": "sda3"},
                 description="Vdev sda3 of pool rpool on hv1:9978 counted 8 new read/write/checksum errors in the last hour."),
            Case(series={s("kvm_zfs_vdev_write_errors_total", 'pool="rpool",vdev="sda3"'): "8x20"}, at="15m"),
        ]),
    Alert(
        name="ZfsAutotrimOff", layer="storage", fault="zfs_pool", severity="info",
        expr="kvm_zfs_pool_autotrim_enabled{$sel,$ssd_pool_matcher} == 0",
        for_="1h", summary="Autotrim is off on an SSD pool.",
        description=f"ZFS pool {{{{ $labels.pool }}}} on {HOST} sits on SSDs but autotrim is off.",
        impact="Freed blocks are not trimmed: SSD write amplification and wear rise, performance degrades.",
        diagnosis=["`zpool get autotrim POOL`"], mitigation=["`zpool set autotrim=on POOL` (or schedule `zpool trim POOL`)."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_zfs_pool_autotrim_enabled", 'pool="zpool-ssd"'): "0x80"}, at="70m", labels={"pool": "zpool-ssd"},
                 description="ZFS pool zpool-ssd on hv1:9978 sits on SSDs but autotrim is off."),
            Case(series={s("kvm_zfs_pool_autotrim_enabled", 'pool="zpool-hdd"'): "0x80"}, at="70m"),
        ]),
    Alert(
        name="ZfsWriteAmplificationHigh", layer="storage", fault="zfs_pool", severity="warning",
        expr="instance_pool:kvm_zfs_write_amplification:ratio_rate1h > $zfs_write_amplification",
        for_="1h", summary="ZFS writes far more than the datasets ask for.",
        description=f"Pool {{{{ $labels.pool }}}} on {HOST} writes {{{{ $value | humanize }}}} bytes to disk per logical "
        "byte written.",
        impact="Small random writes into large records (zvol volblocksize / recordsize mismatch) wear SSDs and waste IOPS.",
        diagnosis=["`zfs get recordsize,volblocksize,compression POOL -r`", "`zpool iostat -r POOL 5`"],
        mitigation=["Match volblocksize/recordsize to the guests' I/O size for new volumes; consider a SLOG for sync writes."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_zfs_pool_io_total", 'pool="tank",stat="nwritten"'): "0+500x150",
                  s("kvm_zfs_dataset_written_bytes_total", 'pool="tank",dataset="tank/vm"'): "0+100x150"},
                 at="130m", labels={"pool": "tank"},
                 description="Pool tank on hv1:9978 writes 5 bytes to disk per logical byte written."),
            Case(series={s("kvm_zfs_pool_io_total", 'pool="tank",stat="nwritten"'): "0+150x150",
                  s("kvm_zfs_dataset_written_bytes_total", 'pool="tank",dataset="tank/vm"'): "0+100x150"}, at="130m"),
        ]),
    Alert(
        name="ZfsScrubOverdue", layer="storage", fault="zfs_pool", severity="warning",
        expr="time() - kvm_zfs_pool_last_scrub_end_time_seconds{$sel} > $zfs_scrub_max_age_seconds"
        ' unless on (job, instance, pool) kvm_zfs_pool_scan_info{$sel,state="scanning"}',
        for_="1h", summary="A ZFS pool has not been scrubbed for too long.",
        description=f"Pool {{{{ $labels.pool }}}} on {HOST} was last scrubbed {{{{ $value | humanizeDuration }}}} ago.",
        impact="Latent errors (bit rot, bad sectors) go unnoticed until the redundancy needed to repair them is gone.",
        diagnosis=["`zpool status POOL` (scan: line)", "`systemctl list-timers 'zfs-scrub*'`"],
        mitigation=["`zpool scrub POOL`; fix the scrub schedule (timer or cron)."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_zfs_pool_last_scrub_end_time_seconds", 'pool="tank"'): "-3100000x80"}, at="70m",
                 labels={"pool": "tank"}, description="Pool tank on hv1:9978 was last scrubbed 35d 22h 16m 40s ago."),
            Case(series={s("kvm_zfs_pool_last_scrub_end_time_seconds", 'pool="tank"'): "3000x80"}, at="70m"),
        ]),
    Alert(
        name="ZfsPoolCapacityHigh", layer="storage", fault="zfs_pool", severity="warning",
        expr="kvm_zfs_pool_capacity_ratio{$sel} > $zfs_capacity_ratio",
        for_="30m", summary="A ZFS pool is nearly full.",
        description=f"Pool {{{{ $labels.pool }}}} on {HOST} is {{{{ $value | humanizePercentage }}}} full.",
        impact="ZFS slows down sharply when nearly full; at 100% VMs pause on write errors.",
        diagnosis=["`zpool list POOL`", "`zfs list -o space -r POOL`"],
        mitigation=["Delete old snapshots (`zfs list -t snapshot -s used`), move VMs, or add vdevs."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_zfs_pool_capacity_ratio", 'pool="tank"'): "0.9x40"}, at="35m", labels={"pool": "tank"},
                 description="Pool tank on hv1:9978 is 90% full."),
            Case(series={s("kvm_zfs_pool_capacity_ratio", 'pool="tank"'): "0.5x40"}, at="35m"),
        ]),
    Alert(
        name="VmDiskImageCorrupt", layer="storage", fault="virtual_disk", severity="critical",
        expr='kvm_domain_disk_check_status{$sel,status="corrupt"} == 1',
        for_="0m", summary="qemu-img check found corruption in a VM disk image.",
        description=f"qemu-img check found corruption in disk {{{{ $labels.target }}}} of VM {VM} on {HOST}.",
        impact="The image's metadata is damaged: the guest may read wrong data or QEMU may stop the VM.",
        diagnosis=["`qemu-img check -U IMAGE`", "`virsh domblklist DOMAIN`", "the storage's own errors (SMART, zpool)"],
        mitigation=["Shut the VM down, copy the image, then `qemu-img check -r leaks IMAGE` (or `-r all` on the copy first).",
         "Or revert to the newest good snapshot/backup."],
        dashboard="KVM VM", cases=[
            Case(series={s("kvm_domain_disk_check_status", 'domain="db-1",target="vdb",status="corrupt"'): "1x5"}, at="3m",
                 labels={"domain": "db-1", "target": "vdb", "status": "corrupt"},
                 description="qemu-img check found corruption in disk vdb of VM db-1 on hv1:9978."),
            Case(series={s("kvm_domain_disk_check_status", 'domain="db-1",target="vdb",status="corrupt"'): "0x5"}, at="3m"),
        ]),
    Alert(
        name="VmDiskImageMissing", layer="storage", fault="virtual_disk", severity="critical",
        expr="kvm_domain_disk_image_present{$sel} == 0",
        for_="5m", summary="A VM's disk image is missing.",
        description=f"The image of disk {{{{ $labels.target }}}} of VM {VM} on {HOST} does not exist.",
        impact="The VM cannot start (or, running, fails I/O once QEMU reopens the file).",
        diagnosis=["`virsh domblklist DOMAIN`", "`ls -l IMAGE`", "the storage pool: `virsh pool-refresh POOL; virsh vol-list POOL`"],
        mitigation=["Restore the image from backup or fix the path/mount; `virsh edit DOMAIN` if it moved."],
        dashboard="KVM VM", cases=[
            Case(series={s("kvm_domain_disk_image_present", 'domain="db-1",target="vdb"'): "0x10"}, at="8m",
                 labels={"domain": "db-1", "target": "vdb"},
                 description="The image of disk vdb of VM db-1 on hv1:9978 does not exist."),
            Case(series={s("kvm_domain_disk_image_present", 'domain="db-1",target="vdb"'): "1x10"}, at="8m"),
        ]),
    Alert(
        name="VmDiskErrors", layer="storage", fault="virtual_disk", severity="critical",
        expr="kvm_domain_disk_error{$sel} == 1",
        for_="0m", summary="A VM reports a disk error.",
        description=f"Disk {{{{ $labels.target }}}} of VM {VM} on {HOST} reports error {{{{ $labels.error }}}}.",
        impact="The VM is paused (or its I/O fails) until the storage is fixed.",
        diagnosis=["`virsh domblkerror DOMAIN`", "`df -h`, `zpool status`, `iscsiadm -m session`"],
        mitigation=["Fix the storage (space, path), then `virsh resume DOMAIN`."],
        dashboard="KVM VM", cases=[
            Case(series={s("kvm_domain_disk_error", 'domain="db-1",target="vda",error="no_space"'): "1x5"}, at="3m",
                 labels={"domain": "db-1", "target": "vda", "error": "no_space"},
                 description="Disk vda of VM db-1 on hv1:9978 reports error no_space."),
            Case(series={s("kvm_domain_disk_error", 'domain="db-1",target="vda",error="no_space"'): "0x5"}, at="3m"),
        ]),
    Alert(
        name="MdRaidDegraded", layer="storage", fault="raid_degraded", severity="critical",
        expr="kvm_md_degraded{$sel} > 0",
        for_="2m", summary="An md RAID array is degraded.",
        description=f"md array {{{{ $labels.device }}}} on {HOST} is missing {{{{ $value }}}} disks.",
        impact="Redundancy is reduced; one more failure (in RAID1/5) loses the array and the VMs on it.",
        diagnosis=["`cat /proc/mdstat`", "`mdadm --detail /dev/MD`", "`smartctl -a` on the members"],
        mitigation=["Replace the failed member: `mdadm /dev/MD --fail OLD --remove OLD; mdadm /dev/MD --add NEW`.",
         "Watch the rebuild in /proc/mdstat."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_md_degraded", 'device="md6"'): "1x5"}, at="4m", labels={"device": "md6"},
                 description="md array md6 on hv1:9978 is missing 1 disks."),
            Case(series={s("kvm_md_degraded", 'device="md6"'): "0x5"}, at="4m"),
        ]),
    Alert(
        name="MdRaidRebuilding", layer="storage", fault="raid_degraded", severity="info",
        expr='kvm_md_sync_action{$sel,action=~"recovery|reshape"} == 1',
        for_="5m", summary="An md RAID array is rebuilding.",
        description=f"md array {{{{ $labels.device }}}} on {HOST} is running {{{{ $labels.action }}}}.",
        impact="I/O is slower during the rebuild; the array is not redundant until it ends.",
        diagnosis=["`cat /proc/mdstat`"], mitigation=["Let it finish; avoid heavy I/O; do not pull other members."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_md_sync_action", 'device="md6",action="recovery"'): "1x10"}, at="8m",
                 labels={"device": "md6", "action": "recovery"}, description="md array md6 on hv1:9978 is running recovery."),
            Case(series={s("kvm_md_sync_action", 'device="md6",action="idle"'): "1x10"}, at="8m"),
        ]),
    Alert(
        name="VmRecoveryPointTooOld", layer="storage", fault="recovery_point", severity="warning",
        expr="time() - instance_domain:kvm_domain_recovery_point:timestamp_seconds > $recovery_point_objective_seconds",
        for_="15m", summary="A VM's newest snapshot is older than the recovery-point objective.",
        description=f"The newest snapshot of VM {VM} on {HOST} is {{{{ $value | humanizeDuration }}}} old.",
        impact="Restoring the VM now would lose everything written since that snapshot.",
        diagnosis=["`virsh snapshot-list DOMAIN --tree`", "`zfs list -t snapshot -o name,creation DATASET`",
         "the snapshot job's logs (cron, sanoid, zfs-auto-snapshot)"],
        mitigation=["Fix and run the snapshot/backup job; take one now: `virsh snapshot-create-as DOMAIN` or "
         "`zfs snapshot DATASET@now`."],
        dashboard="KVM VM", cases=[
            Case(series={s("kvm_domain_newest_snapshot_timestamp_seconds", 'domain="web-1"'): "0x150"}, at="130m",
                 labels={"domain": "web-1"}, description="The newest snapshot of VM web-1 on hv1:9978 is 2h 10m 0s old."),
            Case(series={s("kvm_domain_newest_snapshot_timestamp_seconds", 'domain="web-1"'): "0+60x150"}, at="130m"),
        ]),
    Alert(
        name="ZfsDatasetRecoveryPointTooOld", layer="storage", fault="recovery_point", severity="warning",
        expr="time() - kvm_zfs_dataset_newest_snapshot_timestamp_seconds{$sel} > $recovery_point_objective_seconds",
        for_="15m", summary="A dataset's newest snapshot is older than the recovery-point objective.",
        description=f"The newest snapshot of dataset {{{{ $labels.dataset }}}} on {HOST} is {{{{ $value | humanizeDuration }}}} old.",
        impact="Restoring the dataset now would lose everything written since that snapshot.",
        diagnosis=["`zfs list -t snapshot -o name,creation -s creation DATASET | tail`"],
        mitigation=["Fix the snapshot schedule (sanoid/zfs-auto-snapshot); `zfs snapshot DATASET@now`."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_zfs_dataset_newest_snapshot_timestamp_seconds", 'dataset="tank/vm-1"'): "0x150"}, at="130m",
                 labels={"dataset": "tank/vm-1"}, description="The newest snapshot of dataset tank/vm-1 on hv1:9978 is 2h 10m 0s old."),
            Case(series={s("kvm_zfs_dataset_newest_snapshot_timestamp_seconds", 'dataset="tank/vm-1"'): "0+60x150"}, at="130m"),
        ]),
    Alert(
        name="MdRaidMemberFailed", layer="storage", fault="raid_degraded", severity="critical",
        expr='kvm_md_disks{$sel,state="failed"} > 0',
        for_="1m", summary="An md RAID array has a failed member.",
        description=f"md array {{{{ $labels.device }}}} on {HOST} has {{{{ $value }}}} failed member disks.",
        impact="The kernel kicked the disk out after I/O errors: redundancy is reduced (or gone) until it is "
        "replaced and the array rebuilt.",
        diagnosis=["`cat /proc/mdstat` (members marked `(F)`)", "`mdadm --detail /dev/MD`",
         "`smartctl -a` on the failed member; `journalctl -k | grep -i md`"],
        mitigation=["Remove and replace it: `mdadm /dev/MD --remove OLD; mdadm /dev/MD --add NEW`.",
         "Watch the rebuild (MdRaidRebuilding)."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_md_disks", 'device="md6",state="failed"'): "1x5"}, at="4m",
                 labels={"device": "md6", "state": "failed"},
                 description="md array md6 on hv1:9978 has 1 failed member disks."),
            Case(series={s("kvm_md_disks", 'device="md6",state="failed"'): "0x5"}, at="4m"),
        ]),
    Alert(
        name="MdRaidInactive", layer="storage", fault="raid_degraded", severity="critical",
        expr='kvm_md_info{$sel,state="inactive"} == 1',
        for_="5m", summary="An md RAID array is inactive.",
        description=f"md array {{{{ $labels.device }}}} on {HOST} is inactive: assembled but not started.",
        impact="Nothing on the array can be read or written: the VMs whose disks live there cannot start "
        "(or pause on I/O errors).",
        diagnosis=["`cat /proc/mdstat` (`inactive`)", "`mdadm --detail /dev/MD`, `mdadm --examine` on the members "
         "(event counts that differ)", "`journalctl -b | grep -i mdadm`"],
        mitigation=["Start it if enough members are present: `mdadm --run /dev/MD`.",
         "Otherwise reassemble (`mdadm --assemble --scan`) after finding the missing member; `--force` only "
         "with a current backup."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_md_info", 'device="md4",level="raid1",state="inactive",read_only="",array_state="clean"'):
                         "1x10"}, at="8m",
                 labels={"device": "md4", "level": "raid1", "state": "inactive", "array_state": "clean"},
                 description="md array md4 on hv1:9978 is inactive: assembled but not started."),
            Case(series={s("kvm_md_info", 'device="md4",level="raid1",state="active",read_only="",array_state="clean"'):
                         "1x10"}, at="8m"),
        ]),
    Alert(
        name="StoragePoolNearlyFull", layer="storage", fault="virtual_disk", severity="warning",
        expr="kvm_storage_pool_allocation_bytes{$sel} / kvm_storage_pool_capacity_bytes{$sel} > $storage_pool_capacity_ratio",
        for_="15m", summary="A libvirt storage pool is nearly full.",
        description=f"Storage pool {{{{ $labels.pool }}}} on {HOST} is {{{{ $value | humanizePercentage }}}} full.",
        impact="When it fills, thin images cannot grow: their VMs pause on I/O errors, and new volumes cannot "
        "be created.",
        diagnosis=["`virsh pool-info POOL` (after `virsh pool-refresh POOL`: libvirt counts at refresh)",
         "`virsh vol-list POOL --details`", "`df -h` on the pool's target"],
        mitigation=["Free space: delete old volumes and snapshots, move images to another pool, or grow the pool."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_storage_pool_allocation_bytes", 'pool="images"'): "95x20",
                         s("kvm_storage_pool_capacity_bytes", 'pool="images"'): "100x20"},
                 at="18m", labels={"pool": "images"},
                 description="Storage pool images on hv1:9978 is 95% full."),
            Case(series={s("kvm_storage_pool_allocation_bytes", 'pool="images"'): "50x20",
                         s("kvm_storage_pool_capacity_bytes", 'pool="images"'): "100x20"}, at="18m"),
        ]),
    Alert(
        name="StoragePoolNotRunning", layer="storage", fault="virtual_disk", severity="warning",
        expr='kvm_storage_pool_state{$sel,state="running"} == 0',
        for_="5m", summary="A libvirt storage pool is not running.",
        description=f"Storage pool {{{{ $labels.pool }}}} on {HOST} is defined but not running.",
        impact="Its volumes are unknown to libvirt: VMs whose disks are volumes of the pool fail to start, "
        "and nothing can be allocated in it.",
        diagnosis=["`virsh pool-list --all`, `virsh pool-info POOL`", "`journalctl -u libvirtd` (why starting it "
         "failed: a missing mount, an iSCSI target, an absent directory)"],
        mitigation=["Fix what it needs and start it: `virsh pool-start POOL`; `virsh pool-autostart POOL` if it "
         "should come up with the host.", "If it is not needed any more: `virsh pool-undefine POOL`."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_storage_pool_state", 'pool="images",state="running"'): "0x10",
                         s("kvm_storage_pool_state", 'pool="images",state="inactive"'): "1x10"},
                 at="8m", labels={"pool": "images", "state": "running"},
                 description="Storage pool images on hv1:9978 is defined but not running."),
            Case(series={s("kvm_storage_pool_state", 'pool="images",state="running"'): "1x10"}, at="8m"),
        ]),
]

"""Alerts of the exporter layer: one or more per fault id of that layer (alerts/taxonomy.yml)."""

from __future__ import annotations

from bundle.model import HOST, Alert, Case, J, s

ALERTS: list[Alert] = [
    Alert(
        name="KvmExporterDown", layer="exporter", fault="exporter_health", severity="warning",
        expr="up{$sel} == 0",
        for_="5m", summary="The kvm-exporter cannot be scraped.",
        description=f"Prometheus cannot scrape the kvm-exporter on {HOST}: nothing on that host is watched.",
        impact="Every other alert for the host is blind until it is back.",
        diagnosis=["`systemctl status kvm-exporter`", "`journalctl -u kvm-exporter`", "`curl -s http://HOST:9978/-/healthy`"],
        mitigation=["Restart the exporter; if the host is down, that is the real incident."],
        dashboard="KVM fleet", cases=[
            Case(series={f"up{{{J}}}": "0x10"}, at="8m", labels={}, description="Prometheus cannot scrape the kvm-exporter on hv1:9978: nothing on "
                 "that host is watched."),
            Case(series={f"up{{{J}}}": "1 0 0 1x7"}, at="8m"),
        ]),
    Alert(
        name="KvmExporterCollectorFailing", layer="exporter", fault="exporter_health", severity="warning",
        expr="kvm_scrape_collector_success{$sel} == 0",
        for_="15m", summary="A kvm-exporter collector keeps failing.",
        description=f"Collector {{{{ $labels.collector }}}} of the kvm-exporter on {HOST} has failed for 15 minutes.",
        impact="The signals of that collector are missing: its alerts cannot fire.",
        diagnosis=["`journalctl -u kvm-exporter` (\"collector failed\" names the error)", "the exporter's landing page `/`"],
        mitigation=["Fix what the error names (libvirtd down, a path, permissions), or disable the collector."],
        dashboard="KVM fleet", cases=[
            Case(series={s("kvm_scrape_collector_success", 'collector="libvirt"'): "0x20"}, at="18m", labels={"collector": "libvirt"},
                 description="Collector libvirt of the kvm-exporter on hv1:9978 has failed for 15 minutes."),
            Case(series={s("kvm_scrape_collector_success", 'collector="libvirt"'): "0x5 1x15"}, at="18m"),
        ]),
    Alert(
        name="SmartDataStale", layer="exporter", fault="exporter_health", severity="warning",
        expr="time() - kvm_smart_device_last_success_timestamp_seconds{$sel} > $smart_stale_seconds",
        for_="15m", summary="SMART data of a disk is stale.",
        description=f"SMART data of {{{{ $labels.device }}}} on {HOST} is {{{{ $value | humanizeDuration }}}} old.",
        impact="Disk failure predictions for that disk are not current.",
        diagnosis=["`kvm_smart_device_error` for the reason (timeout, open_failed)", "`smartctl -a DEVICE` by hand"],
        mitigation=["Fix the device or controller access; raise `--smartctl.timeout` for slow controllers."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_smart_device_last_success_timestamp_seconds", 'device="/dev/sda"'): "0x100"}, at="80m",
                 labels={"device": "/dev/sda"}, description="SMART data of /dev/sda on hv1:9978 is 1h 20m 0s old."),
            Case(series={s("kvm_smart_device_last_success_timestamp_seconds", 'device="/dev/sda"'): "0+60x100"}, at="80m"),
        ]),
    Alert(
        name="BackgroundCommandFailing", layer="exporter", fault="exporter_health", severity="warning",
        expr="kvm_poller_up{$sel} == 0",
        for_="15m", summary="A background command of the exporter keeps failing.",
        description=f"{{{{ $labels.poller }}}} on {HOST} has had failing commands for 15 minutes: its series "
        "(SMART, pools, iSCSI counters, OVS or image checks) are stale.",
        impact="The alerts on that source see old data; a hung zpool often means a hung pool, a hung "
        "smartctl a dying disk or controller.",
        diagnosis=["`kvm_poller_errors_total{poller=\"...\"}` for the reason (timeout, exit_N, garbage, exec_failed)",
         "`kvm_zfs_command_error`, `kvm_smart_device_error`, `kvm_ovs_error` for the command",
         "run the command by hand: `timeout 30 zpool status`, `smartctl -a DEVICE`"],
        mitigation=["Fix what the reason names: the pool, the disk or controller, ovsdb-server, iscsid; "
         "raise the command's timeout (`--zfs.timeout`, `--smartctl.timeout`, ...) for slow devices."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_poller_up", 'poller="zfs"'): "0x20"}, at="18m", labels={"poller": "zfs"},
                 description="zfs on hv1:9978 has had failing commands for 15 minutes: its series (SMART, pools, "
                 "iSCSI counters, OVS or image checks) are stale."),
            Case(series={s("kvm_poller_up", 'poller="qemu-img"'): "0x5 1x15"}, at="18m"),
        ]),
]

#!/usr/bin/env python3
"""Generate the Grafana dashboards (fleet fault map, host, VM) as JSON.

    python dashboards/generate_dashboards.py              # rewrite dashboards/*.json

Plain data, not a dashboard SDK: a few helpers build the panels, and the output is exactly
the JSON Grafana provisions, so a review reads the diff of what users get. Thresholds come
from alerts/config.yml so panels turn red where the alerts fire.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
THRESHOLDS: dict[str, float] = yaml.safe_load((ROOT / "alerts" / "config.yml").read_text())["thresholds"]
SEL = 'job=~"$job",instance=~"$instance"'
DS = {"type": "prometheus", "uid": "${datasource}"}
RUNBOOKS = "https://github.com/kvm-exporter/kvm-exporter/blob/main/alerts/runbooks"
FAULTS_ONLY: set[tuple[str, str]] = set()


@dataclass
class Panel:
    title: str
    description: str
    unit: str
    targets: list[tuple[str, str]]  # (expr, legend)
    kind: str = "timeseries"
    faults_only: bool = False  # shows data only while something is wrong
    steps: list[tuple[float, str]] = field(default_factory=list)  # threshold steps above green
    links: list[tuple[str, str]] = field(default_factory=list)  # (title, url)


def q(template: str) -> str:
    """`{S}` / `{S,...}` in the template is the job/instance selector."""
    return re.sub(r"\{S([,}])", lambda m: "{" + SEL + m.group(1), template)


def rate(metric: str, extra: str = "") -> str:
    return f"rate({metric}{{{SEL}{',' + extra if extra else ''}}}[$__rate_interval])"


def increase(metric: str, extra: str = "") -> str:
    return f"increase({metric}{{{SEL}{',' + extra if extra else ''}}}[$__rate_interval])"


def sel(metric: str, extra: str = "") -> str:
    return f"{metric}{{{SEL}{',' + extra if extra else ''}}}"


def panel_json(
    panel: Panel, panel_id: int, x: int, y: int, width: int = 8, height: int = 8
) -> dict[str, Any]:
    steps = [{"color": "green", "value": None}] + [
        {"color": color, "value": value} for value, color in panel.steps
    ]
    data: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": width, "h": height},
        "fieldConfig": {
            "defaults": {"unit": panel.unit, "thresholds": {"mode": "absolute", "steps": steps}},
            "overrides": [],
        },
        "options": {},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DS, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(panel.targets)
        ],
    }
    if panel.kind == "timeseries":
        data["options"] = {
            "legend": {"displayMode": "list", "placement": "bottom"},
            "tooltip": {"mode": "multi"},
        }
    if panel.kind == "table":
        for target in data["targets"]:
            target.update(format="table", instant=True)
    if panel.links:
        data["links"] = [{"title": title, "url": url} for title, url in panel.links]
    return data


def row_json(title: str, panel_id: int, y: int) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "row",
        "title": title,
        "collapsed": False,
        "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
        "panels": [],
    }


def variable(name: str, query: str, label: str, multi: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": {"query": query, "refId": name},
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "current": {},
        "options": [],
        "hide": 0,
    }


VARIABLES = [
    {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "options": [],
        "refresh": 1,
    },
    variable("job", "label_values(kvm_exporter_build_info, job)", "Job"),
    variable("instance", 'label_values(kvm_exporter_build_info{job=~"$job"}, instance)', "Host"),
]


def dashboard(
    uid: str,
    title: str,
    description: str,
    rows: list[tuple[str, list[Panel]]],
    extra_variables: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y = 0
    panel_id = 1
    for row_title, row_panels in rows:
        panels.append(row_json(row_title, panel_id, y))
        panel_id += 1
        y += 1
        for index, panel in enumerate(row_panels):
            panels.append(panel_json(panel, panel_id, (index % 3) * 8, y + (index // 3) * 8))
            if panel.faults_only:
                FAULTS_ONLY.add((uid, panel.title))
            panel_id += 1
        y += ((len(row_panels) + 2) // 3) * 8
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["kvm-exporter"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "",
        "templating": {"list": [*VARIABLES, *(extra_variables or [])]},
        "annotations": {"list": []},
        "links": [
            {
                "title": "KVM fleet",
                "type": "link",
                "url": "/d/kvm-fleet",
                "keepTime": True,
                "includeVars": True,
            },
            {
                "title": "KVM host",
                "type": "link",
                "url": "/d/kvm-host",
                "keepTime": True,
                "includeVars": True,
            },
            {"title": "KVM VM", "type": "link", "url": "/d/kvm-vm", "keepTime": True, "includeVars": True},
        ],
        "panels": panels,
    }


# --- fleet fault map -------------------------------------------------------------------

# fault id -> (layer, key signal title, expr, unit, description)
FAULTS: dict[str, tuple[str, str, str, str, str]] = {
    "cpu_overheat": (
        "hardware",
        "Hottest thermal zone",
        q("max by (instance) (kvm_thermal_zone_temperature_celsius{S})"),
        "celsius",
        "The hottest thermal zone per host.",
    ),
    "memory_ecc": (
        "hardware",
        "ECC errors",
        q(f"sum by (instance) ({increase('kvm_edac_correctable_errors_total')})"),
        "short",
        "Corrected ECC errors per host in each interval.",
    ),
    "disk_smart": (
        "hardware",
        "Disks failing SMART",
        q("sum by (instance) (1 - kvm_smart_health_passed{S})"),
        "short",
        "Disks whose SMART self-assessment fails, per host.",
    ),
    "process_oom": (
        "virtualization",
        "OOM kills",
        q(f"sum by (instance) ({increase('kvm_host_oom_kills_total')})"),
        "short",
        "Processes killed by the OOM killer per host in each interval.",
    ),
    "domain_failure": (
        "virtualization",
        "Autostart VMs down",
        q("sum by (instance) (kvm_domain_autostart_not_running{S})"),
        "short",
        "VMs marked autostart that are not running, per host.",
    ),
    "kmod_failure": (
        "virtualization",
        "KVM ready",
        q("min by (instance) (kvm_host_kvm_ready{S})"),
        "bool",
        "1 where every KVM prerequisite holds.",
    ),
    "config_corruption": (
        "virtualization",
        "Corrupt config files",
        q("sum by (instance) (1 - kvm_libvirt_config_file_valid{S})"),
        "short",
        "libvirt configuration files that do not parse, per host.",
    ),
    "vswitch_down": (
        "network",
        "Bridges without uplink",
        q("sum by (instance) (1 - kvm_bridge_uplink_up{S})"),
        "short",
        "Linux bridges with no uplink port up, per host.",
    ),
    "routing_loop": (
        "network",
        "ICMP time exceeded",
        q("sum by (instance) (instance:kvm_netstat_icmp_time_excds:rate5m{S})"),
        "pps",
        "ICMP time-exceeded messages sent and received per second.",
    ),
    "traffic_storm": (
        "network",
        "Busiest interface",
        q("max by (instance) (instance_device:kvm_network_receive_packets:rate5m{S})"),
        "pps",
        "Packets per second received on the busiest interface of each host.",
    ),
    "iscsi_session": (
        "storage",
        "iSCSI sessions logged in",
        q("sum by (instance) (kvm_iscsi_session_logged_in{S})"),
        "short",
        "Logged-in iSCSI sessions per host.",
    ),
    "zfs_pool": (
        "storage",
        "ZFS pools not ONLINE",
        q('sum by (instance) (1 - kvm_zfs_pool_state{S,state="ONLINE"})'),
        "short",
        "ZFS pools that are not ONLINE, per host.",
    ),
    "virtual_disk": (
        "storage",
        "Corrupt VM disks",
        q('sum by (instance) (kvm_domain_disk_check_status{S,status="corrupt"})'),
        "short",
        "VM disk images qemu-img check found corrupt, per host.",
    ),
    "raid_degraded": (
        "storage",
        "Degraded md arrays",
        q("sum by (instance) (kvm_md_degraded{S} > bool 0)"),
        "short",
        "md arrays missing disks, per host.",
    ),
    "recovery_point": (
        "storage",
        "Oldest VM recovery point",
        q("max by (instance) (time() - instance_domain:kvm_domain_recovery_point:timestamp_seconds{S})"),
        "s",
        "Age of the oldest newest-snapshot among the VMs of each host.",
    ),
    "overcommit": (
        "capacity",
        "vCPU allocation",
        q("max by (instance) (instance:kvm_host_cpu_allocation:ratio{S})"),
        "percentunit",
        "vCPUs of running VMs per host CPU thread.",
    ),
    "exporter_health": (
        "exporter",
        "Failing collectors",
        q("sum by (instance) (1 - kvm_scrape_collector_success{S})"),
        "short",
        "Collectors of the exporter that failed in the last scrape, per host.",
    ),
}
LAYERS = ("hardware", "virtualization", "network", "storage", "capacity", "exporter")
ALERT_THRESHOLDS = {
    "cpu_overheat": [
        (THRESHOLDS["temperature_warning_celsius"], "orange"),
        (THRESHOLDS["temperature_critical_celsius"], "red"),
    ],
    "overcommit": [(THRESHOLDS["cpu_allocation_ratio"], "orange")],
    "recovery_point": [(THRESHOLDS["recovery_point_objective_seconds"], "orange")],
    "routing_loop": [(THRESHOLDS["routing_loop_time_exceeded_per_second"], "orange")],
}


def fleet() -> dict[str, Any]:
    rows = []
    for layer in LAYERS:
        panels = []
        for fault, (fault_layer, signal, expr, unit, signal_doc) in FAULTS.items():
            if fault_layer != layer:
                continue
            panels.append(
                Panel(
                    f"{fault}: firing alerts",
                    f"Alerts of fault `{fault}` firing, per host (ALERTS). Empty when "
                    "all is well; open the host dashboard or the alert's runbook.",
                    "short",
                    [
                        (
                            q(
                                f'count by (instance, alertname) (ALERTS{{S,alertstate="firing",layer="{layer}",fault="{fault}"}})'
                            ),
                            "{{instance}} {{alertname}}",
                        )
                    ],
                    faults_only=True,
                    steps=[(1, "red")],
                    links=[
                        (
                            "Host dashboard",
                            "/d/kvm-host?${__url_time_range}&var-instance=${__field.labels.instance}",
                        ),
                        ("Runbooks", RUNBOOKS),
                    ],
                )
            )
            panels.append(
                Panel(
                    f"{fault}: {signal}",
                    signal_doc,
                    unit,
                    [(expr, "{{instance}}")],
                    steps=ALERT_THRESHOLDS.get(fault, []),
                )
            )
        rows.append((layer.capitalize(), panels))
    ranking = Panel(
        "Hosts by worst state",
        "Firing alerts per host and severity, worst first.",
        "short",
        [(q('sort_desc(count by (instance, severity) (ALERTS{S,alertstate="firing"}))'), "")],
        kind="table",
        faults_only=True,
        links=[("Host dashboard", "/d/kvm-host?var-instance=${__data.fields.instance}")],
    )
    up = Panel(
        "Exporters up",
        "Whether Prometheus reaches each host's exporter.",
        "bool",
        [(q("up{S}"), "{{instance}}")],
        steps=[],
    )
    rows.insert(0, ("Fleet", [ranking, up]))
    return dashboard(
        "kvm-fleet",
        "KVM fleet fault map",
        "Every fault id of the taxonomy per layer: which hosts have it firing and its key signal.",
        rows,
    )


# --- host ------------------------------------------------------------------------------


def host() -> dict[str, Any]:
    t = THRESHOLDS
    temp_steps = [(t["temperature_warning_celsius"], "orange"), (t["temperature_critical_celsius"], "red")]
    rows: list[tuple[str, list[Panel]]] = [
        (
            "Thermal (cpu_overheat)",
            [
                Panel(
                    "Thermal zones",
                    "Temperature of each thermal zone.",
                    "celsius",
                    [(sel("kvm_thermal_zone_temperature_celsius"), "{{instance}} {{type}} {{zone}}")],
                    steps=temp_steps,
                ),
                Panel(
                    "Trip points",
                    "The zones' trip points (passive, hot, critical).",
                    "celsius",
                    [(sel("kvm_thermal_zone_trip_point_celsius"), "{{instance}} {{type}} {{trip_type}}")],
                ),
                Panel(
                    "Sensors",
                    "hwmon temperature sensors.",
                    "celsius",
                    [(sel("kvm_hwmon_temperature_celsius"), "{{instance}} {{chip}} {{sensor}}")],
                    steps=temp_steps,
                ),
                Panel(
                    "CPU throttling",
                    "Thermal throttle events per second, per core and package.",
                    "ops",
                    [
                        (f"sum by (instance) ({rate('kvm_cpu_core_throttles_total')})", "{{instance}} cores"),
                        (
                            f"sum by (instance) ({rate('kvm_cpu_package_throttles_total')})",
                            "{{instance}} packages",
                        ),
                    ],
                ),
                Panel(
                    "Fans",
                    "Fan speeds.",
                    "rotrpm",
                    [(sel("kvm_hwmon_fan_rpm"), "{{instance}} {{chip}} {{sensor}}")],
                ),
            ],
        ),
        (
            "Memory ECC (memory_ecc)",
            [
                Panel(
                    "Correctable errors per DIMM",
                    "Corrected ECC errors per second, per DIMM.",
                    "ops",
                    [
                        (
                            rate("kvm_edac_dimm_correctable_errors_total"),
                            "{{instance}} mc{{controller}} {{dimm}}",
                        )
                    ],
                ),
                Panel(
                    "Uncorrectable errors",
                    "Uncorrectable ECC errors per memory controller.",
                    "ops",
                    [(rate("kvm_edac_uncorrectable_errors_total"), "{{instance}} mc{{controller}}")],
                    faults_only=True,
                    steps=[(0.0001, "red")],
                ),
                Panel(
                    "Machine checks (kernel log)",
                    "Machine-check and EDAC errors the kernel logged.",
                    "short",
                    [
                        (
                            f"sum by (instance, kind) ({increase('kvm_kernel_hardware_errors_total')})",
                            "{{instance}} {{kind}}",
                        )
                    ],
                ),
            ],
        ),
        (
            "Disks: SMART (disk_smart)",
            [
                Panel(
                    "SMART health",
                    "1 where the disk passes its SMART self-assessment.",
                    "bool",
                    [(sel("kvm_smart_health_passed"), "{{instance}} {{device}}")],
                    steps=[],
                ),
                Panel(
                    "Failure predictors",
                    "Reallocated and pending sectors.",
                    "short",
                    [
                        (sel("kvm_smart_reallocated_sectors"), "{{instance}} {{device}} reallocated"),
                        (sel("kvm_smart_pending_sectors"), "{{instance}} {{device}} pending"),
                    ],
                    steps=[(1, "orange")],
                ),
                Panel(
                    "Disk temperature",
                    "Drive temperatures.",
                    "celsius",
                    [(sel("kvm_smart_temperature_celsius"), "{{instance}} {{device}}")],
                    steps=temp_steps,
                ),
                Panel(
                    "NVMe wear",
                    "Life used of NVMe drives.",
                    "percentunit",
                    [(sel("kvm_smart_nvme_percentage_used_ratio"), "{{instance}} {{device}}")],
                    steps=[(0.8, "orange")],
                ),
            ],
        ),
        (
            "Kernel events (process_oom)",
            [
                Panel(
                    "OOM kills",
                    "Processes the OOM killer killed, per command and VM.",
                    "short",
                    [
                        (
                            f"sum by (instance, comm, domain) ({increase('kvm_kernel_oom_kills_total')})",
                            "{{instance}} {{comm}} {{domain}}",
                        )
                    ],
                    faults_only=True,
                ),
                Panel(
                    "Block I/O errors",
                    "Block-layer errors per device.",
                    "short",
                    [
                        (
                            f"sum by (instance, device) ({increase('kvm_kernel_block_io_errors_total')})",
                            "{{instance}} {{device}}",
                        )
                    ],
                    faults_only=True,
                ),
                Panel(
                    "Memory pressure",
                    "Share of time all tasks stalled on memory (PSI full).",
                    "percentunit",
                    [(rate("kvm_host_pressure_full_seconds_total", 'resource="memory"'), "{{instance}}")],
                    steps=[(t["memory_pressure_full_ratio"], "orange")],
                ),
            ],
        ),
        (
            "KVM readiness and config (kmod_failure, config_corruption)",
            [
                Panel(
                    "KVM checks",
                    "Each KVM prerequisite: 1 holds, 0 fails (reason in the legend).",
                    "bool",
                    [(sel("kvm_host_kvm_check"), "{{instance}} {{check}} {{reason}}")],
                    kind="table",
                ),
                Panel(
                    "Config files not parsing",
                    "libvirt configuration files that are corrupt.",
                    "short",
                    [(sel("kvm_libvirt_config_file_valid") + " == 0", "{{instance}} {{path}}")],
                    faults_only=True,
                ),
                Panel(
                    "Config drift",
                    "Domains whose file differs from libvirt's definition.",
                    "short",
                    [(sel("kvm_domain_config_drift") + " == 1", "{{instance}} {{domain}}")],
                    faults_only=True,
                ),
            ],
        ),
        (
            "Links and redundancy (vswitch_down)",
            [
                Panel(
                    "Interfaces up",
                    "1 where the interface is up.",
                    "bool",
                    [(sel("kvm_network_up"), "{{instance}} {{device}}")],
                ),
                Panel(
                    "Bridge uplinks",
                    "1 where the bridge has an uplink port up.",
                    "bool",
                    [(sel("kvm_bridge_uplink_up"), "{{instance}} {{bridge}}")],
                ),
                Panel(
                    "Bond slaves active",
                    "Active slaves of each bond.",
                    "short",
                    [(sel("kvm_bond_active_slaves"), "{{instance}} {{bond}}")],
                ),
                Panel(
                    "Carrier changes",
                    "Link flaps per interface.",
                    "short",
                    [
                        (
                            f"sum by (instance, device) ({increase('kvm_network_carrier_changes_total')})",
                            "{{instance}} {{device}}",
                        )
                    ],
                ),
            ],
        ),
        (
            "Storm signals (traffic_storm, routing_loop)",
            [
                Panel(
                    "Received packets",
                    "Packets per second per interface.",
                    "pps",
                    [(rate("kvm_network_receive_packets_total"), "{{instance}} {{device}}")],
                    steps=[(t["storm_packets_per_second_floor"], "orange")],
                ),
                Panel(
                    "Multicast",
                    "Multicast packets received per second.",
                    "pps",
                    [(rate("kvm_network_receive_multicast_total"), "{{instance}} {{device}}")],
                ),
                Panel(
                    "Softnet drops",
                    "Packets dropped for a full CPU backlog, per second.",
                    "pps",
                    [(f"sum by (instance) ({rate('kvm_softnet_dropped_total')})", "{{instance}}")],
                    steps=[(t["softnet_drops_per_second"], "orange")],
                ),
                Panel(
                    "ICMP time exceeded",
                    "Time-exceeded messages in and out per second (routing loops).",
                    "pps",
                    [
                        (rate("kvm_netstat_icmp_in_time_excds_total"), "{{instance}} in"),
                        (rate("kvm_netstat_icmp_out_time_excds_total"), "{{instance}} out"),
                    ],
                    steps=[(t["routing_loop_time_exceeded_per_second"], "orange")],
                ),
                Panel(
                    "Conntrack fill",
                    "Conntrack table use.",
                    "percentunit",
                    [
                        (
                            sel("kvm_nf_conntrack_entries")
                            + " / on (job, instance) "
                            + sel("kvm_nf_conntrack_entries_limit"),
                            "{{instance}}",
                        )
                    ],
                    steps=[(t["conntrack_fill_ratio"], "orange")],
                ),
            ],
        ),
        (
            "iSCSI (iscsi_session)",
            [
                Panel(
                    "Sessions logged in",
                    "1 where the session is LOGGED_IN.",
                    "bool",
                    [(sel("kvm_iscsi_session_logged_in"), "{{instance}} {{target}} sid {{sid}}")],
                ),
                Panel(
                    "Expected logins",
                    "Node records set to log in automatically: 1 logged in, 0 missing.",
                    "bool",
                    [(sel("kvm_iscsi_node_logged_in"), "{{instance}} {{target}} {{portal}}")],
                ),
                Panel(
                    "iSCSI throughput",
                    "Data bytes per second per session.",
                    "Bps",
                    [
                        (rate("kvm_iscsi_session_tx_data_bytes_total"), "{{instance}} {{target}} tx"),
                        (rate("kvm_iscsi_session_rx_data_bytes_total"), "{{instance}} {{target}} rx"),
                    ],
                ),
            ],
        ),
        (
            "ZFS and md RAID (zfs_pool, raid_degraded)",
            [
                Panel(
                    "Pool state",
                    "1 for each pool's current state.",
                    "short",
                    [(sel("kvm_zfs_pool_state") + " == 1", "{{instance}} {{pool}} {{state}}")],
                    kind="table",
                ),
                Panel(
                    "Pool capacity",
                    "Share of each pool in use.",
                    "percentunit",
                    [(sel("kvm_zfs_pool_capacity_ratio"), "{{instance}} {{pool}}")],
                    steps=[(t["zfs_capacity_ratio"], "orange")],
                ),
                Panel(
                    "Vdev errors",
                    "New read/write/checksum errors per vdev.",
                    "short",
                    [
                        (
                            f"sum by (instance, pool, vdev) ({increase('kvm_zfs_vdev_read_errors_total')} + "
                            f"{increase('kvm_zfs_vdev_write_errors_total')} + {increase('kvm_zfs_vdev_checksum_errors_total')})",
                            "{{instance}} {{pool}} {{vdev}}",
                        )
                    ],
                ),
                Panel(
                    "Last scrub",
                    "Time since each pool's last finished scrub.",
                    "s",
                    [
                        (
                            "time() - " + sel("kvm_zfs_pool_last_scrub_end_time_seconds"),
                            "{{instance}} {{pool}}",
                        )
                    ],
                    steps=[(t["zfs_scrub_max_age_seconds"], "orange")],
                ),
                Panel(
                    "ARC hit ratio",
                    "Share of ARC reads served from memory.",
                    "percentunit",
                    [
                        (
                            f"{rate('kvm_zfs_arc_hits_total')} / on (job, instance) ({rate('kvm_zfs_arc_hits_total')} + "
                            f"{rate('kvm_zfs_arc_misses_total')})",
                            "{{instance}}",
                        )
                    ],
                ),
                Panel(
                    "md arrays degraded",
                    "Disks missing per md array.",
                    "short",
                    [(sel("kvm_md_degraded"), "{{instance}} {{device}}")],
                    steps=[(1, "red")],
                ),
                Panel(
                    "md sync progress",
                    "Progress of recoveries, resyncs and checks.",
                    "percentunit",
                    [(sel("kvm_md_sync_progress_ratio"), "{{instance}} {{device}}")],
                    faults_only=True,
                ),
            ],
        ),
        (
            "Capacity (overcommit)",
            [
                Panel(
                    "vCPU allocation",
                    "vCPUs of running VMs per host CPU thread.",
                    "percentunit",
                    [(sel("instance:kvm_host_cpu_allocation:ratio"), "{{instance}}")],
                    steps=[(t["cpu_allocation_ratio"], "orange")],
                ),
                Panel(
                    "Memory allocation",
                    "Memory of running VMs per host memory.",
                    "percentunit",
                    [(sel("instance:kvm_host_memory_allocation:ratio"), "{{instance}}")],
                    steps=[(t["memory_allocation_ratio"], "orange")],
                ),
                Panel(
                    "Host CPU busy",
                    "Share of CPU time not idle.",
                    "percentunit",
                    [(sel("instance:kvm_host_cpu_busy:ratio_rate5m"), "{{instance}}")],
                    steps=[(t["host_cpu_busy_ratio"], "orange")],
                ),
                Panel(
                    "Host memory available",
                    "Memory available for new work.",
                    "bytes",
                    [(sel("kvm_host_meminfo_available_bytes"), "{{instance}}")],
                ),
            ],
        ),
    ]
    return dashboard(
        "kvm-host",
        "KVM host",
        "One hypervisor: hardware, kernel events, KVM readiness, links, storage and capacity.",
        rows,
    )


# --- VM --------------------------------------------------------------------------------


def vm() -> dict[str, Any]:
    d = 'domain=~"$domain"'
    rows: list[tuple[str, list[Panel]]] = [
        (
            "State",
            [
                Panel(
                    "State and reason",
                    "The VM's libvirt state with the reason for it.",
                    "short",
                    [(sel("kvm_domain_state_info", d), "{{instance}} {{domain}} {{state}} ({{reason}})")],
                    kind="state-timeline",
                ),
                Panel(
                    "Lifecycle events",
                    "Crashes, stops, pauses on I/O error and watchdog events.",
                    "short",
                    [
                        (
                            f"sum by (domain, event, detail) ({increase('kvm_domain_lifecycle_events_total', d)})",
                            "{{domain}} {{event}}/{{detail}}",
                        )
                    ],
                    faults_only=True,
                ),
                Panel(
                    "OOM kills",
                    "The VM's QEMU killed by the OOM killer.",
                    "short",
                    [(f"sum by (domain) ({increase('kvm_kernel_oom_kills_total', d)})", "{{domain}}")],
                    faults_only=True,
                ),
            ],
        ),
        (
            "CPU",
            [
                Panel(
                    "CPU",
                    "CPU time the VM used, in CPUs.",
                    "short",
                    [(rate("kvm_domain_cpu_seconds_total", d), "{{domain}}")],
                ),
                Panel(
                    "vCPU time",
                    "Time each vCPU ran, in CPUs.",
                    "short",
                    [(rate("kvm_domain_vcpu_seconds_total", d), "{{domain}} vcpu{{vcpu}}")],
                ),
                Panel(
                    "vCPU wait and steal",
                    "Time vCPUs waited for I/O and for a host CPU (steal).",
                    "percentunit",
                    [
                        (rate("kvm_domain_vcpu_wait_seconds_total", d), "{{domain}} vcpu{{vcpu}} wait"),
                        (rate("kvm_domain_vcpu_delay_seconds_total", d), "{{domain}} vcpu{{vcpu}} steal"),
                    ],
                ),
            ],
        ),
        (
            "Memory",
            [
                Panel(
                    "Memory and balloon",
                    "Current (balloon) and maximum memory.",
                    "bytes",
                    [
                        (sel("kvm_domain_memory_current_bytes", d), "{{domain}} current"),
                        (sel("kvm_domain_memory_maximum_bytes", d), "{{domain}} maximum"),
                    ],
                ),
                Panel(
                    "Guest memory",
                    "Resident memory of the VM on the host, and usable/unused memory as the guest's "
                    "balloon driver reports it (absent without the driver).",
                    "bytes",
                    [
                        (sel("kvm_domain_memory_rss_bytes", d), "{{domain}} resident"),
                        (sel("kvm_domain_memory_usable_bytes", d), "{{domain}} usable"),
                        (sel("kvm_domain_memory_unused_bytes", d), "{{domain}} unused"),
                    ],
                ),
                Panel(
                    "QEMU overhead",
                    "QEMU resident memory beyond guest RAM.",
                    "bytes",
                    [(sel("kvm_domain_qemu_memory_overhead_bytes", d), "{{domain}}")],
                ),
            ],
        ),
        (
            "Disks",
            [
                Panel(
                    "Disk IOPS",
                    "Read and write requests per second per disk.",
                    "iops",
                    [
                        (rate("kvm_domain_block_read_requests_total", d), "{{domain}} {{target}} read"),
                        (rate("kvm_domain_block_write_requests_total", d), "{{domain}} {{target}} write"),
                    ],
                ),
                Panel(
                    "Disk throughput",
                    "Bytes read and written per second per disk.",
                    "Bps",
                    [
                        (rate("kvm_domain_block_read_bytes_total", d), "{{domain}} {{target}} read"),
                        (rate("kvm_domain_block_write_bytes_total", d), "{{domain}} {{target}} write"),
                    ],
                ),
                Panel(
                    "Disk latency",
                    "Average time per request.",
                    "s",
                    [
                        (
                            f"{rate('kvm_domain_block_read_seconds_total', d)} / {rate('kvm_domain_block_read_requests_total', d)}",
                            "{{domain}} {{target}} read",
                        ),
                        (
                            f"{rate('kvm_domain_block_write_seconds_total', d)} / {rate('kvm_domain_block_write_requests_total', d)}",
                            "{{domain}} {{target}} write",
                        ),
                    ],
                ),
                Panel(
                    "Disk errors",
                    "Disk errors that paused the VM.",
                    "short",
                    [(sel("kvm_domain_disk_error", d), "{{domain}} {{target}} {{error}}")],
                    faults_only=True,
                ),
                Panel(
                    "Disk integrity",
                    "Latest qemu-img check result per disk.",
                    "short",
                    [(sel("kvm_domain_disk_check_status", d) + " == 1", "{{domain}} {{target}} {{status}}")],
                    kind="table",
                    faults_only=True,
                ),
            ],
        ),
        (
            "Network and jobs",
            [
                Panel(
                    "vNIC traffic",
                    "Bytes per second per vNIC.",
                    "Bps",
                    [
                        (rate("kvm_domain_interface_receive_bytes_total", d), "{{domain}} {{target}} rx"),
                        (rate("kvm_domain_interface_transmit_bytes_total", d), "{{domain}} {{target}} tx"),
                    ],
                ),
                Panel(
                    "vNIC drops",
                    "Dropped packets per second per vNIC.",
                    "pps",
                    [
                        (rate("kvm_domain_interface_receive_drops_total", d), "{{domain}} {{target}} rx"),
                        (rate("kvm_domain_interface_transmit_drops_total", d), "{{domain}} {{target}} tx"),
                    ],
                ),
                Panel(
                    "Migration jobs",
                    "Data left to transfer by a running job (migration, save, ...).",
                    "bytes",
                    [(sel("kvm_domain_job_data_remaining_bytes", d), "{{domain}}")],
                    faults_only=True,
                ),
            ],
        ),
    ]
    domain = variable(
        "domain", 'label_values(kvm_domain_info{job=~"$job", instance=~"$instance"}, domain)', "VM"
    )
    return dashboard(
        "kvm-vm",
        "KVM VM",
        "One or more VMs: state with reasons, CPU, memory, disks, network, jobs.",
        rows,
        [domain],
    )


DASHBOARDS = {"kvm-fleet.json": fleet, "kvm-host.json": host, "kvm-vm.json": vm}


def panels_of(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] != "row"]


def faults_only_panels() -> set[tuple[str, str]]:
    """(dashboard uid, panel title) of the panels that show data only while something is
    wrong: empty is their healthy state."""
    FAULTS_ONLY.clear()
    for build in DASHBOARDS.values():
        build()
    return set(FAULTS_ONLY)


def generate(out: Path = HERE) -> list[Path]:
    written = []
    for name, build in DASHBOARDS.items():
        path = out / name
        path.write_text(json.dumps(build(), indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    print("\n".join(str(p) for p in generate()))

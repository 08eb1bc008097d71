"""The fleet fault map: every fault id of the taxonomy (alerts/taxonomy.yml) per layer, which
hosts have it firing and its key signal."""

from __future__ import annotations

from typing import Any

from panels import Panel, Thresholds, dashboard, increase, q, rate, variable
from taxonomy import FAULTS, LAYERS

# fault id -> (key signal title, expr, unit, description); every fault id needs one
SIGNALS: dict[str, tuple[str, str, str, str]] = {
    "cpu_overheat": (
        "Hottest thermal zone",
        q("max by (instance) (kvm_thermal_zone_temperature_celsius{S})"),
        "celsius",
        "The hottest thermal zone per host.",
    ),
    "memory_ecc": (
        "ECC errors",
        q(f"sum by (instance) ({increase('kvm_edac_correctable_errors_total')})"),
        "short",
        "Corrected ECC errors per host in each interval.",
    ),
    "disk_smart": (
        "Disks failing SMART",
        q("sum by (instance) (1 - kvm_smart_health_passed{S})"),
        "short",
        "Disks whose SMART self-assessment fails, per host.",
    ),
    "process_oom": (
        "OOM kills",
        q(f"sum by (instance) ({increase('kvm_host_oom_kills_total')})"),
        "short",
        "Processes killed by the OOM killer per host in each interval.",
    ),
    "domain_failure": (
        "Autostart VMs down",
        q("sum by (instance) (kvm_domain_autostart_not_running{S})"),
        "short",
        "VMs marked autostart that are not running, per host.",
    ),
    "kmod_failure": (
        "KVM ready",
        q("min by (instance) (kvm_host_kvm_ready{S})"),
        "bool",
        "1 where every KVM prerequisite holds.",
    ),
    "vm_health": (
        "VMs paused (not on I/O error)",
        q('sum by (instance) (kvm_domain_state_info{S,state="paused",reason!="ioerror"}'
          " or kvm_domain_state_info{S} * 0)"),  # 0, not no data, on a host whose VMs all run
        "short",
        "VMs paused for any reason but an I/O error (user, migration, watchdog, ...), per host.",
    ),
    "config_corruption": (
        "Corrupt config files",
        q("sum by (instance) (1 - kvm_libvirt_config_file_valid{S})"),
        "short",
        "libvirt configuration files that do not parse, per host.",
    ),
    "vswitch_down": (
        "Bridges without uplink",
        q("sum by (instance) (1 - kvm_bridge_uplink_up{S})"),
        "short",
        "Linux bridges with no uplink port up, per host.",
    ),
    "routing_loop": (
        "ICMP time exceeded",
        q("sum by (instance) (instance:kvm_netstat_icmp_time_excds:rate5m{S})"),
        "pps",
        "ICMP time-exceeded messages sent and received per second.",
    ),
    "traffic_storm": (
        "Busiest interface",
        q("max by (instance) (instance_device:kvm_network_receive_packets:rate5m{S})"),
        "pps",
        "Packets per second received on the busiest interface of each host.",
    ),
    "network_latency": (
        "Worst probe loss",
        q("max by (instance) (instance_target:kvm_probe_loss:ratio5m{S})"),
        "percentunit",
        "The probe target losing the most probes over 5 minutes, per host.",
    ),
    "iscsi_session": (
        "iSCSI sessions logged in",
        q("sum by (instance) (kvm_iscsi_session_logged_in{S})"),
        "short",
        "Logged-in iSCSI sessions per host.",
    ),
    "zfs_pool": (
        "ZFS pools not ONLINE",
        q('sum by (instance) (1 - kvm_zfs_pool_state{S,state="ONLINE"})'),
        "short",
        "ZFS pools that are not ONLINE, per host.",
    ),
    "virtual_disk": (
        "Corrupt VM disks",
        q('sum by (instance) (kvm_domain_disk_check_status{S,status="corrupt"})'),
        "short",
        "VM disk images qemu-img check found corrupt, per host.",
    ),
    "raid_degraded": (
        "Degraded md arrays",
        q("sum by (instance) (kvm_md_degraded{S} > bool 0)"),
        "short",
        "md arrays missing disks, per host.",
    ),
    "recovery_point": (
        "Oldest VM recovery point",
        q("max by (instance) (time() - instance_domain:kvm_domain_recovery_point:timestamp_seconds{S})"),
        "s",
        "Age of the oldest newest-snapshot among the VMs of each host.",
    ),
    "cluster_quorum": (
        "Cluster nodes without quorum",
        q("sum by (instance) (1 - kvm_corosync_quorate{S})"),
        "short",
        "1 where the host's corosync partition has no quorum.",
    ),
    "ha_resource": (
        "Failed cluster resources",
        q('sum by (instance) (kvm_pacemaker_resource_status{S,status=~"failed|blocked"})'),
        "short",
        "Pacemaker resource instances failed or blocked, as each host sees its cluster.",
    ),
    "replication_lag": (
        "DRBD out of sync",
        q("max by (instance) (kvm_drbd_peer_device_out_of_sync_bytes{S})"),
        "bytes",
        "The largest DRBD volume's data out of sync with its peer, per host.",
    ),
    "overcommit": (
        "vCPU allocation",
        q("max by (instance) (instance:kvm_host_cpu_allocation:ratio{S})"),
        "percentunit",
        "vCPUs of running VMs per host CPU thread.",
    ),
    "exporter_health": (
        "Failing collectors",
        q("sum by (instance) (1 - kvm_scrape_collector_success{S})"),
        "short",
        "Collectors of the exporter that failed in the last scrape, per host.",
    ),
    "remediation": (
        "Self-heal ratio (1 day)",
        'job:kvm_remediator_self_heal:ratio1d{job=~"$remediator_job"}',
        "percentunit",
        "Share of the alerts that recovered over the last day which kvm-remediator healed (target 85%).",
    ),
}

# kvm-remediator's own series: their job is the remediator_job variable, not the exporter's.
RSEL = 'job=~"$remediator_job"'
REMEDIATOR_JOB = variable("remediator_job", "label_values(kvm_remediator_build_info, job)", "Remediator job")
SELF_HEALING = [
    Panel("Mean time to recover (1 day)",
          "Alerts from firing to recovered, mean over the last day (target: under 8 minutes).", "s",
          [(f"job:kvm_remediator_time_to_recover_seconds:mean1d{{{RSEL}}}", "mean")], steps=[(480, "red")]),
    Panel("Time to recover, p50 and p90, healed and not",
          "Quantiles of the time from firing to recovered, for alerts an action healed and for the others.", "s",
          [(f"histogram_quantile({p}, sum by (le, remediated) "
            f"(rate(kvm_remediator_time_to_recover_seconds_bucket{{{RSEL}}}[$__rate_interval])))",
            f"p{int(p * 100)} healed={{{{remediated}}}}") for p in (0.5, 0.9)]),
    Panel("Actions by result",
          "Decisions of the remediators per second: succeeded, failed, refused (precondition), not_needed, "
          "dry_run, rate_limited, cooldown, circuit_open.", "ops",
          [(f"sum by (action, result) (rate(kvm_remediator_actions_total{{{RSEL}}}[$__rate_interval]))",
            "{{action}} {{result}}")]),
    Panel("Open circuit breakers",
          "Targets on which a remediator gave up after repeated failures.", "short",
          [(f"kvm_remediator_circuit_breaker_open{{{RSEL}}} == 1", "{{instance}} {{action}} {{target}}")],
          kind="table", faults_only=True),
    Panel("Remediators up and their mode",
          "Whether Prometheus reaches each kvm-remediator, and whether it acts (enforce) or only audits (dry-run).",
          "short", [(f"up{{{RSEL}}} * on (job, instance) group_left (mode) kvm_remediator_build_info{{{RSEL}}}",
                     "{{instance}} {{mode}}")]),
]


def alert_steps(t: Thresholds) -> dict[str, list[tuple[float, str]]]:
    """Threshold steps of the key signals, where the alerts fire."""
    return {
        "cpu_overheat": [
            (t["temperature_warning_celsius"], "orange"),
            (t["temperature_critical_celsius"], "red"),
        ],
        "overcommit": [(t["cpu_allocation_ratio"], "orange")],
        "recovery_point": [(t["recovery_point_objective_seconds"], "orange")],
        "routing_loop": [(t["routing_loop_time_exceeded_per_second"], "orange")],
    }


def build(t: Thresholds, runbooks: str) -> dict[str, Any]:
    missing = [fault for fault in FAULTS if fault not in SIGNALS]
    if missing:
        raise ValueError(f"no key signal for fault ids {missing} (dashboards/fleet.py SIGNALS)")
    steps = alert_steps(t)
    rows = []
    for layer in LAYERS:
        panels = []
        for fault in (f.id for f in FAULTS.values() if f.layer == layer):
            signal, expr, unit, signal_doc = SIGNALS[fault]
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
                        ("Runbooks", runbooks),
                    ],
                )
            )
            panels.append(
                Panel(
                    f"{fault}: {signal}",
                    signal_doc,
                    unit,
                    [(expr, "{{instance}}")],
                    steps=steps.get(fault, []),
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
    states = Panel(
        "VMs per state per host",
        "How many VMs each host has in each libvirt state over time (running, paused, shutoff, "
        "crashed, ...): a fleet-wide timeline of VM states.",
        "short",
        [(q("count by (instance, state) (kvm_domain_state_info{S})"), "{{instance}} {{state}}")],
        kind="status-history",
    )
    iops = Panel(
        "Fleet disk IOPS",
        "Read and write requests per second of every VM disk, per host, and the fleet's total.",
        "iops",
        [(f"sum by (instance) ({rate('kvm_domain_block_read_requests_total')} + "
          f"{rate('kvm_domain_block_write_requests_total')})", "{{instance}}"),
         (f"sum ({rate('kvm_domain_block_read_requests_total')} + "
          f"{rate('kvm_domain_block_write_requests_total')})", "fleet")],
    )
    rows.insert(0, ("Fleet", [ranking, up, states, iops]))
    rows.append(("Self-healing", SELF_HEALING))
    return dashboard(
        "kvm-fleet",
        "KVM fleet fault map",
        "Every fault id of the taxonomy per layer: which hosts have it firing and its key signal.",
        rows,
        extra_variables=[REMEDIATOR_JOB],
    )

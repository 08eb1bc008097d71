"""The alerting bundle as data: recording rules, alerts (one or more per fault id of the
taxonomy), their runbooks and their `promtool test rules` cases.

`generate.py` turns this into `rules/*.rules.yml`, `runbooks/<Alert>.md` and
`tests/*.test.yml`. Expressions are `string.Template`s over the config (`$sel` is the
selector, `$<threshold>` a threshold); annotations are Prometheus templates, untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

J = 'job="kvm-exporter",instance="hv1:9978"'  # the labels of every test series


@dataclass(frozen=True)
class Case:
    """A promtool alert test. `labels` None: the alert must not fire at `at`."""

    series: dict[str, str]
    at: str
    labels: dict[str, str] | None = None
    description: str = ""


@dataclass(frozen=True)
class Alert:
    name: str
    layer: str
    fault: str
    severity: str
    expr: str
    for_: str
    summary: str
    description: str
    impact: str
    diagnosis: list[str]
    mitigation: list[str]
    dashboard: str
    cases: list[Case] = field(default_factory=list)
    extra_labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    record: str
    expr: str


RECORDS = [
    Record("instance:kvm_host_cpu_allocation:ratio",
           'sum by (job, instance) (kvm_host_allocated_vcpus{$sel,scope="active"})'
           " / on (job, instance) kvm_host_cpus{$sel}"),
    Record("instance:kvm_host_memory_allocation:ratio",
           'sum by (job, instance) (kvm_host_allocated_memory_bytes{$sel,scope="active"})'
           " / on (job, instance) kvm_host_memory_bytes{$sel}"),
    Record("instance:kvm_host_cpu_busy:ratio_rate5m",
           '1 - sum by (job, instance) (rate(kvm_host_cpu_seconds_total{$sel,mode=~"idle|iowait"}[5m]))'
           " / on (job, instance) sum by (job, instance) (rate(kvm_host_cpu_seconds_total{$sel}[5m]))"),
    Record("instance:kvm_netstat_icmp_time_excds:rate5m",
           "sum by (job, instance) (rate(kvm_netstat_icmp_in_time_excds_total{$sel}[5m])"
           " + rate(kvm_netstat_icmp_out_time_excds_total{$sel}[5m]))"),
    Record("instance_device:kvm_network_receive_packets:rate5m",
           "rate(kvm_network_receive_packets_total{$sel}[5m])"),
    # The baseline leaves out the last hour, so a storm does not raise its own yardstick.
    Record("instance_device:kvm_network_receive_packets:rate5m_avg1w",
           "avg_over_time(instance_device:kvm_network_receive_packets:rate5m[1w] offset 1h)"),
    Record("instance_pool:kvm_zfs_write_amplification:ratio_rate1h",
           'sum by (job, instance, pool) (rate(kvm_zfs_pool_io_total{$sel,stat="nwritten"}[1h]))'
           " / on (job, instance, pool)"
           " sum by (job, instance, pool) (rate(kvm_zfs_dataset_written_bytes_total{$sel}[1h])) > 0"),
    Record("instance_domain:kvm_domain_recovery_point:timestamp_seconds",
           "max by (job, instance, domain) ("
           "kvm_domain_newest_snapshot_timestamp_seconds{$sel}"
           " or (kvm_domain_disk_zfs_dataset_info{$sel}"
           " * on (job, instance, dataset) group_left ()"
           " kvm_zfs_dataset_newest_snapshot_timestamp_seconds{$sel}))"),
]

def grew(metric: str, window: str, by: str) -> str:
    """`metric` grew within `window`, counting a series that first appeared within it: the
    exporter's event counters (a domain's first crash, a new error code) start at 1 when the
    event happens. `up offset` keeps a target Prometheus has only just found from firing."""
    return (f"sum by ({by}) (increase({metric}[{window}])) > 0"
            f" or sum by ({by}) (({metric} unless {metric} offset {window})"
            f" and on (job, instance) (up{{$sel}} offset {window}) == 1) > 0")


HOST = "{{ $labels.instance }}"
VM = "{{ $labels.domain }}"


def s(name: str, labels: str = "") -> str:
    """A test series selector with the job/instance labels."""
    return f"{name}{{{J}{',' + labels if labels else ''}}}"


ALERTS: list[Alert] = [
    # --- hardware ------------------------------------------------------------------
    Alert(
        "HostThermalZoneHot", "hardware", "cpu_overheat", "warning",
        "kvm_thermal_zone_temperature_celsius{$sel}"
        " >= on (job, instance, zone, type) group_left ()"
        " min by (job, instance, zone, type) (kvm_thermal_zone_trip_point_celsius{$sel,trip_type=~\"passive|hot\"})"
        " or (kvm_thermal_zone_temperature_celsius{$sel} >= $temperature_warning_celsius"
        " unless on (job, instance, zone) kvm_thermal_zone_trip_point_celsius{$sel})",
        "5m", "A thermal zone reached its passive/hot trip point.",
        f"Thermal zone {{{{ $labels.zone }}}} ({{{{ $labels.type }}}}) on {HOST} is at {{{{ $value }}}} °C, "
        "at or above its first passive/hot trip point (or the configured warning level).",
        "The CPU or board throttles to cool down: every VM on the host slows. Left alone it reaches "
        "the critical trip point and the host powers off.",
        ["`cat /sys/class/thermal/thermal_zone*/temp` and `.../trip_point_*_{temp,type}`",
         "`sensors` (lm-sensors) for fans and other sensors", "`ipmitool sdr type Temperature` / the BMC event log"],
        ["Check fans and airflow (BMC, datacenter temperature); clean or replace failed fans.",
         "Move load away: live-migrate busy VMs (`virsh migrate --live DOMAIN qemu+ssh://OTHER/system`).",
         "If it keeps rising, evacuate the host and power it off before the critical trip point does."],
        "KVM host", [
            Case({s("kvm_thermal_zone_temperature_celsius", 'zone="1",type="x86_pkg_temp"'): "90x20",
                  s("kvm_thermal_zone_trip_point_celsius", 'zone="1",type="x86_pkg_temp",trip="0",trip_type="passive"'): "85x20"},
                 "10m", {"zone": "1", "type": "x86_pkg_temp"},
                 "Thermal zone 1 (x86_pkg_temp) on hv1:9978 is at 90 °C, at or above its first passive/hot "
                 "trip point (or the configured warning level)."),
            Case({s("kvm_thermal_zone_temperature_celsius", 'zone="1",type="x86_pkg_temp"'): "70x20",
                  s("kvm_thermal_zone_trip_point_celsius", 'zone="1",type="x86_pkg_temp",trip="0",trip_type="passive"'): "85x20"},
                 "10m"),
            Case({s("kvm_thermal_zone_temperature_celsius", 'zone="1",type="x86_pkg_temp"'): "70 90 90 70x10",
                  s("kvm_thermal_zone_trip_point_celsius", 'zone="1",type="x86_pkg_temp",trip="0",trip_type="passive"'): "85x20"},
                 "8m"),
        ]),
    Alert(
        "HostThermalZoneCritical", "hardware", "cpu_overheat", "critical",
        "kvm_thermal_zone_temperature_celsius{$sel}"
        " >= on (job, instance, zone, type) group_left ()"
        " min by (job, instance, zone, type) (kvm_thermal_zone_trip_point_celsius{$sel,trip_type=\"critical\"}) - 5"
        " or (kvm_thermal_zone_temperature_celsius{$sel} >= $temperature_critical_celsius"
        " unless on (job, instance, zone) kvm_thermal_zone_trip_point_celsius{$sel})",
        "1m", "A thermal zone is within 5 °C of its critical trip point.",
        f"Thermal zone {{{{ $labels.zone }}}} ({{{{ $labels.type }}}}) on {HOST} is at {{{{ $value }}}} °C, "
        "within 5 °C of its critical trip point (or above the configured critical level).",
        "At the critical trip point the kernel shuts the host down: every VM on it stops at once.",
        ["`cat /sys/class/thermal/thermal_zone*/temp`", "`journalctl -k | grep -i -e thermal -e critical`"],
        ["Live-migrate or shut down VMs now, most important first.", "Fix cooling before powering back on."],
        "KVM host", [
            Case({s("kvm_thermal_zone_temperature_celsius", 'zone="1",type="x86_pkg_temp"'): "101x10",
                  s("kvm_thermal_zone_trip_point_celsius", 'zone="1",type="x86_pkg_temp",trip="2",trip_type="critical"'): "105x10"},
                 "5m", {"zone": "1", "type": "x86_pkg_temp"},
                 "Thermal zone 1 (x86_pkg_temp) on hv1:9978 is at 101 °C, within 5 °C of its critical trip "
                 "point (or above the configured critical level)."),
            Case({s("kvm_thermal_zone_temperature_celsius", 'zone="1",type="x86_pkg_temp"'): "90x10",
                  s("kvm_thermal_zone_trip_point_celsius", 'zone="1",type="x86_pkg_temp",trip="2",trip_type="critical"'): "105x10"},
                 "5m"),
        ]),
    Alert(
        "HostSensorTemperatureHigh", "hardware", "cpu_overheat", "warning",
        "kvm_hwmon_temperature_celsius{$sel}"
        " >= on (job, instance, chip, sensor) kvm_hwmon_temperature_max_celsius{$sel}"
        " or (kvm_hwmon_temperature_celsius{$sel} >= $temperature_warning_celsius"
        " unless on (job, instance, chip, sensor) kvm_hwmon_temperature_max_celsius{$sel})",
        "5m", "A hardware temperature sensor is at or above its max.",
        f"Sensor {{{{ $labels.sensor }}}} of {{{{ $labels.chip }}}} on {HOST} reads {{{{ $value }}}} °C, at or "
        "above its own max (or the configured warning level where it has none).",
        "The component (CPU package, DIMM, NIC, disk controller) runs hot; it throttles or errs next.",
        ["`sensors`", "`cat /sys/class/hwmon/hwmon*/{name,temp*_input,temp*_max}`"],
        ["Check fans and airflow for that component.", "Reduce load (migrate VMs) until it cools down."],
        "KVM host", [
            Case({s("kvm_hwmon_temperature_celsius", 'chip="platform_coretemp_0",sensor="temp1"'): "86x10",
                  s("kvm_hwmon_temperature_max_celsius", 'chip="platform_coretemp_0",sensor="temp1"'): "84x10"},
                 "8m", {"chip": "platform_coretemp_0", "sensor": "temp1"},
                 "Sensor temp1 of platform_coretemp_0 on hv1:9978 reads 86 °C, at or above its own max (or the "
                 "configured warning level where it has none)."),
            Case({s("kvm_hwmon_temperature_celsius", 'chip="platform_coretemp_0",sensor="temp1"'): "55x10",
                  s("kvm_hwmon_temperature_max_celsius", 'chip="platform_coretemp_0",sensor="temp1"'): "84x10"},
                 "8m"),
        ]),
    Alert(
        "HostSensorTemperatureCritical", "hardware", "cpu_overheat", "critical",
        "kvm_hwmon_temperature_celsius{$sel}"
        " >= on (job, instance, chip, sensor) kvm_hwmon_temperature_crit_celsius{$sel}"
        " or (kvm_hwmon_temperature_celsius{$sel} >= $temperature_critical_celsius"
        " unless on (job, instance, chip, sensor) kvm_hwmon_temperature_crit_celsius{$sel})",
        "1m", "A hardware temperature sensor reached its critical level.",
        f"Sensor {{{{ $labels.sensor }}}} of {{{{ $labels.chip }}}} on {HOST} reads {{{{ $value }}}} °C, at or "
        "above its own crit (or the configured critical level where it has none).",
        "The component is about to shut itself down or fail; the host may power off to protect it.",
        ["`sensors`", "`cat /sys/class/hwmon/hwmon*/{name,temp*_input,temp*_crit}`", "the BMC event log"],
        ["Live-migrate or shut down VMs now.", "Fix cooling for the component before bringing load back."],
        "KVM host", [
            Case({s("kvm_hwmon_temperature_celsius", 'chip="platform_coretemp_0",sensor="temp1"'): "101x10",
                  s("kvm_hwmon_temperature_crit_celsius", 'chip="platform_coretemp_0",sensor="temp1"'): "100x10"},
                 "5m", {"chip": "platform_coretemp_0", "sensor": "temp1"},
                 "Sensor temp1 of platform_coretemp_0 on hv1:9978 reads 101 °C, at or above its own crit (or the "
                 "configured critical level where it has none)."),
            Case({s("kvm_hwmon_temperature_celsius", 'chip="platform_coretemp_0",sensor="temp1"'): "101x10",
                  s("kvm_hwmon_temperature_crit_celsius", 'chip="platform_coretemp_0",sensor="temp1"'): "105x10"},
                 "5m"),
            Case({s("kvm_hwmon_temperature_celsius", 'chip="nct6779",sensor="temp3"'): "96x10"}, "5m",
                 {"chip": "nct6779", "sensor": "temp3"},
                 "Sensor temp3 of nct6779 on hv1:9978 reads 96 °C, at or above its own crit (or the configured "
                 "critical level where it has none)."),
        ]),
    Alert(
        "HostCpuThrottling", "hardware", "cpu_overheat", "warning",
        "sum by (job, instance) (increase(kvm_cpu_core_throttles_total{$sel}[10m])"
        " or increase(kvm_cpu_package_throttles_total{$sel}[10m])) > 0",
        "10m", "CPUs are being throttled for heat.",
        f"CPUs on {HOST} were thermally throttled {{{{ $value }}}} times in the last 10 minutes.",
        "Throttled cores run slower: VM CPU time and latency suffer; it precedes higher temperatures.",
        ["`grep . /sys/devices/system/cpu/cpu*/thermal_throttle/*_count`", "`turbostat --quiet sleep 5`"],
        ["Check cooling as for HostThermalZoneHot.", "Spread busy VMs over other hosts."],
        "KVM host", [
            Case({s("kvm_cpu_core_throttles_total", 'core="0",package="0"'): "0+5x30"},
                 "20m", {}, "CPUs on hv1:9978 were thermally throttled 50 times in the last 10 minutes."),
            Case({s("kvm_cpu_core_throttles_total", 'core="0",package="0"'): "7x30"}, "20m"),
        ]),
    Alert(
        "HostMemoryUncorrectableErrors", "hardware", "memory_ecc", "critical",
        "sum by (job, instance, controller) (increase(kvm_edac_uncorrectable_errors_total{$sel}[10m])) > 0",
        "0m", "Uncorrectable memory (ECC) errors.",
        f"Memory controller {{{{ $labels.controller }}}} on {HOST} reported {{{{ $value }}}} uncorrectable "
        "ECC errors in the last 10 minutes.",
        "Data in RAM was lost: a process or VM may have crashed or hold corrupt data; the kernel may panic.",
        ["`grep . /sys/devices/system/edac/mc/mc*/dimm*/{dimm_label,dimm_ue_count}`",
         "`journalctl -k | grep -i -e EDAC -e mce`", "`ras-mc-ctl --errors` (rasdaemon)", "the BMC event log"],
        ["Evacuate the host: live-migrate VMs away now.", "Replace the DIMM the labels point to.",
         "Check the VMs that ran here for crashes or corruption."],
        "KVM host", [
            Case({s("kvm_edac_uncorrectable_errors_total", 'controller="0"'): "0x5 1x10"}, "12m",
                 {"controller": "0"},
                 "Memory controller 0 on hv1:9978 reported 1 uncorrectable ECC errors in the last 10 minutes."),
            Case({s("kvm_edac_uncorrectable_errors_total", 'controller="0"'): "5x20"}, "15m"),
        ]),
    Alert(
        "HostMemoryCorrectableErrorsHigh", "hardware", "memory_ecc", "warning",
        "sum by (job, instance, controller) (increase(kvm_edac_correctable_errors_total{$sel}[1h]))"
        " > $ecc_correctable_per_hour",
        "15m", "Many correctable memory (ECC) errors.",
        f"Memory controller {{{{ $labels.controller }}}} on {HOST} corrected {{{{ $value }}}} ECC errors in "
        "the last hour.",
        "ECC still corrects them, but a DIMM with a rising rate often turns uncorrectable next.",
        ["`grep . /sys/devices/system/edac/mc/mc*/dimm*/{dimm_label,dimm_ce_count}`", "`ras-mc-ctl --summary`"],
        ["Plan the DIMM replacement; move critical VMs off the host first."],
        "KVM host", [
            Case({s("kvm_edac_correctable_errors_total", 'controller="1"'): "0+1x90"}, "80m",
                 {"controller": "1"},
                 "Memory controller 1 on hv1:9978 corrected 60 ECC errors in the last hour."),
            Case({s("kvm_edac_correctable_errors_total", 'controller="1"'): "17x90"}, "80m"),
        ]),
    Alert(
        "HostMachineCheckErrors", "hardware", "memory_ecc", "warning",
        "sum by (job, instance, kind) (increase(kvm_kernel_hardware_errors_total{$sel}[30m])) > 0",
        "0m", "The kernel logged machine-check / EDAC errors.",
        f"The kernel on {HOST} logged {{{{ $value }}}} hardware errors of kind {{{{ $labels.kind }}}} in the "
        "last 30 minutes.",
        "A CPU, memory or bus reported an error; uncorrected ones crash processes or the host.",
        ["`journalctl -k | grep -e 'Hardware Error' -e EDAC`", "`ras-mc-ctl --errors`", "`mcelog --client`"],
        ["Correlate with EDAC counters and the BMC log; replace the failing part.",
         "Evacuate the host if the errors are uncorrected or growing."],
        "KVM host", [
            Case({s("kvm_kernel_hardware_errors_total", 'kind="mce"'): "0x35 1x10"}, "40m", {"kind": "mce"},
                 "The kernel on hv1:9978 logged 1 hardware errors of kind mce in the last 30 minutes."),
            Case({s("kvm_kernel_hardware_errors_total", 'kind="mce"'): "0x40"}, "35m"),
        ]),
    Alert(
        "SmartDeviceFailing", "hardware", "disk_smart", "critical",
        "kvm_smart_health_passed{$sel} == 0",
        "5m", "A disk's SMART self-assessment failed.",
        f"Disk {{{{ $labels.device }}}} on {HOST} fails its SMART overall health self-assessment.",
        "The drive predicts its own failure: data on it (and RAID/ZFS redundancy) is at risk.",
        ["`smartctl -a DEVICE`", "`zpool status -v` / `cat /proc/mdstat` for the array it is in"],
        ["Replace the disk: `zpool replace POOL OLD NEW` or `mdadm --manage /dev/mdX --replace OLD --with NEW`.",
         "Until then make sure backups and snapshots of the VMs on it are current."],
        "KVM host", [
            Case({s("kvm_smart_health_passed", 'device="/dev/sda"'): "0x10"}, "8m", {"device": "/dev/sda"},
                 "Disk /dev/sda on hv1:9978 fails its SMART overall health self-assessment."),
            Case({s("kvm_smart_health_passed", 'device="/dev/sda"'): "1x10"}, "8m"),
        ]),
    Alert(
        "SmartBadSectorsGrowing", "hardware", "disk_smart", "warning",
        "sum by (job, instance, device) ("
        "delta(kvm_smart_reallocated_sectors{$sel}[1d]) or delta(kvm_smart_pending_sectors{$sel}[1d])"
        " or delta(kvm_smart_offline_uncorrectable_sectors{$sel}[1d])) > 0",
        "0m", "A disk's reallocated/pending sector count grew.",
        f"Disk {{{{ $labels.device }}}} on {HOST} gained reallocated, pending or uncorrectable sectors in the "
        "last day.",
        "Media is wearing out; growing counts usually end in read errors and a failed disk.",
        ["`smartctl -A DEVICE` (attributes 5, 197, 198)", "`smartctl -l error DEVICE`"],
        ["Run a long self-test (`smartctl -t long DEVICE`) and plan the replacement."],
        "KVM host", [
            Case({s("kvm_smart_pending_sectors", 'device="/dev/sdb"'): "0x10 8x10"}, "15m", {"device": "/dev/sdb"},
                 "Disk /dev/sdb on hv1:9978 gained reallocated, pending or uncorrectable sectors in the last day."),
            Case({s("kvm_smart_pending_sectors", 'device="/dev/sdb"'): "8x30"}, "25m"),
        ]),
    Alert(
        "SmartNvmeCriticalWarning", "hardware", "disk_smart", "critical",
        "kvm_smart_nvme_critical_warning{$sel} > 0",
        "5m", "An NVMe drive raised a critical warning.",
        f"NVMe {{{{ $labels.device }}}} on {HOST} reports critical warning bits {{{{ $value }}}} (spare, "
        "temperature, reliability, read-only, ...).",
        "The drive is degraded: low spare, overheated, read-only or unreliable.",
        ["`smartctl -a DEVICE`", "`nvme smart-log DEVICE`"],
        ["Move data off the drive and replace it."],
        "KVM host", [
            Case({s("kvm_smart_nvme_critical_warning", 'device="/dev/nvme0"'): "4x10"}, "8m",
                 {"device": "/dev/nvme0"},
                 "NVMe /dev/nvme0 on hv1:9978 reports critical warning bits 4 (spare, temperature, reliability, "
                 "read-only, ...)."),
            Case({s("kvm_smart_nvme_critical_warning", 'device="/dev/nvme0"'): "0x10"}, "8m"),
        ]),
    # --- virtualization ----------------------------------------------------------------
    Alert(
        "VmOomKilled", "virtualization", "process_oom", "critical",
        grew('kvm_kernel_oom_kills_total{$sel,domain!=""}', "15m", "job, instance, domain"),
        "0m", "The OOM killer killed a VM's QEMU process.",
        f"The kernel OOM killer killed the QEMU process of VM {VM} on {HOST}.",
        "The VM died without shutting down (like a power cut): unsaved data is lost, its services are down.",
        ["`journalctl -k | grep -i -A20 'invoked oom-killer'`", "`virsh domstate --reason DOMAIN`",
         "`virsh memtune DOMAIN` (a hard_limit too tight?)", "the VM dashboard"],
        ["Start the VM again: `virsh start DOMAIN`.",
         "Find why memory ran out: host overcommit (HostMemoryOvercommitted), a memtune hard_limit, "
         "or QEMU overhead (`kvm_domain_qemu_memory_overhead_bytes`).",
         "Free memory or move VMs before the next kill."],
        "KVM VM", [
            Case({s("kvm_kernel_oom_kills_total", 'comm="qemu-system-x86",domain="web-1"'): "_x20 1x10",
                  f"up{{{J}}}": "1x30"}, "22m",
                 {"domain": "web-1"}, "The kernel OOM killer killed the QEMU process of VM web-1 on hv1:9978."),
            Case({s("kvm_kernel_oom_kills_total", 'comm="qemu-system-x86",domain="web-1"'): "1x30",
                  f"up{{{J}}}": "1x30"}, "25m"),
            Case({s("kvm_kernel_oom_kills_total", 'comm="python3",domain=""'): "0x5 1x10"}, "8m"),
        ]),
    Alert(
        "HostOomKills", "virtualization", "process_oom", "warning",
        "increase(kvm_host_oom_kills_total{$sel}[15m]) > 0",
        "0m", "The OOM killer fired on the host.",
        f"The kernel OOM killer killed {{{{ $value }}}} processes on {HOST} in the last 15 minutes.",
        "Host or cgroup memory ran out; the next victim may be a VM or a host daemon.",
        ["`journalctl -k | grep -i oom`", "`free -m`, `cat /proc/pressure/memory`"],
        ["Find the memory hog or the too-small cgroup limit; reduce overcommit."],
        "KVM host", [
            Case({s("kvm_host_oom_kills_total"): "3x20 4x10"}, "22m", {},
                 "The kernel OOM killer killed 1 processes on hv1:9978 in the last 15 minutes."),
            Case({s("kvm_host_oom_kills_total"): "3x20"}, "15m"),
        ]),
    Alert(
        "VmAutostartNotRunning", "virtualization", "domain_failure", "critical",
        "kvm_domain_autostart_not_running{$sel} == 1",
        "5m", "A VM marked autostart is not running.",
        f"VM {VM} on {HOST} is marked autostart but is not running.",
        "A VM that should be up is down: its services are unavailable.",
        ["`virsh domstate --reason DOMAIN`", "`virsh dominfo DOMAIN`", "`/var/log/libvirt/qemu/DOMAIN.log`"],
        ["Start it: `virsh start DOMAIN`; if it fails, read the QEMU log and fix the cause.",
         "If it is meant to stay off, `virsh autostart --disable DOMAIN`."],
        "KVM VM", [
            Case({s("kvm_domain_autostart_not_running", 'domain="db-1"'): "1x10"}, "8m", {"domain": "db-1"},
                 "VM db-1 on hv1:9978 is marked autostart but is not running."),
            Case({s("kvm_domain_autostart_not_running", 'domain="db-1"'): "0x3 1x2 0x5"}, "8m"),
        ]),
    Alert(
        "VmPausedOnIoError", "virtualization", "domain_failure", "critical",
        'kvm_domain_state_info{$sel,state="paused",reason="ioerror"} == 1',
        "1m", "A VM is paused on a disk I/O error.",
        f"VM {VM} on {HOST} is paused because a disk I/O failed (full storage or a dead disk/LUN).",
        "The VM is frozen until the storage is fixed and it is resumed.",
        ["`virsh domblkerror DOMAIN`", "`virsh domstate --reason DOMAIN`", "`df -h` on the image's filesystem",
         "`iscsiadm -m session -P 3`, `zpool status -v`"],
        ["Free space or repair the storage path.", "Resume: `virsh resume DOMAIN`."],
        "KVM VM", [
            Case({s("kvm_domain_state_info", 'domain="db-1",state="paused",reason="ioerror"'): "1x5"}, "3m",
                 {"domain": "db-1", "state": "paused", "reason": "ioerror"},
                 "VM db-1 on hv1:9978 is paused because a disk I/O failed (full storage or a dead disk/LUN)."),
            Case({s("kvm_domain_state_info", 'domain="db-1",state="paused",reason="user"'): "1x5"}, "3m"),
        ]),
    Alert(
        "VmCrashed", "virtualization", "domain_failure", "critical",
        grew('kvm_domain_lifecycle_events_total{$sel,event=~"stopped|crashed",'
             'detail=~"crashed|failed|panicked|crashloaded"}', "15m", "job, instance, domain, detail"),
        "0m", "A VM crashed or its QEMU died.",
        f"VM {VM} on {HOST} stopped unexpectedly ({{{{ $labels.detail }}}}).",
        "The VM is down without a clean shutdown; unsaved data is lost.",
        ["`virsh domstate --reason DOMAIN`", "`/var/log/libvirt/qemu/DOMAIN.log`", "`journalctl -k` (OOM, segfault)"],
        ["Start it again (`virsh start DOMAIN`) and read the QEMU log for the cause."],
        "KVM VM", [
            Case({s("kvm_domain_lifecycle_events_total", 'domain="web-1",event="stopped",detail="failed"'): "_x20 1x10",
                  f"up{{{J}}}": "1x30"}, "22m", {"domain": "web-1", "detail": "failed"},
                 "VM web-1 on hv1:9978 stopped unexpectedly (failed)."),
            Case({s("kvm_domain_lifecycle_events_total", 'domain="web-1",event="stopped",detail="failed"'): "1x30"},
                 "22m"),
            Case({s("kvm_domain_lifecycle_events_total", 'domain="web-1",event="stopped",detail="shutdown"'): "0x3 1x10"},
                 "8m"),
        ]),
    Alert(
        "VmQemuLogErrors", "virtualization", "domain_failure", "warning",
        grew("kvm_domain_qemu_log_errors_total{$sel}", "15m", "job, instance, domain, kind"),
        "0m", "QEMU logged errors for a VM.",
        f"QEMU logged {{{{ $value }}}} {{{{ $labels.kind }}}} lines for VM {VM} on {HOST} in the last 15 minutes.",
        "A device failed to attach, I/O failed, a migration failed or QEMU was killed.",
        ["`tail -50 /var/log/libvirt/qemu/DOMAIN.log`"],
        ["Act on the logged error (device path, storage, migration target)."],
        "KVM VM", [
            Case({s("kvm_domain_qemu_log_errors_total", 'domain="web-1",kind="io_error"'): "0x20 2x10"}, "24m",
                 {"domain": "web-1", "kind": "io_error"},
                 "QEMU logged 2 io_error lines for VM web-1 on hv1:9978 in the last 15 minutes."),
            Case({s("kvm_domain_qemu_log_errors_total", 'domain="web-1",kind="io_error"'): "0x20"}, "15m"),
        ]),
    Alert(
        "KvmPrerequisiteMissing", "virtualization", "kmod_failure", "critical",
        'kvm_host_kvm_check{$sel,check!="vhost_net"} == 0',
        "5m", "KVM cannot run VMs on this host.",
        f"KVM prerequisite {{{{ $labels.check }}}} fails on {HOST}: {{{{ $labels.reason }}}}.",
        "New VMs cannot start (or run without acceleration); running ones may be unaffected until restarted.",
        ["`ls -l /dev/kvm`", "`lsmod | grep kvm`", "`grep -c -e vmx -e svm /proc/cpuinfo`",
         "`journalctl -k | grep -i kvm` (\"disabled by bios\")", "`virsh domcapabilities`"],
        ["Load the module (`modprobe kvm_intel` / `kvm_amd`) or enable virtualization in the BIOS.",
         "Fix /dev/kvm permissions (group kvm, mode 0660).", "Move VMs to another host until fixed."],
        "KVM host", [
            Case({s("kvm_host_kvm_check", 'check="dev_kvm",reason="missing"'): "0x10"}, "8m",
                 {"check": "dev_kvm", "reason": "missing"}, "KVM prerequisite dev_kvm fails on hv1:9978: missing."),
            Case({s("kvm_host_kvm_check", 'check="vhost_net",reason="missing"'): "0x10"}, "8m"),
        ]),
    Alert(
        "LibvirtDown", "virtualization", "kmod_failure", "critical",
        "kvm_libvirt_up{$sel} == 0",
        "5m", "libvirt does not answer on this host.",
        f"kvm-exporter on {HOST} cannot reach libvirt (down, frozen or refusing the read-only socket) "
        "for 5 minutes.",
        "VMs keep running, but none can be started, stopped or migrated, and every VM alert of this host "
        "is blind: their signals come from libvirt.",
        ["`virsh -c qemu:///system list --all` (hangs or errors)", "`systemctl status libvirtd virtqemud` and "
         "`journalctl -u libvirtd`", "`virt-admin srv-threadpool-info libvirtd` (workers all busy: a wedged "
         "call)", "the exporter's landing page `/` (the libvirt collector's error)"],
        ["Restart the daemon (`systemctl restart libvirtd` or `virtqemud`): running VMs are not affected.",
         "If it hangs again, find the stuck domain (`virsh list` per domain, QEMU in D state) and fix its storage.",
         "Check the exporter may read the socket (`/run/libvirt/libvirt-sock-ro`, unit `SupplementaryGroups`)."],
        "KVM host", [
            Case({s("kvm_libvirt_up"): "0x10"}, "8m", {},
                 "kvm-exporter on hv1:9978 cannot reach libvirt (down, frozen or refusing the read-only "
                 "socket) for 5 minutes."),
            Case({s("kvm_libvirt_up"): "0x3 1x7"}, "8m"),
        ]),
    Alert(
        "VhostNetMissing", "virtualization", "kmod_failure", "warning",
        'kvm_host_kvm_check{$sel,check="vhost_net"} == 0',
        "15m", "vhost-net is not available.",
        f"vhost-net is not available on {HOST} ({{{{ $labels.reason }}}}): VM networking runs in QEMU userspace.",
        "VM network throughput drops and host CPU use rises.",
        ["`ls -l /dev/vhost-net`", "`lsmod | grep vhost_net`"],
        ["`modprobe vhost_net`; restart (or migrate) VMs to use it."],
        "KVM host", [
            Case({s("kvm_host_kvm_check", 'check="vhost_net",reason="missing"'): "0x20"}, "18m",
                 {"check": "vhost_net", "reason": "missing"},
                 "vhost-net is not available on hv1:9978 (missing): VM networking runs in QEMU userspace."),
            Case({s("kvm_host_kvm_check", 'check="vhost_net",reason="ok"'): "1x20"}, "18m"),
        ]),
    Alert(
        "LibvirtConfigCorrupt", "virtualization", "config_corruption", "critical",
        "kvm_libvirt_config_file_valid{$sel} == 0",
        "5m", "A libvirt configuration file does not parse.",
        f"{{{{ $labels.path }}}} in the libvirt configuration on {HOST} is corrupt or unreadable.",
        "libvirt will fail to load it at the next restart: a VM or network disappears, or the daemon "
        "refuses to start.",
        ["`virt-xml-validate /etc/libvirt/PATH`", "`xmllint --noout /etc/libvirt/PATH`",
         "the exporter log (it names the line)", "`git -C /etc log` / your config management"],
        ["Restore the file from backup or config management.",
         "For a domain: `virsh dumpxml DOMAIN --inactive` still has the good definition while libvirt runs; "
         "`virsh define` it back."],
        "KVM host", [
            Case({s("kvm_libvirt_config_file_valid", 'path="qemu.conf",kind="conf"'): "0x10"}, "8m",
                 {"path": "qemu.conf", "kind": "conf"},
                 "qemu.conf in the libvirt configuration on hv1:9978 is corrupt or unreadable."),
            Case({s("kvm_libvirt_config_file_valid", 'path="qemu.conf",kind="conf"'): "1x3 0x2 1x5"}, "9m"),
        ]),
    Alert(
        "VmConfigDrift", "virtualization", "config_corruption", "warning",
        "kvm_domain_config_drift{$sel} == 1",
        "15m", "A VM's definition on disk differs from libvirt's.",
        f"The definition file of VM {VM} on {HOST} no longer matches what libvirt has defined.",
        "Someone edited the file behind libvirt's back (or libvirt could not write it): the next "
        "libvirt restart loads a different VM than the one running.",
        ["`diff <(virsh dumpxml --inactive DOMAIN) /etc/libvirt/qemu/DOMAIN.xml`"],
        ["Decide which is right: `virsh define` the file, or re-save libvirt's (`virsh dumpxml --inactive DOMAIN "
         "> /tmp/d.xml && virsh define /tmp/d.xml`)."],
        "KVM VM", [
            Case({s("kvm_domain_config_drift", 'domain="web-1"'): "1x30"}, "20m", {"domain": "web-1"},
                 "The definition file of VM web-1 on hv1:9978 no longer matches what libvirt has defined."),
            Case({s("kvm_domain_config_drift", 'domain="web-1"'): "0x30"}, "20m"),
        ]),
    # --- network -----------------------------------------------------------------------
    Alert(
        "BridgeUplinkDown", "network", "vswitch_down", "critical",
        "kvm_bridge_uplink_up{$sel} == 0 and on (job, instance, bridge) kvm_bridge_ports{$sel} > 0",
        "2m", "A bridge lost all its uplinks.",
        f"Bridge {{{{ $labels.bridge }}}} on {HOST} has no uplink port up: its VMs are cut off from the network.",
        "Every VM plugged into the bridge loses connectivity outside the host.",
        ["`ip -d link show master BRIDGE`", "`bridge link`", "`ethtool UPLINK`",
         "`kvm_domain_interface_bridge_info{bridge=\"BRIDGE\"}` lists the VMs"],
        ["Bring the uplink back (cable, switch port, `ip link set UPLINK up`).",
         "Live-migrate critical VMs to a host with working networking."],
        "KVM host", [
            Case({s("kvm_bridge_uplink_up", 'bridge="br0"'): "0x5", s("kvm_bridge_ports", 'bridge="br0"'): "3x5"},
                 "4m", {"bridge": "br0"},
                 "Bridge br0 on hv1:9978 has no uplink port up: its VMs are cut off from the network."),
            Case({s("kvm_bridge_uplink_up", 'bridge="br0"'): "1x5", s("kvm_bridge_ports", 'bridge="br0"'): "3x5"},
                 "4m"),
        ]),
    Alert(
        "VmNetworkCutOff", "network", "vswitch_down", "critical",
        "kvm_domain_interface_bridge_info{$sel}"
        " * on (job, instance, bridge) group_left () (kvm_bridge_uplink_up{$sel} == 0)",
        "2m", "A VM's bridge has no uplink.",
        f"VM {VM} on {HOST} is plugged into bridge {{{{ $labels.bridge }}}} ({{{{ $labels.target }}}}), "
        "which has no uplink up.",
        "The VM cannot reach anything outside the host.",
        ["`virsh domiflist DOMAIN`", "`ip -d link show master BRIDGE`"],
        ["Fix the bridge uplink (see BridgeUplinkDown) or migrate the VM."],
        "KVM VM", [
            Case({s("kvm_domain_interface_bridge_info", 'domain="web-1",target="vnet0",bridge="br0"'): "1x5",
                  s("kvm_bridge_uplink_up", 'bridge="br0"'): "0x5"}, "4m",
                 {"domain": "web-1", "target": "vnet0", "bridge": "br0"},
                 "VM web-1 on hv1:9978 is plugged into bridge br0 (vnet0), which has no uplink up."),
            Case({s("kvm_domain_interface_bridge_info", 'domain="web-1",target="vnet0",bridge="br0"'): "1x5",
                  s("kvm_bridge_uplink_up", 'bridge="br0"'): "1x5"}, "4m"),
        ]),
    Alert(
        "BondDegraded", "network", "vswitch_down", "warning",
        "kvm_bond_active_slaves{$sel} < on (job, instance, bond) kvm_bond_slaves{$sel}"
        " and on (job, instance, bond) kvm_bond_active_slaves{$sel} > 0",
        "5m", "A bond lost redundancy.",
        f"Bond {{{{ $labels.bond }}}} on {HOST} has {{{{ $value }}}} of its slaves up: redundancy is lost.",
        "One more link failure takes the bond (and its bridges and VMs) down.",
        ["`cat /proc/net/bonding/BOND`", "`ethtool SLAVE`"],
        ["Fix the failed slave link (cable, switch port, NIC)."],
        "KVM host", [
            Case({s("kvm_bond_active_slaves", 'bond="bond0"'): "1x10", s("kvm_bond_slaves", 'bond="bond0"'): "2x10"},
                 "8m", {"bond": "bond0"}, "Bond bond0 on hv1:9978 has 1 of its slaves up: redundancy is lost."),
            Case({s("kvm_bond_active_slaves", 'bond="bond0"'): "2x10", s("kvm_bond_slaves", 'bond="bond0"'): "2x10"},
                 "8m"),
        ]),
    Alert(
        "BondDown", "network", "vswitch_down", "critical",
        "kvm_bond_active_slaves{$sel} == 0 and on (job, instance, bond) kvm_bond_slaves{$sel} > 0",
        "1m", "A bond has no slave up.",
        f"Bond {{{{ $labels.bond }}}} on {HOST} has no slave with MII status up.",
        "Everything behind the bond is offline.",
        ["`cat /proc/net/bonding/BOND`"], ["Restore at least one slave link."],
        "KVM host", [
            Case({s("kvm_bond_active_slaves", 'bond="bond0"'): "0x5", s("kvm_bond_slaves", 'bond="bond0"'): "2x5"},
                 "3m", {"bond": "bond0"}, "Bond bond0 on hv1:9978 has no slave with MII status up."),
            Case({s("kvm_bond_active_slaves", 'bond="bond0"'): "0x5", s("kvm_bond_slaves", 'bond="bond0"'): "0x5"},
                 "3m"),
        ]),
    Alert(
        "OvsInterfaceDown", "network", "vswitch_down", "warning",
        "kvm_ovs_interface_link_up{$sel} == 0 and on (job, instance, bridge, port, interface)"
        " kvm_ovs_interface_admin_up{$sel} == 1",
        "2m", "An Open vSwitch interface lost its link.",
        f"OVS interface {{{{ $labels.interface }}}} on bridge {{{{ $labels.bridge }}}} of {HOST} is "
        "administratively up but its link is down.",
        "Traffic through that port stops; if it is an uplink, the bridge's VMs are cut off.",
        ["`ovs-vsctl list Interface NAME`", "`ovs-ofctl show BRIDGE`"],
        ["Restore the link; check the physical port or the peer (VM, patch, tunnel)."],
        "KVM host", [
            Case({s("kvm_ovs_interface_link_up", 'bridge="ovsbr0",port="eth1",interface="eth1"'): "0x5",
                  s("kvm_ovs_interface_admin_up", 'bridge="ovsbr0",port="eth1",interface="eth1"'): "1x5"}, "4m",
                 {"bridge": "ovsbr0", "port": "eth1", "interface": "eth1"},
                 "OVS interface eth1 on bridge ovsbr0 of hv1:9978 is administratively up but its link is down."),
            Case({s("kvm_ovs_interface_link_up", 'bridge="ovsbr0",port="eth1",interface="eth1"'): "0x5",
                  s("kvm_ovs_interface_admin_up", 'bridge="ovsbr0",port="eth1",interface="eth1"'): "0x5"}, "4m"),
        ]),
    Alert(
        "NetworkLinkFlapping", "network", "vswitch_down", "warning",
        'increase(kvm_network_carrier_changes_total{$sel}[15m]) > $link_flaps_per_15m'
        ' and on (job, instance, device) kvm_network_info{kind=~"physical|bond|vlan"}',
        "0m", "A network link is flapping.",
        f"Link {{{{ $labels.device }}}} on {HOST} changed carrier {{{{ $value }}}} times in 15 minutes.",
        "Flapping links drop packets and can trigger bond failovers and STP recalculation.",
        ["`ip -s link show DEVICE`", "`ethtool DEVICE`", "`journalctl -k | grep DEVICE`"],
        ["Check cable, transceiver and switch port; disable the port if it keeps flapping."],
        "KVM host", [
            Case({s("kvm_network_carrier_changes_total", 'device="eth0"'): "0+2x20",
                  s("kvm_network_info", 'device="eth0",kind="physical",master="",address="x",operstate="up"'): "1x20"},
                 "15m", {"device": "eth0"}, "Link eth0 on hv1:9978 changed carrier 30 times in 15 minutes."),
            Case({s("kvm_network_carrier_changes_total", 'device="tap0"'): "0+2x20",
                  s("kvm_network_info", 'device="tap0",kind="tap",master="br0",address="x",operstate="up"'): "1x20"},
                 "15m"),
        ]),
    Alert(
        "RoutingLoopSuspected", "network", "routing_loop", "warning",
        "instance:kvm_netstat_icmp_time_excds:rate5m > $routing_loop_time_exceeded_per_second",
        "5m", "ICMP time-exceeded traffic points at a routing loop.",
        f"{HOST} sends and receives {{{{ $value | humanize }}}} ICMP time-exceeded messages per second: "
        "packets are probably looping.",
        "Looping packets burn bandwidth and CPU until their TTL runs out; the destinations are unreachable.",
        ["`ip route get DEST` on each router", "`traceroute -n DEST` (the hops repeat)", "`nstat -az | grep TimeExcds`"],
        ["Fix the route that points back (policy routing, a stale static route, a VRRP split)."],
        "KVM host", [
            Case({s("kvm_netstat_icmp_in_time_excds_total"): "0+300x20", s("kvm_netstat_icmp_out_time_excds_total"): "0x20"},
                 "15m", {}, "hv1:9978 sends and receives 5 ICMP time-exceeded messages per second: packets are "
                 "probably looping."),
            Case({s("kvm_netstat_icmp_in_time_excds_total"): "0+6x20", s("kvm_netstat_icmp_out_time_excds_total"): "0x20"},
                 "15m"),
        ]),
    Alert(
        "TrafficStorm", "network", "traffic_storm", "warning",
        "instance_device:kvm_network_receive_packets:rate5m > $storm_packets_per_second_floor"
        " and instance_device:kvm_network_receive_packets:rate5m"
        " > $storm_baseline_factor * (instance_device:kvm_network_receive_packets:rate5m_avg1w"
        " or instance_device:kvm_network_receive_packets:rate5m * 0)",
        "5m", "Packet rate far above its usual level.",
        f"{{{{ $labels.device }}}} on {HOST} receives {{{{ $value | humanize }}}} packets/s, far above its "
        "weekly average: a broadcast/multicast storm or a flood.",
        "Bridges, softirqs and VMs drown in packets; legitimate traffic is dropped.",
        ["`ip -s link show DEVICE`", "`tcpdump -c 100 -eni DEVICE` (source MACs, ether types)",
         "`bridge fdb show br BRIDGE` (flapping MACs: a loop)"],
        ["Find the source (a VM, a looped switch port); shut its port or the VM's vNIC "
         "(`virsh domif-setlink DOMAIN VNIC down`).", "Enable STP / storm control on the switch."],
        "KVM host", [
            Case({s("kvm_network_receive_packets_total", 'device="eth0"'): "0+6000000x20"}, "15m",
                 {"device": "eth0"},
                 "eth0 on hv1:9978 receives 100k packets/s, far above its weekly average: a broadcast/multicast "
                 "storm or a flood."),
            Case({s("kvm_network_receive_packets_total", 'device="eth0"'): "0+60000x20"}, "15m"),
        ]),
    Alert(
        "SoftnetDrops", "network", "traffic_storm", "warning",
        "sum by (job, instance) (rate(kvm_softnet_dropped_total{$sel}[5m])) > $softnet_drops_per_second",
        "5m", "The kernel drops packets for lack of CPU backlog.",
        f"{HOST} drops {{{{ $value | humanize }}}} packets/s because CPU backlogs are full.",
        "Packets are lost before any VM or firewall sees them: more than the host can process arrives.",
        ["`cat /proc/net/softnet_stat`", "`sysctl net.core.netdev_max_backlog`"],
        ["Find the flood (TrafficStorm); raise `net.core.netdev_max_backlog`, spread IRQs (RPS/RSS)."],
        "KVM host", [
            Case({s("kvm_softnet_dropped_total", 'cpu="0"'): "0+600x20"}, "15m", {},
                 "hv1:9978 drops 10 packets/s because CPU backlogs are full."),
            Case({s("kvm_softnet_dropped_total", 'cpu="0"'): "5x20"}, "15m"),
        ]),
    Alert(
        "ConntrackTableFilling", "network", "traffic_storm", "warning",
        "kvm_nf_conntrack_entries{$sel} / on (job, instance) kvm_nf_conntrack_entries_limit{$sel}"
        " > $conntrack_fill_ratio",
        "5m", "The conntrack table is nearly full.",
        f"The conntrack table on {HOST} is {{{{ $value | humanizePercentage }}}} full.",
        "When it is full new connections are dropped (\"nf_conntrack: table full, dropping packet\").",
        ["`conntrack -C`", "`sysctl net.netfilter.nf_conntrack_max`", "`conntrack -L | awk '{print $5}' | sort | uniq -c`"],
        ["Find the flood; raise `nf_conntrack_max` if the load is legitimate."],
        "KVM host", [
            Case({s("kvm_nf_conntrack_entries"): "95x10", s("kvm_nf_conntrack_entries_limit"): "100x10"}, "8m", {},
                 "The conntrack table on hv1:9978 is 95% full."),
            Case({s("kvm_nf_conntrack_entries"): "50x10", s("kvm_nf_conntrack_entries_limit"): "100x10"}, "8m"),
        ]),
    # --- storage -----------------------------------------------------------------------
    Alert(
        "IscsiSessionNotLoggedIn", "storage", "iscsi_session", "critical",
        "kvm_iscsi_session_logged_in{$sel} == 0",
        "2m", "An iSCSI session is not logged in.",
        f"iSCSI session {{{{ $labels.sid }}}} to {{{{ $labels.target }}}} on {HOST} is not logged in.",
        "Disks behind the session fail I/O after the recovery timeout: VMs on them pause or see errors.",
        ["`iscsiadm -m session -P 3`", "`journalctl -k | grep -i -e iscsi -e 'conn error'`", "`ping PORTAL`"],
        ["Restore the network path to the portal; re-login: `iscsiadm -m node -T TARGET -p PORTAL --login`.",
         "Resume paused VMs: `virsh resume DOMAIN`."],
        "KVM host", [
            Case({s("kvm_iscsi_session_logged_in", 'sid="5",target="iqn.2017-10.com.example:vms"'): "0x5"}, "4m",
                 {"sid": "5", "target": "iqn.2017-10.com.example:vms"},
                 "iSCSI session 5 to iqn.2017-10.com.example:vms on hv1:9978 is not logged in."),
            Case({s("kvm_iscsi_session_logged_in", 'sid="5",target="iqn.2017-10.com.example:vms"'): "1 0 1x5"},
                 "5m"),
        ]),
    Alert(
        "IscsiExpectedSessionMissing", "storage", "iscsi_session", "critical",
        "kvm_iscsi_node_logged_in{$sel} == 0",
        "5m", "An iSCSI target set to log in automatically has no session.",
        f"{{{{ $labels.target }}}} at {{{{ $labels.portal }}}} should be logged in on {HOST} (node.startup "
        "automatic) but no session exists.",
        "The LUNs of that target are missing: VMs using them cannot start.",
        ["`iscsiadm -m node -T TARGET -p PORTAL` (auth settings)", "`iscsiadm -m node -T TARGET -p PORTAL --login` "
         "(the error says CHAP/authorization failure)", "`journalctl -u iscsid`"],
        ["Fix the CHAP credentials or the target's ACL, then log in.",
         "If the target is gone for good, `iscsiadm -m node -T TARGET -p PORTAL -o delete`."],
        "KVM host", [
            Case({s("kvm_iscsi_node_logged_in", 'target="iqn.2017-10.com.example:backup",portal="192.0.2.7:3260",'
                    'iface="default"'): "0x10"}, "8m",
                 {"target": "iqn.2017-10.com.example:backup", "portal": "192.0.2.7:3260", "iface": "default"},
                 "iqn.2017-10.com.example:backup at 192.0.2.7:3260 should be logged in on hv1:9978 (node.startup "
                 "automatic) but no session exists."),
            Case({s("kvm_iscsi_node_logged_in", 'target="iqn.2017-10.com.example:backup",portal="192.0.2.7:3260",'
                    'iface="default"'): "1x10"}, "8m"),
        ]),
    Alert(
        "IscsiDeviceOffline", "storage", "iscsi_session", "critical",
        "kvm_iscsi_device_running{$sel} == 0",
        "2m", "A disk behind an iSCSI session is offline.",
        f"SCSI device {{{{ $labels.device }}}} ({{{{ $labels.scsi_address }}}}) of iSCSI target "
        f"{{{{ $labels.target }}}} on {HOST} is {{{{ $labels.state }}}}.",
        "I/O to the disk fails: VMs on it pause on I/O errors.",
        ["`iscsiadm -m session -P 3`", "`cat /sys/class/scsi_device/*/device/state`"],
        ["Restore the session; then `echo running > /sys/class/scsi_device/H:C:I:L/device/state`."],
        "KVM host", [
            Case({s("kvm_iscsi_device_running", 'sid="5",target="iqn.2017-10.com.example:vms",scsi_address="5:0:0:0",'
                    'device="sdf",state="offline"'): "0x5"}, "4m",
                 {"sid": "5", "target": "iqn.2017-10.com.example:vms", "scsi_address": "5:0:0:0", "device": "sdf",
                  "state": "offline"},
                 "SCSI device sdf (5:0:0:0) of iSCSI target iqn.2017-10.com.example:vms on hv1:9978 is offline."),
            Case({s("kvm_iscsi_device_running", 'sid="5",target="iqn.2017-10.com.example:vms",scsi_address="5:0:0:0",'
                    'device="sdf",state="running"'): "1x5"}, "4m"),
        ]),
    Alert(
        "IscsiConnectionErrors", "storage", "iscsi_session", "warning",
        grew("kvm_kernel_iscsi_connection_errors_total{$sel}", "15m", "job, instance")
        + " or " + grew("kvm_kernel_iscsi_session_recovery_timeouts_total{$sel}", "15m", "job, instance"),
        "0m", "The kernel logged iSCSI connection errors.",
        f"The kernel on {HOST} logged {{{{ $value }}}} iSCSI connection errors or session recovery timeouts in "
        "the last 15 minutes.",
        "Sessions reconnect (I/O stalls) or fail (I/O errors) — a flaky path to the storage.",
        ["`journalctl -k | grep -e 'conn error' -e 'recovery timed out'`", "`iscsiadm -m session -s`"],
        ["Check the storage network (NIC, switch, MTU, target load)."],
        "KVM host", [
            Case({s("kvm_kernel_iscsi_connection_errors_total", 'code="1020"'): "_x20 2x10",
                  f"up{{{J}}}": "1x30"}, "24m", {},
                 "The kernel on hv1:9978 logged 2 iSCSI connection errors or session recovery timeouts in the "
                 "last 15 minutes."),
            Case({s("kvm_kernel_iscsi_connection_errors_total", 'code="1020"'): "2x20"}, "18m"),
        ]),
    Alert(
        "ZfsPoolNotOnline", "storage", "zfs_pool", "critical",
        'kvm_zfs_pool_state{$sel,state="ONLINE"} == 0',
        "2m", "A ZFS pool is not ONLINE.",
        f"ZFS pool {{{{ $labels.pool }}}} on {HOST} is not ONLINE (degraded, faulted or suspended).",
        "Redundancy is reduced or gone; a faulted/suspended pool stops I/O for every VM on it.",
        ["`zpool status -v POOL`", "`zpool events -v | tail -50`", "`smartctl -a` on the failing disks"],
        ["Replace the failed device: `zpool replace POOL OLD NEW`; watch the resilver.",
         "For transient errors after fixing cabling: `zpool clear POOL`."],
        "KVM host", [
            Case({s("kvm_zfs_pool_state", 'pool="rpool",state="ONLINE"'): "0x5"}, "4m", {"pool": "rpool", "state": "ONLINE"},
                 "ZFS pool rpool on hv1:9978 is not ONLINE (degraded, faulted or suspended)."),
            Case({s("kvm_zfs_pool_state", 'pool="rpool",state="ONLINE"'): "1x5"}, "4m"),
        ]),
    Alert(
        "ZfsVdevErrorsGrowing", "storage", "zfs_pool", "warning",
        "sum by (job, instance, pool, vdev) (increase(kvm_zfs_vdev_read_errors_total{$sel}[1h])"
        " or increase(kvm_zfs_vdev_write_errors_total{$sel}[1h])"
        " or increase(kvm_zfs_vdev_checksum_errors_total{$sel}[1h])) > 0",
        "0m", "A ZFS vdev is accumulating errors.",
        f"Vdev {{{{ $labels.vdev }}}} of pool {{{{ $labels.pool }}}} on {HOST} counted {{{{ $value }}}} new "
        "read/write/checksum errors in the last hour.",
        "The device or its path is failing; ZFS repairs from redundancy while it can.",
        ["`zpool status -v POOL`", "`smartctl -a DEVICE`"],
        ["Replace or reseat the device; `zpool clear POOL VDEV` once fixed."],
        "KVM host", [
            Case({s("kvm_zfs_vdev_write_errors_total", 'pool="rpool",vdev="sda3"'): "0x65 8x10"}, "70m",
                 {"pool": "rpool", "vdev": "sda3"},
                 "Vdev sda3 of pool rpool on hv1:9978 counted 8 new read/write/checksum errors in the last hour."),
            Case({s("kvm_zfs_vdev_write_errors_total", 'pool="rpool",vdev="sda3"'): "8x20"}, "15m"),
        ]),
    Alert(
        "ZfsAutotrimOff", "storage", "zfs_pool", "info",
        "kvm_zfs_pool_autotrim_enabled{$sel,$ssd_pool_matcher} == 0",
        "1h", "Autotrim is off on an SSD pool.",
        f"ZFS pool {{{{ $labels.pool }}}} on {HOST} sits on SSDs but autotrim is off.",
        "Freed blocks are not trimmed: SSD write amplification and wear rise, performance degrades.",
        ["`zpool get autotrim POOL`"], ["`zpool set autotrim=on POOL` (or schedule `zpool trim POOL`)."],
        "KVM host", [
            Case({s("kvm_zfs_pool_autotrim_enabled", 'pool="zpool-ssd"'): "0x80"}, "70m", {"pool": "zpool-ssd"},
                 "ZFS pool zpool-ssd on hv1:9978 sits on SSDs but autotrim is off."),
            Case({s("kvm_zfs_pool_autotrim_enabled", 'pool="zpool-hdd"'): "0x80"}, "70m"),
        ]),
    Alert(
        "ZfsWriteAmplificationHigh", "storage", "zfs_pool", "warning",
        "instance_pool:kvm_zfs_write_amplification:ratio_rate1h > $zfs_write_amplification",
        "1h", "ZFS writes far more than the datasets ask for.",
        f"Pool {{{{ $labels.pool }}}} on {HOST} writes {{{{ $value | humanize }}}} bytes to disk per logical "
        "byte written.",
        "Small random writes into large records (zvol volblocksize / recordsize mismatch) wear SSDs and waste IOPS.",
        ["`zfs get recordsize,volblocksize,compression POOL -r`", "`zpool iostat -r POOL 5`"],
        ["Match volblocksize/recordsize to the guests' I/O size for new volumes; consider a SLOG for sync writes."],
        "KVM host", [
            Case({s("kvm_zfs_pool_io_total", 'pool="tank",stat="nwritten"'): "0+500x150",
                  s("kvm_zfs_dataset_written_bytes_total", 'pool="tank",dataset="tank/vm"'): "0+100x150"},
                 "130m", {"pool": "tank"},
                 "Pool tank on hv1:9978 writes 5 bytes to disk per logical byte written."),
            Case({s("kvm_zfs_pool_io_total", 'pool="tank",stat="nwritten"'): "0+150x150",
                  s("kvm_zfs_dataset_written_bytes_total", 'pool="tank",dataset="tank/vm"'): "0+100x150"}, "130m"),
        ]),
    Alert(
        "ZfsScrubOverdue", "storage", "zfs_pool", "warning",
        "time() - kvm_zfs_pool_last_scrub_end_time_seconds{$sel} > $zfs_scrub_max_age_seconds"
        ' unless on (job, instance, pool) kvm_zfs_pool_scan_info{$sel,state="scanning"}',
        "1h", "A ZFS pool has not been scrubbed for too long.",
        f"Pool {{{{ $labels.pool }}}} on {HOST} was last scrubbed {{{{ $value | humanizeDuration }}}} ago.",
        "Latent errors (bit rot, bad sectors) go unnoticed until the redundancy needed to repair them is gone.",
        ["`zpool status POOL` (scan: line)", "`systemctl list-timers 'zfs-scrub*'`"],
        ["`zpool scrub POOL`; fix the scrub schedule (timer or cron)."],
        "KVM host", [
            Case({s("kvm_zfs_pool_last_scrub_end_time_seconds", 'pool="tank"'): "-3100000x80"}, "70m",
                 {"pool": "tank"}, "Pool tank on hv1:9978 was last scrubbed 35d 22h 16m 40s ago."),
            Case({s("kvm_zfs_pool_last_scrub_end_time_seconds", 'pool="tank"'): "3000x80"}, "70m"),
        ]),
    Alert(
        "ZfsPoolCapacityHigh", "storage", "zfs_pool", "warning",
        "kvm_zfs_pool_capacity_ratio{$sel} > $zfs_capacity_ratio",
        "30m", "A ZFS pool is nearly full.",
        f"Pool {{{{ $labels.pool }}}} on {HOST} is {{{{ $value | humanizePercentage }}}} full.",
        "ZFS slows down sharply when nearly full; at 100% VMs pause on write errors.",
        ["`zpool list POOL`", "`zfs list -o space -r POOL`"],
        ["Delete old snapshots (`zfs list -t snapshot -s used`), move VMs, or add vdevs."],
        "KVM host", [
            Case({s("kvm_zfs_pool_capacity_ratio", 'pool="tank"'): "0.9x40"}, "35m", {"pool": "tank"},
                 "Pool tank on hv1:9978 is 90% full."),
            Case({s("kvm_zfs_pool_capacity_ratio", 'pool="tank"'): "0.5x40"}, "35m"),
        ]),
    Alert(
        "VmDiskImageCorrupt", "storage", "virtual_disk", "critical",
        'kvm_domain_disk_check_status{$sel,status="corrupt"} == 1',
        "0m", "qemu-img check found corruption in a VM disk image.",
        f"qemu-img check found corruption in disk {{{{ $labels.target }}}} of VM {VM} on {HOST}.",
        "The image's metadata is damaged: the guest may read wrong data or QEMU may stop the VM.",
        ["`qemu-img check -U IMAGE`", "`virsh domblklist DOMAIN`", "the storage's own errors (SMART, zpool)"],
        ["Shut the VM down, copy the image, then `qemu-img check -r leaks IMAGE` (or `-r all` on the copy first).",
         "Or revert to the newest good snapshot/backup."],
        "KVM VM", [
            Case({s("kvm_domain_disk_check_status", 'domain="db-1",target="vdb",status="corrupt"'): "1x5"}, "3m",
                 {"domain": "db-1", "target": "vdb", "status": "corrupt"},
                 "qemu-img check found corruption in disk vdb of VM db-1 on hv1:9978."),
            Case({s("kvm_domain_disk_check_status", 'domain="db-1",target="vdb",status="corrupt"'): "0x5"}, "3m"),
        ]),
    Alert(
        "VmDiskImageMissing", "storage", "virtual_disk", "critical",
        "kvm_domain_disk_image_present{$sel} == 0",
        "5m", "A VM's disk image is missing.",
        f"The image of disk {{{{ $labels.target }}}} of VM {VM} on {HOST} does not exist.",
        "The VM cannot start (or, running, fails I/O once QEMU reopens the file).",
        ["`virsh domblklist DOMAIN`", "`ls -l IMAGE`", "the storage pool: `virsh pool-refresh POOL; virsh vol-list POOL`"],
        ["Restore the image from backup or fix the path/mount; `virsh edit DOMAIN` if it moved."],
        "KVM VM", [
            Case({s("kvm_domain_disk_image_present", 'domain="db-1",target="vdb"'): "0x10"}, "8m",
                 {"domain": "db-1", "target": "vdb"},
                 "The image of disk vdb of VM db-1 on hv1:9978 does not exist."),
            Case({s("kvm_domain_disk_image_present", 'domain="db-1",target="vdb"'): "1x10"}, "8m"),
        ]),
    Alert(
        "VmDiskErrors", "storage", "virtual_disk", "critical",
        "kvm_domain_disk_error{$sel} == 1",
        "0m", "A VM reports a disk error.",
        f"Disk {{{{ $labels.target }}}} of VM {VM} on {HOST} reports error {{{{ $labels.error }}}}.",
        "The VM is paused (or its I/O fails) until the storage is fixed.",
        ["`virsh domblkerror DOMAIN`", "`df -h`, `zpool status`, `iscsiadm -m session`"],
        ["Fix the storage (space, path), then `virsh resume DOMAIN`."],
        "KVM VM", [
            Case({s("kvm_domain_disk_error", 'domain="db-1",target="vda",error="no_space"'): "1x5"}, "3m",
                 {"domain": "db-1", "target": "vda", "error": "no_space"},
                 "Disk vda of VM db-1 on hv1:9978 reports error no_space."),
            Case({s("kvm_domain_disk_error", 'domain="db-1",target="vda",error="no_space"'): "0x5"}, "3m"),
        ]),
    Alert(
        "MdRaidDegraded", "storage", "raid_degraded", "critical",
        "kvm_md_degraded{$sel} > 0",
        "2m", "An md RAID array is degraded.",
        f"md array {{{{ $labels.device }}}} on {HOST} is missing {{{{ $value }}}} disks.",
        "Redundancy is reduced; one more failure (in RAID1/5) loses the array and the VMs on it.",
        ["`cat /proc/mdstat`", "`mdadm --detail /dev/MD`", "`smartctl -a` on the members"],
        ["Replace the failed member: `mdadm /dev/MD --fail OLD --remove OLD; mdadm /dev/MD --add NEW`.",
         "Watch the rebuild in /proc/mdstat."],
        "KVM host", [
            Case({s("kvm_md_degraded", 'device="md6"'): "1x5"}, "4m", {"device": "md6"},
                 "md array md6 on hv1:9978 is missing 1 disks."),
            Case({s("kvm_md_degraded", 'device="md6"'): "0x5"}, "4m"),
        ]),
    Alert(
        "MdRaidRebuilding", "storage", "raid_degraded", "info",
        'kvm_md_sync_action{$sel,action=~"recovery|reshape"} == 1',
        "5m", "An md RAID array is rebuilding.",
        f"md array {{{{ $labels.device }}}} on {HOST} is running {{{{ $labels.action }}}}.",
        "I/O is slower during the rebuild; the array is not redundant until it ends.",
        ["`cat /proc/mdstat`"], ["Let it finish; avoid heavy I/O; do not pull other members."],
        "KVM host", [
            Case({s("kvm_md_sync_action", 'device="md6",action="recovery"'): "1x10"}, "8m",
                 {"device": "md6", "action": "recovery"}, "md array md6 on hv1:9978 is running recovery."),
            Case({s("kvm_md_sync_action", 'device="md6",action="idle"'): "1x10"}, "8m"),
        ]),
    Alert(
        "VmRecoveryPointTooOld", "storage", "recovery_point", "warning",
        "time() - instance_domain:kvm_domain_recovery_point:timestamp_seconds > $recovery_point_objective_seconds",
        "15m", "A VM's newest snapshot is older than the recovery-point objective.",
        f"The newest snapshot of VM {VM} on {HOST} is {{{{ $value | humanizeDuration }}}} old.",
        "Restoring the VM now would lose everything written since that snapshot.",
        ["`virsh snapshot-list DOMAIN --tree`", "`zfs list -t snapshot -o name,creation DATASET`",
         "the snapshot job's logs (cron, sanoid, zfs-auto-snapshot)"],
        ["Fix and run the snapshot/backup job; take one now: `virsh snapshot-create-as DOMAIN` or "
         "`zfs snapshot DATASET@now`."],
        "KVM VM", [
            Case({s("kvm_domain_newest_snapshot_timestamp_seconds", 'domain="web-1"'): "0x150"}, "130m",
                 {"domain": "web-1"}, "The newest snapshot of VM web-1 on hv1:9978 is 2h 10m 0s old."),
            Case({s("kvm_domain_newest_snapshot_timestamp_seconds", 'domain="web-1"'): "0+60x150"}, "130m"),
        ]),
    Alert(
        "ZfsDatasetRecoveryPointTooOld", "storage", "recovery_point", "warning",
        "time() - kvm_zfs_dataset_newest_snapshot_timestamp_seconds{$sel} > $recovery_point_objective_seconds",
        "15m", "A dataset's newest snapshot is older than the recovery-point objective.",
        f"The newest snapshot of dataset {{{{ $labels.dataset }}}} on {HOST} is {{{{ $value | humanizeDuration }}}} old.",
        "Restoring the dataset now would lose everything written since that snapshot.",
        ["`zfs list -t snapshot -o name,creation -s creation DATASET | tail`"],
        ["Fix the snapshot schedule (sanoid/zfs-auto-snapshot); `zfs snapshot DATASET@now`."],
        "KVM host", [
            Case({s("kvm_zfs_dataset_newest_snapshot_timestamp_seconds", 'dataset="tank/vm-1"'): "0x150"}, "130m",
                 {"dataset": "tank/vm-1"}, "The newest snapshot of dataset tank/vm-1 on hv1:9978 is 2h 10m 0s old."),
            Case({s("kvm_zfs_dataset_newest_snapshot_timestamp_seconds", 'dataset="tank/vm-1"'): "0+60x150"}, "130m"),
        ]),
    # --- capacity ----------------------------------------------------------------------
    Alert(
        "HostCpuOvercommitted", "capacity", "overcommit", "warning",
        "instance:kvm_host_cpu_allocation:ratio > $cpu_allocation_ratio",
        "30m", "Running VMs have more vCPUs than is safe for the host.",
        f"Running VMs on {HOST} have vCPUs for {{{{ $value | humanizePercentage }}}} of its CPU threads.",
        "When the VMs get busy together they wait for CPU (steal time): latency and throughput suffer.",
        ["`virsh nodeinfo`", "`virsh list` + `virsh vcpucount DOMAIN`", "the host dashboard (CPU steal per VM)"],
        ["Live-migrate VMs to hosts with spare CPU; resize oversized VMs."],
        "KVM host", [
            Case({s("kvm_host_allocated_vcpus", 'scope="active"'): "48x40", s("kvm_host_cpus"): "32x40"}, "35m", {},
                 "Running VMs on hv1:9978 have vCPUs for 150% of its CPU threads."),
            Case({s("kvm_host_allocated_vcpus", 'scope="active"'): "16x40", s("kvm_host_cpus"): "32x40"}, "35m"),
        ]),
    Alert(
        "HostMemoryOvercommitted", "capacity", "overcommit", "warning",
        "instance:kvm_host_memory_allocation:ratio > $memory_allocation_ratio",
        "30m", "Running VMs may use more memory than is safe for the host.",
        f"Running VMs on {HOST} may use {{{{ $value | humanizePercentage }}}} of its memory.",
        "If the guests use what they were given, the host swaps or the OOM killer kills a VM.",
        ["`virsh nodememstats`", "`virsh dommemstat DOMAIN`", "`free -m`"],
        ["Live-migrate VMs away or shrink their memory (balloon, `virsh setmem`)."],
        "KVM host", [
            Case({s("kvm_host_allocated_memory_bytes", 'scope="active"'): "60x40", s("kvm_host_memory_bytes"): "64x40"},
                 "35m", {}, "Running VMs on hv1:9978 may use 93.75% of its memory."),
            Case({s("kvm_host_allocated_memory_bytes", 'scope="active"'): "32x40", s("kvm_host_memory_bytes"): "64x40"},
                 "35m"),
        ]),
    Alert(
        "HostCpuSaturated", "capacity", "overcommit", "warning",
        "instance:kvm_host_cpu_busy:ratio_rate5m > $host_cpu_busy_ratio",
        "15m", "The host's CPUs are fully busy.",
        f"The CPUs of {HOST} are {{{{ $value | humanizePercentage }}}} busy.",
        "VMs wait for CPU: everything on the host gets slower.",
        ["`top` / `pidstat -u 5`", "`virsh domstats --vcpu`", "the host dashboard"],
        ["Find the busiest VMs (`kvm_domain_cpu_seconds_total`) and move them."],
        "KVM host", [
            Case({s("kvm_host_cpu_seconds_total", 'mode="user"'): "0+59x30", s("kvm_host_cpu_seconds_total", 'mode="idle"'): "0+1x30"},
                 "25m", {}, "The CPUs of hv1:9978 are 98.33% busy."),
            Case({s("kvm_host_cpu_seconds_total", 'mode="user"'): "0+30x30", s("kvm_host_cpu_seconds_total", 'mode="idle"'): "0+30x30"},
                 "25m"),
        ]),
    Alert(
        "HostMemoryPressure", "capacity", "overcommit", "warning",
        'rate(kvm_host_pressure_full_seconds_total{$sel,resource="memory"}[5m]) > $memory_pressure_full_ratio',
        "10m", "Tasks on the host stall waiting for memory.",
        f"All non-idle tasks on {HOST} stalled on memory {{{{ $value | humanizePercentage }}}} of the time.",
        "The host is reclaiming or swapping hard: VMs crawl, the OOM killer is next.",
        ["`cat /proc/pressure/memory`", "`vmstat 5`", "`free -m`"],
        ["Reduce memory overcommit: migrate VMs, shrink balloons."],
        "KVM host", [
            Case({s("kvm_host_pressure_full_seconds_total", 'resource="memory"'): "0+30x30"}, "25m",
                 {"resource": "memory"}, "All non-idle tasks on hv1:9978 stalled on memory 50% of the time."),
            Case({s("kvm_host_pressure_full_seconds_total", 'resource="memory"'): "0+1x30"}, "25m"),
        ]),
    # --- exporter ------------------------------------------------------------------------
    Alert(
        "KvmExporterDown", "exporter", "exporter_health", "warning",
        "up{$sel} == 0",
        "5m", "The kvm-exporter cannot be scraped.",
        f"Prometheus cannot scrape the kvm-exporter on {HOST}: nothing on that host is watched.",
        "Every other alert for the host is blind until it is back.",
        ["`systemctl status kvm-exporter`", "`journalctl -u kvm-exporter`", "`curl -s http://HOST:9978/-/healthy`"],
        ["Restart the exporter; if the host is down, that is the real incident."],
        "KVM fleet", [
            Case({f"up{{{J}}}": "0x10"}, "8m", {}, "Prometheus cannot scrape the kvm-exporter on hv1:9978: nothing on "
                 "that host is watched."),
            Case({f"up{{{J}}}": "1 0 0 1x7"}, "8m"),
        ]),
    Alert(
        "KvmExporterCollectorFailing", "exporter", "exporter_health", "warning",
        "kvm_scrape_collector_success{$sel} == 0",
        "15m", "A kvm-exporter collector keeps failing.",
        f"Collector {{{{ $labels.collector }}}} of the kvm-exporter on {HOST} has failed for 15 minutes.",
        "The signals of that collector are missing: its alerts cannot fire.",
        ["`journalctl -u kvm-exporter` (\"collector failed\" names the error)", "the exporter's landing page `/`"],
        ["Fix what the error names (libvirtd down, a path, permissions), or disable the collector."],
        "KVM fleet", [
            Case({s("kvm_scrape_collector_success", 'collector="libvirt"'): "0x20"}, "18m", {"collector": "libvirt"},
                 "Collector libvirt of the kvm-exporter on hv1:9978 has failed for 15 minutes."),
            Case({s("kvm_scrape_collector_success", 'collector="libvirt"'): "0x5 1x15"}, "18m"),
        ]),
    Alert(
        "SmartDataStale", "exporter", "exporter_health", "warning",
        "time() - kvm_smart_device_last_success_timestamp_seconds{$sel} > $smart_stale_seconds",
        "15m", "SMART data of a disk is stale.",
        f"SMART data of {{{{ $labels.device }}}} on {HOST} is {{{{ $value | humanizeDuration }}}} old.",
        "Disk failure predictions for that disk are not current.",
        ["`kvm_smart_device_error` for the reason (timeout, open_failed)", "`smartctl -a DEVICE` by hand"],
        ["Fix the device or controller access; raise `--smartctl.timeout` for slow controllers."],
        "KVM host", [
            Case({s("kvm_smart_device_last_success_timestamp_seconds", 'device="/dev/sda"'): "0x100"}, "80m",
                 {"device": "/dev/sda"}, "SMART data of /dev/sda on hv1:9978 is 1h 20m 0s old."),
            Case({s("kvm_smart_device_last_success_timestamp_seconds", 'device="/dev/sda"'): "0+60x100"}, "80m"),
        ]),
    Alert(
        "BackgroundCommandFailing", "exporter", "exporter_health", "warning",
        "kvm_poller_up{$sel} == 0",
        "15m", "A background command of the exporter keeps failing.",
        f"{{{{ $labels.poller }}}} on {HOST} has had failing commands for 15 minutes: its series "
        "(SMART, pools, iSCSI counters, OVS or image checks) are stale.",
        "The alerts on that source see old data; a hung zpool often means a hung pool, a hung "
        "smartctl a dying disk or controller.",
        ["`kvm_poller_errors_total{poller=\"...\"}` for the reason (timeout, exit_N, garbage, exec_failed)",
         "`kvm_zfs_command_error`, `kvm_smart_device_error`, `kvm_ovs_error` for the command",
         "run the command by hand: `timeout 30 zpool status`, `smartctl -a DEVICE`"],
        ["Fix what the reason names: the pool, the disk or controller, ovsdb-server, iscsid; "
         "raise the command's timeout (`--zfs.timeout`, `--smartctl.timeout`, ...) for slow devices."],
        "KVM host", [
            Case({s("kvm_poller_up", 'poller="zfs"'): "0x20"}, "18m", {"poller": "zfs"},
                 "zfs on hv1:9978 has had failing commands for 15 minutes: its series (SMART, pools, "
                 "iSCSI counters, OVS or image checks) are stale."),
            Case({s("kvm_poller_up", 'poller="qemu-img"'): "0x5 1x15"}, "18m"),
        ]),
]

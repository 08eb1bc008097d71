"""Alerts of the hardware layer: one or more per fault id of that layer (alerts/taxonomy.yml)."""

from __future__ import annotations

from bundle.model import HOST, Alert, Case, s

ALERTS: list[Alert] = [
    Alert(
        name="HostThermalZoneHot", layer="hardware", fault="cpu_overheat", severity="warning",
        expr="kvm_thermal_zone_temperature_celsius{$sel}"
        " >= on (job, instance, zone, type) group_left ()"
        " min by (job, instance, zone, type) (kvm_thermal_zone_trip_point_celsius{$sel,trip_type=~\"passive|hot\"})"
        " or (kvm_thermal_zone_temperature_celsius{$sel} >= $temperature_warning_celsius"
        " unless on (job, instance, zone) kvm_thermal_zone_trip_point_celsius{$sel})",
        for_="5m", summary="A thermal zone reached its passive/hot trip point.",
        description=f"Thermal zone {{{{ $labels.zone }}}} ({{{{ $labels.type }}}}) on {HOST} is at {{{{ $value }}}} °C, "
        "at or above its first passive/hot trip point (or the configured warning level).",
        impact="The CPU or board throttles to cool down: every VM on the host slows. Left alone it reaches "
        "the critical trip point and the host powers off.",
        diagnosis=["`cat /sys/class/thermal/thermal_zone*/temp` and `.../trip_point_*_{temp,type}`",
         "`sensors` (lm-sensors) for fans and other sensors", "`ipmitool sdr type Temperature` / the BMC event log"],
        mitigation=["Check fans and airflow (BMC, datacenter temperature); clean or replace failed fans.",
         "Move load away: live-migrate busy VMs (`virsh migrate --live DOMAIN qemu+ssh://OTHER/system`).",
         "If it keeps rising, evacuate the host and power it off before the critical trip point does."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_thermal_zone_temperature_celsius", 'zone="1",type="x86_pkg_temp"'): "90x20",
                  s("kvm_thermal_zone_trip_point_celsius", 'zone="1",type="x86_pkg_temp",trip="0",trip_type="passive"'): "85x20"},
                 at="10m", labels={"zone": "1", "type": "x86_pkg_temp"},
                 description="Thermal zone 1 (x86_pkg_temp) on hv1:9978 is at 90 °C, at or above its first passive/hot "
                 "trip point (or the configured warning level)."),
            Case(series={s("kvm_thermal_zone_temperature_celsius", 'zone="1",type="x86_pkg_temp"'): "70x20",
                  s("kvm_thermal_zone_trip_point_celsius", 'zone="1",type="x86_pkg_temp",trip="0",trip_type="passive"'): "85x20"},
                 at="10m"),
            Case(series={s("kvm_thermal_zone_temperature_celsius", 'zone="1",type="x86_pkg_temp"'): "70 90 90 70x10",
                  s("kvm_thermal_zone_trip_point_celsius", 'zone="1",type="x86_pkg_temp",trip="0",trip_type="passive"'): "85x20"},
                 at="8m"),
        ]),
    Alert(
        name="HostThermalZoneCritical", layer="hardware", fault="cpu_overheat", severity="critical",
        expr="kvm_thermal_zone_temperature_celsius{$sel}"
        " >= on (job, instance, zone, type) group_left ()"
        " min by (job, instance, zone, type) (kvm_thermal_zone_trip_point_celsius{$sel,trip_type=\"critical\"}) - 5"
        " or (kvm_thermal_zone_temperature_celsius{$sel} >= $temperature_critical_celsius"
        " unless on (job, instance, zone) kvm_thermal_zone_trip_point_celsius{$sel})",
        for_="1m", summary="A thermal zone is within 5 °C of its critical trip point.",
        description=f"Thermal zone {{{{ $labels.zone }}}} ({{{{ $labels.type }}}}) on {HOST} is at {{{{ $value }}}} °C, "
        "within 5 °C of its critical trip point (or above the configured critical level).",
        impact="At the critical trip point the kernel shuts the host down: every VM on it stops at once.",
        diagnosis=["`cat /sys/class/thermal/thermal_zone*/temp`", "`journalctl -k | grep -i -e thermal -e critical`"],
        mitigation=["Live-migrate or shut down VMs now, most important first.", "Fix cooling before powering back on."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_thermal_zone_temperature_celsius", 'zone="1",type="x86_pkg_temp"'): "101x10",
                  s("kvm_thermal_zone_trip_point_celsius", 'zone="1",type="x86_pkg_temp",trip="2",trip_type="critical"'): "105x10"},
                 at="5m", labels={"zone": "1", "type": "x86_pkg_temp"},
                 description="Thermal zone 1 (x86_pkg_temp) on hv1:9978 is at 101 °C, within 5 °C of its critical trip "
                 "point (or above the configured critical level)."),
            Case(series={s("kvm_thermal_zone_temperature_celsius", 'zone="1",type="x86_pkg_temp"'): "90x10",
                  s("kvm_thermal_zone_trip_point_celsius", 'zone="1",type="x86_pkg_temp",trip="2",trip_type="critical"'): "105x10"},
                 at="5m"),
        ]),
    Alert(
        name="HostSensorTemperatureHigh", layer="hardware", fault="cpu_overheat", severity="warning",
        expr="kvm_hwmon_temperature_celsius{$sel}"
        " >= on (job, instance, chip, sensor) kvm_hwmon_temperature_max_celsius{$sel}"
        " or (kvm_hwmon_temperature_celsius{$sel} >= $temperature_warning_celsius"
        " unless on (job, instance, chip, sensor) kvm_hwmon_temperature_max_celsius{$sel})",
        for_="5m", summary="A hardware temperature sensor is at or above its max.",
        description=f"Sensor {{{{ $labels.sensor }}}} of {{{{ $labels.chip }}}} on {HOST} reads {{{{ $value }}}} °C, at or "
        "above its own max (or the configured warning level where it has none).",
        impact="The component (CPU package, DIMM, NIC, disk controller) runs hot; it throttles or errs next.",
        diagnosis=["`sensors`", "`cat /sys/class/hwmon/hwmon*/{name,temp*_input,temp*_max}`"],
        mitigation=["Check fans and airflow for that component.", "Reduce load (migrate VMs) until it cools down."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_hwmon_temperature_celsius", 'chip="platform_coretemp_0",sensor="temp1"'): "86x10",
                  s("kvm_hwmon_temperature_max_celsius", 'chip="platform_coretemp_0",sensor="temp1"'): "84x10"},
                 at="8m", labels={"chip": "platform_coretemp_0", "sensor": "temp1"},
                 description="Sensor temp1 of platform_coretemp_0 on hv1:9978 reads 86 °C, at or above its own max (or the "
                 "configured warning level where it has none)."),
            Case(series={s("kvm_hwmon_temperature_celsius", 'chip="platform_coretemp_0",sensor="temp1"'): "55x10",
                  s("kvm_hwmon_temperature_max_celsius", 'chip="platform_coretemp_0",sensor="temp1"'): "84x10"},
                 at="8m"),
        ]),
    Alert(
        name="HostSensorTemperatureCritical", layer="hardware", fault="cpu_overheat", severity="critical",
        expr="kvm_hwmon_temperature_celsius{$sel}"
        " >= on (job, instance, chip, sensor) kvm_hwmon_temperature_crit_celsius{$sel}"
        " or (kvm_hwmon_temperature_celsius{$sel} >= $temperature_critical_celsius"
        " unless on (job, instance, chip, sensor) kvm_hwmon_temperature_crit_celsius{$sel})",
        for_="1m", summary="A hardware temperature sensor reached its critical level.",
        description=f"Sensor {{{{ $labels.sensor }}}} of {{{{ $labels.chip }}}} on {HOST} reads {{{{ $value }}}} °C, at or "
        "above its own crit (or the configured critical level where it has none).",
        impact="The component is about to shut itself down or fail; the host may power off to protect it.",
        diagnosis=["`sensors`", "`cat /sys/class/hwmon/hwmon*/{name,temp*_input,temp*_crit}`", "the BMC event log"],
        mitigation=["Live-migrate or shut down VMs now.", "Fix cooling for the component before bringing load back."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_hwmon_temperature_celsius", 'chip="platform_coretemp_0",sensor="temp1"'): "101x10",
                  s("kvm_hwmon_temperature_crit_celsius", 'chip="platform_coretemp_0",sensor="temp1"'): "100x10"},
                 at="5m", labels={"chip": "platform_coretemp_0", "sensor": "temp1"},
                 description="Sensor temp1 of platform_coretemp_0 on hv1:9978 reads 101 °C, at or above its own crit (or the "
                 "configured critical level where it has none)."),
            Case(series={s("kvm_hwmon_temperature_celsius", 'chip="platform_coretemp_0",sensor="temp1"'): "101x10",
                  s("kvm_hwmon_temperature_crit_celsius", 'chip="platform_coretemp_0",sensor="temp1"'): "105x10"},
                 at="5m"),
            Case(series={s("kvm_hwmon_temperature_celsius", 'chip="nct6779",sensor="temp3"'): "96x10"}, at="5m",
                 labels={"chip": "nct6779", "sensor": "temp3"},
                 description="Sensor temp3 of nct6779 on hv1:9978 reads 96 °C, at or above its own crit (or the configured "
                 "critical level where it has none)."),
        ]),
    Alert(
        name="HostCpuThrottling", layer="hardware", fault="cpu_overheat", severity="warning",
        expr="sum by (job, instance) (increase(kvm_cpu_core_throttles_total{$sel}[10m])"
        " or increase(kvm_cpu_package_throttles_total{$sel}[10m])) > 0",
        for_="10m", summary="CPUs are being throttled for heat.",
        description=f"CPUs on {HOST} were thermally throttled {{{{ $value }}}} times in the last 10 minutes.",
        impact="Throttled cores run slower: VM CPU time and latency suffer; it precedes higher temperatures.",
        diagnosis=["`grep . /sys/devices/system/cpu/cpu*/thermal_throttle/*_count`", "`turbostat --quiet sleep 5`"],
        mitigation=["Check cooling as for HostThermalZoneHot.", "Spread busy VMs over other hosts."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_cpu_core_throttles_total", 'core="0",package="0"'): "0+5x30"},
                 at="20m", labels={}, description="CPUs on hv1:9978 were thermally throttled 50 times in the last 10 minutes."),
            Case(series={s("kvm_cpu_core_throttles_total", 'core="0",package="0"'): "7x30"}, at="20m"),
        ]),
    Alert(
        name="HostMemoryUncorrectableErrors", layer="hardware", fault="memory_ecc", severity="critical",
        expr="sum by (job, instance, controller) (increase(kvm_edac_uncorrectable_errors_total{$sel}[10m])) > 0",
        for_="0m", summary="Uncorrectable memory (ECC) errors.",
        description=f"Memory controller {{{{ $labels.controller }}}} on {HOST} reported {{{{ $value }}}} uncorrectable "
        "ECC errors in the last 10 minutes.",
        impact="Data in RAM was lost: a process or VM may have crashed or hold corrupt data; the kernel may panic.",
        diagnosis=["`grep . /sys/devices/system/edac/mc/mc*/dimm*/{dimm_label,dimm_ue_count}`",
         "`journalctl -k | grep -i -e EDAC -e mce`", "`ras-mc-ctl --errors` (rasdaemon)", "the BMC event log"],
        mitigation=["Evacuate the host: live-migrate VMs away now.", "Replace the DIMM the labels point to.",
         "Check the VMs that ran here for crashes or corruption."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_edac_uncorrectable_errors_total", 'controller="0"'): "0x5 1x10"}, at="12m",
                 labels={"controller": "0"},
                 description="Memory controller 0 on hv1:9978 reported 1 uncorrectable ECC errors in the last 10 minutes."),
            Case(series={s("kvm_edac_uncorrectable_errors_total", 'controller="0"'): "5x20"}, at="15m"),
        ]),
    Alert(
        name="HostMemoryCorrectableErrorsHigh", layer="hardware", fault="memory_ecc", severity="warning",
        expr="sum by (job, instance, controller) (increase(kvm_edac_correctable_errors_total{$sel}[1h]))"
        " > $ecc_correctable_per_hour",
        for_="15m", summary="Many correctable memory (ECC) errors.",
        description=f"Memory controller {{{{ $labels.controller }}}} on {HOST} corrected {{{{ $value }}}} ECC errors in "
        "the last hour.",
        impact="ECC still corrects them, but a DIMM with a rising rate often turns uncorrectable next.",
        diagnosis=["`grep . /sys/devices/system/edac/mc/mc*/dimm*/{dimm_label,dimm_ce_count}`", "`ras-mc-ctl --summary`"],
        mitigation=["Plan the DIMM replacement; move critical VMs off the host first."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_edac_correctable_errors_total", 'controller="1"'): "0+1x90"}, at="80m",
                 labels={"controller": "1"},
                 description="Memory controller 1 on hv1:9978 corrected 60 ECC errors in the last hour."),
            Case(series={s("kvm_edac_correctable_errors_total", 'controller="1"'): "17x90"}, at="80m"),
        ]),
    Alert(
        name="HostMachineCheckErrors", layer="hardware", fault="memory_ecc", severity="warning",
        expr="sum by (job, instance, kind) (increase(kvm_kernel_hardware_errors_total{$sel}[30m])) > 0",
        for_="0m", summary="The kernel logged machine-check / EDAC errors.",
        description=f"The kernel on {HOST} logged {{{{ $value }}}} hardware errors of kind {{{{ $labels.kind }}}} in the "
        "last 30 minutes.",
        impact="A CPU, memory or bus reported an error; uncorrected ones crash processes or the host.",
        diagnosis=["`journalctl -k | grep -e 'Hardware Error' -e EDAC`", "`ras-mc-ctl --errors`", "`mcelog --client`"],
        mitigation=["Correlate with EDAC counters and the BMC log; replace the failing part.",
         "Evacuate the host if the errors are uncorrected or growing."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_kernel_hardware_errors_total", 'kind="mce"'): "0x35 1x10"}, at="40m", labels={"kind": "mce"},
                 description="The kernel on hv1:9978 logged 1 hardware errors of kind mce in the last 30 minutes."),
            Case(series={s("kvm_kernel_hardware_errors_total", 'kind="mce"'): "0x40"}, at="35m"),
        ]),
    Alert(
        name="SmartDeviceFailing", layer="hardware", fault="disk_smart", severity="critical",
        expr="kvm_smart_health_passed{$sel} == 0",
        for_="5m", summary="A disk's SMART self-assessment failed.",
        description=f"Disk {{{{ $labels.device }}}} on {HOST} fails its SMART overall health self-assessment.",
        impact="The drive predicts its own failure: data on it (and RAID/ZFS redundancy) is at risk.",
        diagnosis=["`smartctl -a DEVICE`", "`zpool status -v` / `cat /proc/mdstat` for the array it is in"],
        mitigation=["Replace the disk: `zpool replace POOL OLD NEW` or `mdadm --manage /dev/mdX --replace OLD --with NEW`.",
         "Until then make sure backups and snapshots of the VMs on it are current."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_smart_health_passed", 'device="/dev/sda"'): "0x10"}, at="8m", labels={"device": "/dev/sda"},
                 description="Disk /dev/sda on hv1:9978 fails its SMART overall health self-assessment."),
            Case(series={s("kvm_smart_health_passed", 'device="/dev/sda"'): "1x10"}, at="8m"),
        ]),
    Alert(
        name="SmartBadSectorsGrowing", layer="hardware", fault="disk_smart", severity="warning",
        expr="sum by (job, instance, device) ("
        "delta(kvm_smart_reallocated_sectors{$sel}[1d]) or delta(kvm_smart_pending_sectors{$sel}[1d])"
        " or delta(kvm_smart_offline_uncorrectable_sectors{$sel}[1d])) > 0",
        for_="0m", summary="A disk's reallocated/pending sector count grew.",
        description=f"Disk {{{{ $labels.device }}}} on {HOST} gained reallocated, pending or uncorrectable sectors in the "
        "last day.",
        impact="Media is wearing out; growing counts usually end in read errors and a failed disk.",
        diagnosis=["`smartctl -A DEVICE` (attributes 5, 197, 198)", "`smartctl -l error DEVICE`"],
        mitigation=["Run a long self-test (`smartctl -t long DEVICE`) and plan the replacement."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_smart_pending_sectors", 'device="/dev/sdb"'): "0x10 8x10"}, at="15m", labels={"device": "/dev/sdb"},
                 description="Disk /dev/sdb on hv1:9978 gained reallocated, pending or uncorrectable sectors in the last day."),
            Case(series={s("kvm_smart_pending_sectors", 'device="/dev/sdb"'): "8x30"}, at="25m"),
        ]),
    Alert(
        name="SmartNvmeCriticalWarning", layer="hardware", fault="disk_smart", severity="critical",
        expr="kvm_smart_nvme_critical_warning{$sel} > 0",
        for_="5m", summary="An NVMe drive raised a critical warning.",
        description=f"NVMe {{{{ $labels.device }}}} on {HOST} reports critical warning bits {{{{ $value }}}} (spare, "
        "temperature, reliability, read-only, ...).",
        impact="The drive is degraded: low spare, overheated, read-only or unreliable.",
        diagnosis=["`smartctl -a DEVICE`", "`nvme smart-log DEVICE`"],
        mitigation=["Move data off the drive and replace it."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_smart_nvme_critical_warning", 'device="/dev/nvme0"'): "4x10"}, at="8m",
                 labels={"device": "/dev/nvme0"},
                 description="NVMe /dev/nvme0 on hv1:9978 reports critical warning bits 4 (spare, temperature, reliability, "
                 "read-only, ...)."),
            Case(series={s("kvm_smart_nvme_critical_warning", 'device="/dev/nvme0"'): "0x10"}, at="8m"),
        ]),
    Alert(
        name="SmartTemperatureAboveDriveLimit", layer="hardware", fault="disk_smart", severity="warning",
        expr="kvm_smart_temperature_celsius{$sel} > on (job, instance, device) kvm_smart_temperature_trip_celsius{$sel}",
        for_="5m", summary="A disk is hotter than its own temperature limit.",
        description=f"Disk {{{{ $labels.device }}}} on {HOST} is at {{{{ $value }}}} °C, above the limit the drive "
        "itself reports (drive trip or warning composite temperature).",
        impact="Above its limit the drive throttles (NVMe) or wears and fails faster; sustained heat ends in "
        "errors or a shutdown of the drive.",
        diagnosis=["`smartctl -x DEVICE` (temperature history, limits)", "fans, airflow and the BMC's sensors; "
         "the host dashboard (SMART temperatures)"],
        mitigation=["Fix the cooling (fans, blanking panels, a blocked inlet); move I/O-heavy VMs away meanwhile.",
         "Replace the drive if it runs hot in a cool chassis."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_smart_temperature_celsius", 'device="/dev/nvme0"'): "84x10",
                         s("kvm_smart_temperature_trip_celsius", 'device="/dev/nvme0"'): "80x10"},
                 at="8m", labels={"device": "/dev/nvme0"},
                 description="Disk /dev/nvme0 on hv1:9978 is at 84 °C, above the limit the drive itself reports "
                 "(drive trip or warning composite temperature)."),
            Case(series={s("kvm_smart_temperature_celsius", 'device="/dev/nvme0"'): "60x10",
                         s("kvm_smart_temperature_trip_celsius", 'device="/dev/nvme0"'): "80x10"}, at="8m"),
        ]),
    Alert(
        name="SmartNvmeMediaErrorsGrowing", layer="hardware", fault="disk_smart", severity="warning",
        expr="increase(kvm_smart_nvme_media_errors_total{$sel}[1h]) > 0",
        for_="0m", summary="An NVMe drive reports new media errors.",
        description=f"NVMe {{{{ $labels.device }}}} on {HOST} logged {{{{ $value | printf \"%.0f\" }}}} new media and data integrity "
        "errors in the last hour.",
        impact="The flash returns data it cannot correct: reads fail inside VMs or ZFS/RAID repair from "
        "redundancy; growing counts come before a failed drive.",
        diagnosis=["`smartctl -a DEVICE` (Media and Data Integrity Errors, Error Information Log)",
         "`nvme error-log DEVICE`", "`zpool status -v` / `dmesg | grep -i nvme`"],
        mitigation=["Make sure the data on it is redundant or backed up; plan the replacement.",
         "Update the drive firmware if the vendor lists a fix."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_smart_nvme_media_errors_total", 'device="/dev/nvme0"'): "2x30 5x30"},
                 at="40m", labels={"device": "/dev/nvme0"},
                 description="NVMe /dev/nvme0 on hv1:9978 logged 3 new media and data integrity errors in the last hour."),
            Case(series={s("kvm_smart_nvme_media_errors_total", 'device="/dev/nvme0"'): "2x60"}, at="40m"),
        ]),
    Alert(
        name="SmartNvmeWearHigh", layer="hardware", fault="disk_smart", severity="warning",
        expr="kvm_smart_nvme_percentage_used_ratio{$sel} > $nvme_percentage_used_ratio",
        for_="1h", summary="An NVMe drive is near the end of its rated endurance.",
        description=f"NVMe {{{{ $labels.device }}}} on {HOST} has used {{{{ $value | humanizePercentage }}}} of its "
        "rated write endurance.",
        impact="Past 100% the vendor no longer promises the drive holds data; errors and read-only mode follow.",
        diagnosis=["`smartctl -a DEVICE` (Percentage Used, Data Units Written)",
         "which VMs write most (`topk(5, rate(kvm_domain_block_write_bytes_total[1d]))`)"],
        mitigation=["Plan the replacement; move write-heavy VMs to other storage meanwhile."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_smart_nvme_percentage_used_ratio", 'device="/dev/nvme0"'): "0.95x90"},
                 at="80m", labels={"device": "/dev/nvme0"},
                 description="NVMe /dev/nvme0 on hv1:9978 has used 95% of its rated write endurance."),
            Case(series={s("kvm_smart_nvme_percentage_used_ratio", 'device="/dev/nvme0"'): "0.4x90"}, at="80m"),
        ]),
    Alert(
        name="SmartNvmeSpareLow", layer="hardware", fault="disk_smart", severity="critical",
        expr="kvm_smart_nvme_available_spare_ratio{$sel}"
        " < on (job, instance, device) kvm_smart_nvme_available_spare_threshold_ratio{$sel}",
        for_="5m", summary="An NVMe drive's spare capacity fell below its threshold.",
        description=f"NVMe {{{{ $labels.device }}}} on {HOST} has {{{{ $value | humanizePercentage }}}} spare capacity "
        "left, below the threshold the drive sets.",
        impact="The drive has almost no blocks left to replace worn ones: it will turn read-only or fail soon.",
        diagnosis=["`smartctl -a DEVICE` (Available Spare, Available Spare Threshold)"],
        mitigation=["Move data and VMs off the drive now and replace it."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_smart_nvme_available_spare_ratio", 'device="/dev/nvme0"'): "0.05x10",
                         s("kvm_smart_nvme_available_spare_threshold_ratio", 'device="/dev/nvme0"'): "0.1x10"},
                 at="8m", labels={"device": "/dev/nvme0"},
                 description="NVMe /dev/nvme0 on hv1:9978 has 5% spare capacity left, below the threshold the drive sets."),
            Case(series={s("kvm_smart_nvme_available_spare_ratio", 'device="/dev/nvme0"'): "1x10",
                         s("kvm_smart_nvme_available_spare_threshold_ratio", 'device="/dev/nvme0"'): "0.1x10"}, at="8m"),
        ]),
]

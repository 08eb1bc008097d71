"""Alerts of the virtualization layer: one or more per fault id of that layer (alerts/taxonomy.yml)."""

from __future__ import annotations

from bundle.model import HOST, VM, Alert, Case, J, crash_loop, grew, s
from bundle.slo import SLO_ALERTS

ALERTS: list[Alert] = [
    Alert(
        name="VmOomKilled", layer="virtualization", fault="process_oom", severity="critical",
        expr=grew('kvm_kernel_oom_kills_total{$sel,domain!=""}', "15m", "job, instance, domain"),
        for_="0m", summary="The OOM killer killed a VM's QEMU process.",
        description=f"The kernel OOM killer killed the QEMU process of VM {VM} on {HOST}.",
        impact="The VM died without shutting down (like a power cut): unsaved data is lost, its services are down.",
        diagnosis=["`journalctl -k | grep -i -A20 'invoked oom-killer'`", "`virsh domstate --reason DOMAIN`",
         "`virsh memtune DOMAIN` (a hard_limit too tight?)", "the VM dashboard"],
        mitigation=["Start the VM again: `virsh start DOMAIN`.",
         "Find why memory ran out: host overcommit (HostMemoryOvercommitted), a memtune hard_limit, "
         "or QEMU overhead (`kvm_domain_qemu_memory_overhead_bytes`).",
         "Free memory or move VMs before the next kill."],
        dashboard="KVM VM", cases=[
            Case(series={s("kvm_kernel_oom_kills_total", 'comm="qemu-system-x86",domain="web-1"'): "_x20 1x10",
                  f"up{{{J}}}": "1x30"}, at="22m",
                 labels={"domain": "web-1"}, description="The kernel OOM killer killed the QEMU process of VM web-1 on hv1:9978."),
            Case(series={s("kvm_kernel_oom_kills_total", 'comm="qemu-system-x86",domain="web-1"'): "1x30",
                  f"up{{{J}}}": "1x30"}, at="25m"),
            Case(series={s("kvm_kernel_oom_kills_total", 'comm="python3",domain=""'): "0x5 1x10"}, at="8m"),
        ]),
    Alert(
        name="HostOomKills", layer="virtualization", fault="process_oom", severity="warning",
        expr="increase(kvm_host_oom_kills_total{$sel}[15m]) > 0",
        for_="0m", summary="The OOM killer fired on the host.",
        description=f"The kernel OOM killer killed {{{{ $value }}}} processes on {HOST} in the last 15 minutes.",
        impact="Host or cgroup memory ran out; the next victim may be a VM or a host daemon.",
        diagnosis=["`journalctl -k | grep -i oom`", "`free -m`, `cat /proc/pressure/memory`"],
        mitigation=["Find the memory hog or the too-small cgroup limit; reduce overcommit."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_host_oom_kills_total"): "3x20 4x10"}, at="22m", labels={},
                 description="The kernel OOM killer killed 1 processes on hv1:9978 in the last 15 minutes."),
            Case(series={s("kvm_host_oom_kills_total"): "3x20"}, at="15m"),
        ]),
    Alert(
        name="VmAutostartNotRunning", layer="virtualization", fault="domain_failure", severity="critical",
        expr="kvm_domain_autostart_not_running{$sel} == 1",
        for_="5m", summary="A VM marked autostart is not running.",
        description=f"VM {VM} on {HOST} is marked autostart but is not running.",
        impact="A VM that should be up is down: its services are unavailable.",
        diagnosis=["`virsh domstate --reason DOMAIN`", "`virsh dominfo DOMAIN`", "`/var/log/libvirt/qemu/DOMAIN.log`"],
        mitigation=["Start it: `virsh start DOMAIN`; if it fails, read the QEMU log and fix the cause.",
         "If it is meant to stay off, `virsh autostart --disable DOMAIN`."],
        dashboard="KVM VM", cases=[
            Case(series={s("kvm_domain_autostart_not_running", 'domain="db-1"'): "1x10"}, at="8m", labels={"domain": "db-1"},
                 description="VM db-1 on hv1:9978 is marked autostart but is not running."),
            Case(series={s("kvm_domain_autostart_not_running", 'domain="db-1"'): "0x3 1x2 0x5"}, at="8m"),
        ]),
    Alert(
        name="VmPausedOnIoError", layer="virtualization", fault="domain_failure", severity="critical",
        expr='kvm_domain_state_info{$sel,state="paused",reason="ioerror"} == 1',
        for_="1m", summary="A VM is paused on a disk I/O error.",
        description=f"VM {VM} on {HOST} is paused because a disk I/O failed (full storage or a dead disk/LUN).",
        impact="The VM is frozen until the storage is fixed and it is resumed.",
        diagnosis=["`virsh domblkerror DOMAIN`", "`virsh domstate --reason DOMAIN`", "`df -h` on the image's filesystem",
         "`iscsiadm -m session -P 3`, `zpool status -v`"],
        mitigation=["Free space or repair the storage path.", "Resume: `virsh resume DOMAIN`."],
        dashboard="KVM VM", cases=[
            Case(series={s("kvm_domain_state_info", 'domain="db-1",state="paused",reason="ioerror"'): "1x5"}, at="3m",
                 labels={"domain": "db-1", "state": "paused", "reason": "ioerror"},
                 description="VM db-1 on hv1:9978 is paused because a disk I/O failed (full storage or a dead disk/LUN)."),
            Case(series={s("kvm_domain_state_info", 'domain="db-1",state="paused",reason="user"'): "1x5"}, at="3m"),
        ]),
    Alert(
        name="VmCrashed", layer="virtualization", fault="domain_failure", severity="critical",
        expr=grew('kvm_domain_lifecycle_events_total{$sel,event=~"stopped|crashed",'
             'detail=~"crashed|failed|panicked|crashloaded"}', "15m", "job, instance, domain, detail"),
        for_="0m", summary="A VM crashed or its QEMU died.",
        description=f"VM {VM} on {HOST} stopped unexpectedly ({{{{ $labels.detail }}}}).",
        impact="The VM is down without a clean shutdown; unsaved data is lost.",
        diagnosis=["`virsh domstate --reason DOMAIN`", "`/var/log/libvirt/qemu/DOMAIN.log`", "`journalctl -k` (OOM, segfault)"],
        mitigation=["Start it again (`virsh start DOMAIN`) and read the QEMU log for the cause."],
        dashboard="KVM VM", cases=[
            Case(series={s("kvm_domain_lifecycle_events_total", 'domain="web-1",event="stopped",detail="failed"'): "_x20 1x10",
                  f"up{{{J}}}": "1x30"}, at="22m", labels={"domain": "web-1", "detail": "failed"},
                 description="VM web-1 on hv1:9978 stopped unexpectedly (failed)."),
            Case(series={s("kvm_domain_lifecycle_events_total", 'domain="web-1",event="stopped",detail="failed"'): "1x30"},
                 at="22m"),
            Case(series={s("kvm_domain_lifecycle_events_total", 'domain="web-1",event="stopped",detail="shutdown"'): "0x3 1x10"},
                 at="8m"),
        ]),
    Alert(
        name="VmQemuLogErrors", layer="virtualization", fault="domain_failure", severity="warning",
        expr=grew("kvm_domain_qemu_log_errors_total{$sel}", "15m", "job, instance, domain, kind"),
        for_="0m", summary="QEMU logged errors for a VM.",
        description=f"QEMU logged {{{{ $value }}}} {{{{ $labels.kind }}}} lines for VM {VM} on {HOST} in the last 15 minutes.",
        impact="A device failed to attach, I/O failed, a migration failed or QEMU was killed.",
        diagnosis=["`tail -50 /var/log/libvirt/qemu/DOMAIN.log`"],
        mitigation=["Act on the logged error (device path, storage, migration target)."],
        dashboard="KVM VM", cases=[
            Case(series={s("kvm_domain_qemu_log_errors_total", 'domain="web-1",kind="io_error"'): "0x20 2x10"}, at="24m",
                 labels={"domain": "web-1", "kind": "io_error"},
                 description="QEMU logged 2 io_error lines for VM web-1 on hv1:9978 in the last 15 minutes."),
            Case(series={s("kvm_domain_qemu_log_errors_total", 'domain="web-1",kind="io_error"'): "0x20"}, at="15m"),
        ]),
    Alert(
        name="KvmPrerequisiteMissing", layer="virtualization", fault="kmod_failure", severity="critical",
        expr='kvm_host_kvm_check{$sel,check!="vhost_net"} == 0',
        for_="5m", summary="KVM cannot run VMs on this host.",
        description=f"KVM prerequisite {{{{ $labels.check }}}} fails on {HOST}: {{{{ $labels.reason }}}}.",
        impact="New VMs cannot start (or run without acceleration); running ones may be unaffected until restarted.",
        diagnosis=["`ls -l /dev/kvm`", "`lsmod | grep kvm`", "`grep -c -e vmx -e svm /proc/cpuinfo`",
         "`journalctl -k | grep -i kvm` (\"disabled by bios\")", "`virsh domcapabilities`"],
        mitigation=["Load the module (`modprobe kvm_intel` / `kvm_amd`) or enable virtualization in the BIOS.",
         "Fix /dev/kvm permissions (group kvm, mode 0660).", "Move VMs to another host until fixed."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_host_kvm_check", 'check="dev_kvm",reason="missing"'): "0x10"}, at="8m",
                 labels={"check": "dev_kvm", "reason": "missing"}, description="KVM prerequisite dev_kvm fails on hv1:9978: missing."),
            Case(series={s("kvm_host_kvm_check", 'check="vhost_net",reason="missing"'): "0x10"}, at="8m"),
        ]),
    Alert(
        name="LibvirtDown", layer="virtualization", fault="kmod_failure", severity="critical",
        expr="kvm_libvirt_up{$sel} == 0",
        for_="5m", summary="libvirt does not answer on this host.",
        description=f"kvm-exporter on {HOST} cannot reach libvirt (down, frozen or refusing the read-only socket) "
        "for 5 minutes.",
        impact="VMs keep running, but none can be started, stopped or migrated, and every VM alert of this host "
        "is blind: their signals come from libvirt.",
        diagnosis=["`virsh -c qemu:///system list --all` (hangs or errors)", "`systemctl status libvirtd virtqemud` and "
         "`journalctl -u libvirtd`", "`virt-admin srv-threadpool-info libvirtd` (workers all busy: a wedged "
         "call)", "the exporter's landing page `/` (the libvirt collector's error)"],
        mitigation=["Restart the daemon (`systemctl restart libvirtd` or `virtqemud`): running VMs are not affected.",
         "If it hangs again, find the stuck domain (`virsh list` per domain, QEMU in D state) and fix its storage.",
         "Check the exporter may read the socket (`/run/libvirt/libvirt-sock-ro`, unit `SupplementaryGroups`)."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_libvirt_up"): "0x10"}, at="8m", labels={},
                 description="kvm-exporter on hv1:9978 cannot reach libvirt (down, frozen or refusing the read-only "
                 "socket) for 5 minutes."),
            Case(series={s("kvm_libvirt_up"): "0x3 1x7"}, at="8m"),
        ]),
    Alert(
        name="VhostNetMissing", layer="virtualization", fault="kmod_failure", severity="warning",
        expr='kvm_host_kvm_check{$sel,check="vhost_net"} == 0',
        for_="15m", summary="vhost-net is not available.",
        description=f"vhost-net is not available on {HOST} ({{{{ $labels.reason }}}}): VM networking runs in QEMU userspace.",
        impact="VM network throughput drops and host CPU use rises.",
        diagnosis=["`ls -l /dev/vhost-net`", "`lsmod | grep vhost_net`"],
        mitigation=["`modprobe vhost_net`; restart (or migrate) VMs to use it."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_host_kvm_check", 'check="vhost_net",reason="missing"'): "0x20"}, at="18m",
                 labels={"check": "vhost_net", "reason": "missing"},
                 description="vhost-net is not available on hv1:9978 (missing): VM networking runs in QEMU userspace."),
            Case(series={s("kvm_host_kvm_check", 'check="vhost_net",reason="ok"'): "1x20"}, at="18m"),
        ]),
    Alert(
        name="LibvirtConfigCorrupt", layer="virtualization", fault="config_corruption", severity="critical",
        expr="kvm_libvirt_config_file_valid{$sel} == 0",
        for_="5m", summary="A libvirt configuration file does not parse.",
        description=f"{{{{ $labels.path }}}} in the libvirt configuration on {HOST} is corrupt or unreadable.",
        impact="libvirt will fail to load it at the next restart: a VM or network disappears, or the daemon "
        "refuses to start.",
        diagnosis=["`virt-xml-validate /etc/libvirt/PATH`", "`xmllint --noout /etc/libvirt/PATH`",
         "the exporter log (it names the line)", "`git -C /etc log` / your config management"],
        mitigation=["Restore the file from backup or config management.",
         "For a domain: `virsh dumpxml DOMAIN --inactive` still has the good definition while libvirt runs; "
         "`virsh define` it back."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_libvirt_config_file_valid", 'path="qemu.conf",kind="conf"'): "0x10"}, at="8m",
                 labels={"path": "qemu.conf", "kind": "conf"},
                 description="qemu.conf in the libvirt configuration on hv1:9978 is corrupt or unreadable."),
            Case(series={s("kvm_libvirt_config_file_valid", 'path="qemu.conf",kind="conf"'): "1x3 0x2 1x5"}, at="9m"),
        ]),
    Alert(
        name="VmConfigDrift", layer="virtualization", fault="config_corruption", severity="warning",
        expr="kvm_domain_config_drift{$sel} == 1",
        for_="15m", summary="A VM's definition on disk differs from libvirt's.",
        description=f"The definition file of VM {VM} on {HOST} no longer matches what libvirt has defined.",
        impact="Someone edited the file behind libvirt's back (or libvirt could not write it): the next "
        "libvirt restart loads a different VM than the one running.",
        diagnosis=["`diff <(virsh dumpxml --inactive DOMAIN) /etc/libvirt/qemu/DOMAIN.xml`"],
        mitigation=["Decide which is right: `virsh define` the file, or re-save libvirt's (`virsh dumpxml --inactive DOMAIN "
         "> /tmp/d.xml && virsh define /tmp/d.xml`)."],
        dashboard="KVM VM", cases=[
            Case(series={s("kvm_domain_config_drift", 'domain="web-1"'): "1x30"}, at="20m", labels={"domain": "web-1"},
                 description="The definition file of VM web-1 on hv1:9978 no longer matches what libvirt has defined."),
            Case(series={s("kvm_domain_config_drift", 'domain="web-1"'): "0x30"}, at="20m"),
        ]),
    Alert(
        name="VmPausedTooLong", layer="virtualization", fault="vm_health", severity="warning",
        expr='kvm_domain_state_info{$sel,state="paused",reason!="ioerror"} == 1',
        for_="15m", summary="A VM has been paused for a long time (not on an I/O error).",
        description=f"VM {VM} on {HOST} has been paused for over 15 minutes (reason: {{{{ $labels.reason }}}}).",
        impact="The VM is frozen: a pause left behind by a user or a tool, a migration stuck in its paused "
        "phase, a watchdog action or a failed snapshot. It serves nothing until resumed.",
        diagnosis=["`virsh domstate --reason DOMAIN`", "`virsh domjobinfo DOMAIN` (a migration or save in progress?)",
         "`journalctl -u libvirtd` / the domain's log in /var/log/libvirt/qemu/ for who paused it"],
        mitigation=["If no job holds it and the pause is not wanted: `virsh resume DOMAIN`.",
         "A migration stuck paused: `virsh domjobabort DOMAIN`, then resume on the source."],
        dashboard="KVM VM", cases=[
            Case(series={s("kvm_domain_state_info", 'domain="web-1",state="paused",reason="user"'): "1x30"}, at="20m",
                 labels={"domain": "web-1", "state": "paused", "reason": "user"},
                 description="VM web-1 on hv1:9978 has been paused for over 15 minutes (reason: user)."),
            Case(series={s("kvm_domain_state_info", 'domain="web-1",state="paused",reason="user"'): "1x10 0x20"},
                 at="20m"),
            Case(series={s("kvm_domain_state_info", 'domain="db-1",state="paused",reason="ioerror"'): "1x30"},
                 at="20m"),  # paused on an I/O error: VmPausedOnIoError's
        ]),
    Alert(
        name="VmCpuStealHigh", layer="virtualization", fault="vm_health", severity="warning",
        expr="instance_domain:kvm_domain_vcpu_delay:ratio_rate5m > $vm_vcpu_delay_ratio",
        for_="15m", summary="A VM's vCPUs wait long for a host CPU (steal).",
        description=f"The vCPUs of VM {VM} on {HOST} waited {{{{ $value | humanizePercentage }}}} of the time "
        "for a host CPU over the last 5 minutes.",
        impact="The guest sees steal time: everything in it runs slower, latency-sensitive services time out. "
        "A noisy neighbour, vCPUs pinned onto the same host CPUs, or a host with more runnable vCPUs than CPUs.",
        diagnosis=["the VM dashboard (vCPU wait and steal), the host dashboard (CPU busy, vCPU allocation)",
         "`virsh vcpupin DOMAIN` and `virsh emulatorpin DOMAIN` (pinned onto a busy CPU?)",
         "`top -H -p $(cat /run/libvirt/qemu/DOMAIN.pid)`; which other VMs burn CPU "
         "(`topk(5, rate(kvm_domain_cpu_seconds_total[5m]))`)"],
        mitigation=["Move the noisy neighbour or this VM to a less busy host (`virsh migrate --live`).",
         "Re-pin vCPUs away from the contended CPUs (`virsh vcpupin DOMAIN VCPU CPULIST --live`).",
         "Lower host overcommit (HostCpuOvercommitted)."],
        dashboard="KVM VM", cases=[
            Case(series={s("kvm_domain_vcpu_delay_seconds_total", 'domain="web-1",vcpu="0"'): "0+30x30",
                         s("kvm_domain_vcpu_delay_seconds_total", 'domain="web-1",vcpu="1"'): "0+30x30"},
                 at="25m", labels={"domain": "web-1"},
                 description="The vCPUs of VM web-1 on hv1:9978 waited 50% of the time for a host CPU over the "
                 "last 5 minutes."),
            Case(series={s("kvm_domain_vcpu_delay_seconds_total", 'domain="web-1",vcpu="0"'): "0+6x30"}, at="25m"),
        ]),
    Alert(
        name="VmMemoryPressure", layer="virtualization", fault="vm_health", severity="warning",
        expr="instance_domain:kvm_domain_memory_usable:ratio < $vm_memory_usable_ratio"
        " or instance_domain:kvm_domain_memory_swap:bytes_rate5m > $vm_swap_bytes_per_second",
        for_="15m", summary="A guest is short of memory.",
        description=f"The guest of VM {VM} on {HOST} has little usable memory left or is swapping.",
        impact="The guest reclaims caches and swaps: its applications slow down, and its own OOM killer may "
        "kill them. The host cannot see this from outside without the balloon driver's statistics.",
        diagnosis=["the VM dashboard (Guest memory, Memory pressure)", "inside the guest: `free -m`, `vmstat 1`, "
         "`cat /proc/pressure/memory`", "`virsh dommemstat DOMAIN` (usable, swap_in/out, major_fault)"],
        mitigation=["Give the VM more memory (`virsh setmem DOMAIN SIZE --live` up to its maximum; raise "
         "`virsh setmaxmem` for the next boot).", "If the balloon was inflated on purpose, deflate it.",
         "Find the process inside the guest that grew."],
        dashboard="KVM VM", cases=[
            Case(series={s("kvm_domain_memory_usable_bytes", 'domain="db-1"'): "50x30",
                         s("kvm_domain_memory_available_bytes", 'domain="db-1"'): "1000x30"},
                 at="20m", labels={"domain": "db-1"},
                 description="The guest of VM db-1 on hv1:9978 has little usable memory left or is swapping."),
            Case(series={s("kvm_domain_memory_swap_in_bytes_total", 'domain="db-1"'): "0+120000000x30",
                         s("kvm_domain_memory_swap_out_bytes_total", 'domain="db-1"'): "0x30"},
                 at="20m", labels={"domain": "db-1"},
                 description="The guest of VM db-1 on hv1:9978 has little usable memory left or is swapping."),
            Case(series={s("kvm_domain_memory_usable_bytes", 'domain="db-1"'): "500x30",
                         s("kvm_domain_memory_available_bytes", 'domain="db-1"'): "1000x30"}, at="20m"),
        ]),
    Alert(
        name="VmDiskLatencyHigh", layer="virtualization", fault="vm_health", severity="warning",
        expr="instance_domain_target:kvm_domain_block_read_latency:seconds_rate5m > $vm_disk_latency_seconds"
        " or instance_domain_target:kvm_domain_block_write_latency:seconds_rate5m > $vm_disk_latency_seconds",
        for_="10m", summary="A VM's disk answers slowly.",
        description=f"Disk {{{{ $labels.target }}}} of VM {VM} on {HOST} takes {{{{ $value | humanizeDuration }}}} "
        "per request (5-minute average).",
        impact="Every I/O of the guest waits: databases stall, timeouts fire. Causes: the disk runs at its "
        "I/O throttle limit, the host storage (pool, iSCSI LUN, ZFS) is slow or overloaded, or a noisy neighbour "
        "shares it.",
        diagnosis=["the VM dashboard (Disk latency, Disk IOPS) and the host dashboard (storage)",
         "`virsh blkdeviotune DOMAIN TARGET` (a limit it runs at?)",
         "`iostat -x 5` on the host device; `zpool iostat -v 5`; `iscsiadm -m session -P 3`"],
        mitigation=["Raise or remove the throttle (`virsh blkdeviotune DOMAIN TARGET --total-iops-sec N --live`).",
         "Move the image to faster or less busy storage (`virsh blockcopy`), or the busy neighbour away.",
         "Fix the storage path (see the storage alerts of the host)."],
        dashboard="KVM VM", cases=[
            Case(series={s("kvm_domain_block_write_seconds_total", 'domain="db-1",target="vda"'): "0+15x30",
                         s("kvm_domain_block_write_requests_total", 'domain="db-1",target="vda"'): "0+60x30"},
                 at="20m", labels={"domain": "db-1", "target": "vda"},
                 description="Disk vda of VM db-1 on hv1:9978 takes 250ms per request (5-minute average)."),
            Case(series={s("kvm_domain_block_write_seconds_total", 'domain="db-1",target="vda"'): "0+0.6x30",
                         s("kvm_domain_block_write_requests_total", 'domain="db-1",target="vda"'): "0+60x30"},
                 at="20m"),
        ]),
    Alert(
        name="VmCrashLoop", layer="virtualization", fault="vm_health", severity="critical",
        expr=crash_loop('kvm_domain_lifecycle_events_total{$sel,event=~"stopped|crashed",'
                        'detail=~"crashed|failed|panicked|crashloaded"}'),
        for_="0m", summary="A VM crashes again and again.",
        description=f"VM {VM} on {HOST} crashed {{{{ $value }}}} times within the crash-loop window "
        "(`vm_crash_loop_window`, a day by default).",
        impact="Restarting does not help: the guest (a kernel panic, a bad update), its QEMU (a device, an "
        "image) or the host (OOM, memory errors) kills it each time. Whatever it serves is down most of the "
        "time, and a restart policy keeps burning host resources.",
        diagnosis=["`/var/log/libvirt/qemu/DOMAIN.log` around each crash", "`journalctl -k` (OOM, segfaults, MCE)",
         "the guest's console (`virsh console DOMAIN`) for a panic", "what changed before the first crash "
         "(guest update, image, host kernel)"],
        mitigation=["Stop the restarts (Pacemaker, a remediator, autostart) until the cause is known.",
         "Boot the guest into a rescue image or an older kernel; revert the last change.",
         "If the host is the cause (OOM, ECC), move the VM away."],
        dashboard="KVM VM", cases=[
            Case(series={s("kvm_domain_lifecycle_events_total", 'domain="web-1",event="stopped",detail="failed"'):
                         "1x1500 2 3 4 5x10", f"up{{{J}}}": "1x1520"},
                 at="1510m", every="10m", labels={"domain": "web-1"},
                 description="VM web-1 on hv1:9978 crashed 4 times within the crash-loop window "
                 "(`vm_crash_loop_window`, a day by default)."),
            # the first crash creates the series (at 1): it counts, once Prometheus knew the target a day
            Case(series={s("kvm_domain_lifecycle_events_total", 'domain="web-1",event="stopped",detail="failed"'):
                         "_x1500 1 2 3 4x10", f"up{{{J}}}": "1x1520"},
                 at="1510m", every="10m", labels={"domain": "web-1"},
                 description="VM web-1 on hv1:9978 crashed 4 times within the crash-loop window "
                 "(`vm_crash_loop_window`, a day by default)."),
            Case(series={s("kvm_domain_lifecycle_events_total", 'domain="web-1",event="stopped",detail="failed"'):
                         "1x1500 2 3 4x10", f"up{{{J}}}": "1x1520"}, at="1510m", every="10m"),
            Case(series={s("kvm_domain_lifecycle_events_total", 'domain="web-1",event="stopped",detail="shutdown"'):
                         "1x1500 2 3 4 5x10", f"up{{{J}}}": "1x1520"}, at="1510m", every="10m"),
        ]),
    Alert(
        name="VmMigrationStuck", layer="virtualization", fault="vm_health", severity="warning",
        expr="kvm_domain_job_data_remaining_bytes{$sel} > 0"
        " and on (job, instance, domain) min_over_time(kvm_domain_job_data_remaining_bytes{$sel}[$vm_migration_stuck_window])"
        " >= kvm_domain_job_data_remaining_bytes{$sel} offset $vm_migration_stuck_window"
        ' and on (job, instance, domain) kvm_domain_job_info{$sel,operation=~"migration_out|migration_in"} == 1',
        for_="1m", summary="A migration makes no progress.",
        description=f"The migration of VM {VM} on {HOST} has {{{{ $value | humanize1024 }}}}B left to transfer "
        "and that has not fallen for the stuck window (`vm_migration_stuck_window`, 10 minutes by default).",
        impact="The migration holds the VM on the source, uses bandwidth and CPU, and blocks the maintenance "
        "it was for; the guest may be throttled (auto-converge) or paused at its end.",
        diagnosis=["`virsh domjobinfo DOMAIN` (data remaining, dirty rate, bandwidth, iteration)",
         "the VM dashboard (Migration jobs): remaining data and dirty rate against bandwidth",
         "the network path to the destination (loss, latency, MTU)"],
        mitigation=["Give it bandwidth (`virsh migrate-setspeed DOMAIN MIB`) or let it converge: "
         "`virsh migrate-setmaxdowntime DOMAIN MS`, auto-converge, or switch to post-copy "
         "(`virsh migrate-postcopy DOMAIN`, if started with `--postcopy`).",
         "Otherwise abort it: `virsh domjobabort DOMAIN`; the VM keeps running on the source."],
        dashboard="KVM VM", cases=[
            Case(series={s("kvm_domain_job_data_remaining_bytes", 'domain="web-1"'): "2000 1000x25",
                         s("kvm_domain_job_info", 'domain="web-1",type="unbounded",operation="migration_out"'): "1x25"},
                 at="15m", labels={"domain": "web-1"},
                 description="The migration of VM web-1 on hv1:9978 has 1000B left to transfer and that has not "
                 "fallen for the stuck window (`vm_migration_stuck_window`, 10 minutes by default)."),
            Case(series={s("kvm_domain_job_data_remaining_bytes", 'domain="web-1"'): "2000-50x25",
                         s("kvm_domain_job_info", 'domain="web-1",type="unbounded",operation="migration_out"'): "1x25"},
                 at="15m"),
            Case(series={s("kvm_domain_job_data_remaining_bytes", 'domain="web-1"'): "1000x25",
                         s("kvm_domain_job_info", 'domain="web-1",type="unbounded",operation="backup"'): "1x25"},
                 at="15m"),  # a backup job: not a migration
        ]),
    Alert(
        name="VmMigrationTooSlow", layer="virtualization", fault="vm_health", severity="warning",
        expr="kvm_domain_job_memory_dirty_rate_pages_per_second{$sel}"
        " * on (job, instance, domain) kvm_domain_job_memory_page_size_bytes{$sel}"
        " > on (job, instance, domain) kvm_domain_job_memory_bandwidth_bytes_per_second{$sel}",
        for_="5m", summary="A guest dirties memory faster than its migration sends it.",
        description=f"VM {VM} on {HOST} dirties {{{{ $value | humanize1024 }}}}B/s of memory, more than its migration "
        "transfers: the pre-copy cannot converge.",
        impact="The migration iterates without end (or until its downtime limit forces a long pause); "
        "evacuating the host for maintenance is blocked.",
        diagnosis=["`virsh domjobinfo DOMAIN` (Dirty rate, Memory bandwidth, Iteration)",
         "what writes memory in the guest (a database, a cache warm-up)"],
        mitigation=["Raise the bandwidth (`virsh migrate-setspeed DOMAIN MIB`), enable auto-converge or switch to "
         "post-copy (`virsh migrate-postcopy DOMAIN`).", "Migrate when the guest is quieter."],
        dashboard="KVM VM", cases=[
            Case(series={s("kvm_domain_job_memory_dirty_rate_pages_per_second", 'domain="db-1"'): "30000x10",
                         s("kvm_domain_job_memory_page_size_bytes", 'domain="db-1"'): "4096x10",
                         s("kvm_domain_job_memory_bandwidth_bytes_per_second", 'domain="db-1"'): "100000000x10"},
                 at="8m", labels={"domain": "db-1"},
                 description="VM db-1 on hv1:9978 dirties 117.2MiB/s of memory, more than its migration transfers: "
                 "the pre-copy cannot converge."),
            Case(series={s("kvm_domain_job_memory_dirty_rate_pages_per_second", 'domain="db-1"'): "3000x10",
                         s("kvm_domain_job_memory_page_size_bytes", 'domain="db-1"'): "4096x10",
                         s("kvm_domain_job_memory_bandwidth_bytes_per_second", 'domain="db-1"'): "100000000x10"},
                 at="8m"),
        ]),
    Alert(
        name="VmGuestMemoryStatsMissing", layer="virtualization", fault="vm_health", severity="warning",
        expr="time() - kvm_domain_memory_stats_last_update_timestamp_seconds{$sel} > $vm_memory_stats_stale_seconds"
        " and kvm_domain_memory_stats_last_update_timestamp_seconds{$sel} > 0"
        ' and on (job, instance, domain) kvm_domain_state_info{$sel,state="running"} == 1',
        for_="5m", summary="A running guest stopped reporting its memory statistics.",
        description=f"VM {VM} on {HOST} last reported its memory statistics {{{{ $value | humanizeDuration }}}} ago: "
        "its balloon driver is gone or hung.",
        impact="Memory pressure inside the guest is invisible (VmMemoryPressure cannot fire), and memory "
        "ballooning no longer works for it.",
        diagnosis=["`virsh dommemstat DOMAIN` (last_update)", "inside the guest: `lsmod | grep virtio_balloon`, "
         "the balloon service on Windows", "`virsh dumpxml DOMAIN | grep -A2 memballoon` (stats period)"],
        mitigation=["Load the driver again inside the guest (`modprobe virtio_balloon`) or reinstall the guest tools.",
         "If the guest hangs, treat it as down (console, then reset)."],
        dashboard="KVM VM", cases=[
            Case(series={s("kvm_domain_memory_stats_last_update_timestamp_seconds", 'domain="web-1"'): "60x40",
                         s("kvm_domain_state_info", 'domain="web-1",state="running",reason="booted"'): "1x40"},
                 at="30m", labels={"domain": "web-1"},
                 description="VM web-1 on hv1:9978 last reported its memory statistics 29m 0s ago: its balloon "
                 "driver is gone or hung."),
            Case(series={s("kvm_domain_memory_stats_last_update_timestamp_seconds", 'domain="web-1"'): "0+60x40",
                         s("kvm_domain_state_info", 'domain="web-1",state="running",reason="booted"'): "1x40"},
                 at="30m"),
            Case(series={s("kvm_domain_memory_stats_last_update_timestamp_seconds", 'domain="web-1"'): "0x40",
                         s("kvm_domain_state_info", 'domain="web-1",state="running",reason="booted"'): "1x40"},
                 at="30m"),  # never reported (no driver, no stats period): nothing went away
        ]),
    *SLO_ALERTS,
]

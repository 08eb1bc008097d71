#!/usr/bin/env bash
# Starts (start) or stops (stop) the services the tests need: virtlogd and libvirtd.
# A libvirtd that already runs (e.g. under systemd) is used as it is and left running.
set -euo pipefail
state=/run/kvm-exporter-tests
mkdir -p "$state"

libvirt_ready() { virsh -c qemu:///system list >/dev/null 2>&1; }

start() {
    # Without udev, /dev/kvm stays root-only; QEMU runs as libvirt-qemu in group kvm.
    if [[ -c /dev/kvm ]]; then chgrp kvm /dev/kvm && chmod 0660 /dev/kvm; fi
    if libvirt_ready; then
        echo "services: using the libvirtd that already runs"
        return
    fi
    iptables -S 2>/dev/null | grep -q LIBVIRT && touch "$state/had-libvirt-chains"
    mkdir -p /run/libvirt /var/log/libvirt/qemu
    virtlogd --daemon --pid-file="$state/virtlogd.pid"
    libvirtd --daemon --pid-file="$state/libvirtd.pid"
    touch "$state/started"
    for _ in $(seq 1 300); do libvirt_ready && break; sleep 0.2; done
    libvirt_ready || { echo "services: libvirtd did not come up" >&2; exit 1; }
    echo "services: libvirtd $(virsh -c qemu:///system version --daemon | awk '/daemon/ {print $NF}') up"
}

stop_pid() {
    local file=$1
    [[ -f $file ]] || return 0
    local pid
    pid=$(cat "$file")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$file"
}

stop() {
    [[ -f $state/started ]] || return 0
    # QEMU outlives libvirtd: destroy test domains first.
    for dom in $(virsh -c qemu:///system list --all --name 2>/dev/null | grep '^kvmxt-' || true); do
        virsh -c qemu:///system destroy "$dom" >/dev/null 2>&1 || true
        virsh -c qemu:///system undefine --snapshots-metadata "$dom" >/dev/null 2>&1 || true
    done
    # A test may have restarted libvirtd with another pid: stop whichever runs.
    if [[ -f $state/libvirtd.pid ]] || pgrep -x libvirtd >/dev/null; then
        pgrep -x libvirtd > "$state/libvirtd.pid" 2>/dev/null || true
        stop_pid "$state/libvirtd.pid"
    fi
    stop_pid "$state/virtlogd.pid"
    if [[ ! -f $state/had-libvirt-chains ]]; then
        for table in filter nat mangle; do
            for chain in $(iptables -t "$table" -S 2>/dev/null | awk '/^-N LIBVIRT_/ {print $2}'); do
                iptables -t "$table" -F "$chain" 2>/dev/null || true
                iptables -t "$table" -X "$chain" 2>/dev/null || true
            done
        done
    fi
    rm -f "$state/started" "$state/had-libvirt-chains"
}

"$@"

#!/usr/bin/env bash
# One-command local demo: kvm-exporter + Prometheus (with the shipped alert and recording
# rules) + Alertmanager (with the example routing), all on 127.0.0.1. Prints the URLs and
# runs until Ctrl-C. Ports: KVM_DEMO_EXPORTER_PORT (9978), KVM_DEMO_PROMETHEUS_PORT (9090),
# KVM_DEMO_ALERTMANAGER_PORT (9093). KVM_DEMO_SKIP_INSTALL=1 skips deploy/install.sh --test.
set -euo pipefail
cd "$(dirname "$0")/.."

[[ "${KVM_DEMO_SKIP_INSTALL:-}" == 1 ]] || deploy/install.sh --test

exporter_port=${KVM_DEMO_EXPORTER_PORT:-9978}
prometheus_port=${KVM_DEMO_PROMETHEUS_PORT:-9090}
alertmanager_port=${KVM_DEMO_ALERTMANAGER_PORT:-9093}
work=$(mktemp -d /tmp/kvm-exporter-demo.XXXXXX)
pids=()
cleanup() {
    ((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

.venv/bin/kvm-exporter --web.listen-address="127.0.0.1:${exporter_port}" "$@" &
pids+=($!)

alertmanager=$(command -v prometheus-alertmanager || command -v alertmanager)
"$alertmanager" --config.file=deploy/alertmanager/alertmanager.yml --storage.path="$work/alertmanager" \
    --web.listen-address="127.0.0.1:${alertmanager_port}" --cluster.listen-address= \
    >"$work/alertmanager.log" 2>&1 &
pids+=($!)

# The shipped example config, with its targets and the rules' path substituted.
sed -e "s|hypervisor-01.example.org:9978|127.0.0.1:${exporter_port}|" -e '/hypervisor-02.example.org/d' \
    -e "s|alertmanager.example.org:9093|127.0.0.1:${alertmanager_port}|" \
    -e "s|/etc/prometheus/kvm-exporter/rules/|$PWD/alerts/rules/|" \
    deploy/prometheus/prometheus.yml >"$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus" \
    --web.listen-address="127.0.0.1:${prometheus_port}" >"$work/prometheus.log" 2>&1 &
pids+=($!)

echo "kvm-exporter:  http://127.0.0.1:${exporter_port}/metrics"
echo "Prometheus:    http://127.0.0.1:${prometheus_port}/alerts"
echo "Alertmanager:  http://127.0.0.1:${alertmanager_port}/"
echo "(logs in $work; Ctrl-C stops everything)"
wait -n "${pids[@]}"

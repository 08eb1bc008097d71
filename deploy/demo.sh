#!/usr/bin/env bash
# One-command local demo: kvm-exporter + kvm-remediator (dry-run, the shipped playbooks) +
# Prometheus (with the shipped alert and recording rules) + Alertmanager (with the example
# routing, its first host's remediator route pointed here), all on 127.0.0.1. Prints the URLs
# and runs until Ctrl-C. Ports: KVM_DEMO_EXPORTER_PORT (9978), KVM_DEMO_REMEDIATOR_PORT
# (9979), KVM_DEMO_PROMETHEUS_PORT (9090), KVM_DEMO_ALERTMANAGER_PORT (9093).
# KVM_DEMO_SKIP_INSTALL=1 skips deploy/install.sh --test.
set -euo pipefail
cd "$(dirname "$0")/.."

[[ "${KVM_DEMO_SKIP_INSTALL:-}" == 1 ]] || deploy/install.sh --test

exporter_port=${KVM_DEMO_EXPORTER_PORT:-9978}
remediator_port=${KVM_DEMO_REMEDIATOR_PORT:-9979}
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

.venv/bin/kvm-remediator --web.listen-address="127.0.0.1:${remediator_port}" \
    --config.file=deploy/remediator/config.yml --audit.file="$work/remediator-audit.jsonl" \
    --instance="127.0.0.1:${exporter_port}" 2>"$work/remediator.log" &
pids+=($!)

# The shipped routing, its first host's remediator route and receiver pointed here.
sed -e "s|instance=~\"hv1(:\[0-9\]+)?\"|instance=\"127.0.0.1:${exporter_port}\"|" \
    -e "s|http://hv1:9979/alerts|http://127.0.0.1:${remediator_port}/alerts|" \
    deploy/alertmanager/alertmanager.yml >"$work/alertmanager.yml"
alertmanager=$(command -v prometheus-alertmanager || command -v alertmanager)
"$alertmanager" --config.file="$work/alertmanager.yml" --storage.path="$work/alertmanager" \
    --web.listen-address="127.0.0.1:${alertmanager_port}" --cluster.listen-address= \
    >"$work/alertmanager.log" 2>&1 &
pids+=($!)

# The shipped example config, with its targets and the rules' path substituted.
sed -e "s|hypervisor-01.example.org:9978|127.0.0.1:${exporter_port}|" -e '/hypervisor-02.example.org/d' \
    -e "s|hypervisor-01.example.org:9979|127.0.0.1:${remediator_port}|" \
    -e "s|alertmanager.example.org:9093|127.0.0.1:${alertmanager_port}|" \
    -e "s|/etc/prometheus/kvm-exporter/rules/|$PWD/alerts/rules/|" \
    deploy/prometheus/prometheus.yml >"$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus" \
    --web.listen-address="127.0.0.1:${prometheus_port}" >"$work/prometheus.log" 2>&1 &
pids+=($!)

echo "kvm-exporter:  http://127.0.0.1:${exporter_port}/metrics"
echo "remediator:    http://127.0.0.1:${remediator_port}/ (dry-run; audit in $work/remediator-audit.jsonl)"
echo "Prometheus:    http://127.0.0.1:${prometheus_port}/alerts"
echo "Alertmanager:  http://127.0.0.1:${alertmanager_port}/"
echo "(logs in $work; Ctrl-C stops everything)"
wait -n "${pids[@]}"

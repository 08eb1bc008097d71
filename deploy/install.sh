#!/usr/bin/env bash
# Installs what kvm-exporter needs on a Debian/Ubuntu host into ./.venv.
#   deploy/install.sh           runtime: libvirt client library + build deps, the package
#   deploy/install.sh --test    also libvirtd, QEMU, promtool and the test/lint extras
set -euo pipefail
cd "$(dirname "$0")/.."

runtime_packages=(python3 python3-venv python3-dev gcc pkg-config libvirt-dev smartmontools qemu-utils)
test_packages=(libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils
               qemu-block-extra dnsmasq-base iptables iproute2 prometheus
               prometheus-node-exporter prometheus-alertmanager openvswitch-switch util-linux tgt
               ansible victoria-metrics corosync pacemaker pacemaker-cli-utils resource-agents
               postgresql zabbix-server-pgsql zabbix-frontend-php php-fpm php-pgsql nginx-light)

packages=("${runtime_packages[@]}")
extras=""
if [[ "${1:-}" == "--test" ]]; then
    packages+=("${test_packages[@]}")
    extras="[test,lint]"
fi

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if ((${#missing[@]})); then
    as_root apt-get update -qq
    # No recommends: libvirt's default NAT network (192.168.122.0/24) must not come along.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}"
fi

python=python3
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".${extras}"

#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu host and runs the exporter; arguments go to kvm-exporter,
# e.g.  deploy/run-exporter.sh --web.listen-address=:9978 --libvirt.uri=qemu:///system
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install.sh
exec .venv/bin/kvm-exporter "$@"

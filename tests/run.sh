#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu host (as root), starts libvirtd, lints, type-checks and
# runs the whole test suite, then stops what it started. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install.sh --test
tests/services.sh start
trap 'tests/services.sh stop' EXIT
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/pytest "$@"

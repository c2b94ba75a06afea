#!/usr/bin/env bash
# Set up (first run) and run the test suite: ./run_tests.sh [pytest arguments]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/scripts/bootstrap.sh"
cd "$RAREGAL_ROOT"
exec "$PY" -m pytest "$@"

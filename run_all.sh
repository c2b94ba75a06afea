#!/usr/bin/env bash
# Rebuild every figure and table: ./run_all.sh [--profile smoke|default|paper] [--source mock|real]
#   [--seed N] [--only 04,05] [--from 08] [-p name=value ...]     (./run_all.sh --help for more)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/scripts/bootstrap.sh"
exec "$PY" -m raregal.core.pipeline "$@"

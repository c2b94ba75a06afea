#!/usr/bin/env bash
# Rebuild every figure and table: ./run_all.sh [--profile smoke|default|paper] [--source mock|real]
#   [--papers A|B|A,B] [--seed N] [--only 04,05] [--from 08] [-p name=value ...]  (--help for more)
# Each run writes figures/<source>-<profile>/, paper/tables/<source>-<profile>/ and its report
# paper/build/<source>-<profile>/report.html; paper/build/index.html lists every run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/scripts/bootstrap.sh"
exec "$PY" -m raregal.core.pipeline "$@"

# Sourced by run_all.sh and run_tests.sh: find or create the Python environment, then set $PY.
# - An active virtualenv/conda env that can import raregal is used as it is.
# - An active env without raregal gets it installed (pip install -e .).
# - Otherwise .venv is created on first use and reused; it is reinstalled when pyproject.toml changes.
# The Jupyter kernel "raregal" is registered inside the environment (--sys-prefix).
RAREGAL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export RAREGAL_ROOT
export PYTHONUNBUFFERED=1
export MPLBACKEND=Agg

# The installed environment takes about 2.3 GB (torch alone 0.75 GB). pip on a full disk stops half-way
# with a bare OSError, so the room is checked first and the shortfall said in numbers.
RAREGAL_SETUP_NEEDS_MB="${RAREGAL_SETUP_NEEDS_MB:-3000}"

_raregal_room() {  # $1 = the folder the environment is installed in
  local free_mb
  free_mb="$(df -Pm "$1" 2>/dev/null | awk 'NR == 2 {print $4}')"
  case "$free_mb" in ''|*[!0-9]*) return 0 ;; esac  # df could not say: let pip try
  if [ "$free_mb" -lt "$RAREGAL_SETUP_NEEDS_MB" ]; then
    echo "setup: error: only $free_mb MB free on the disk of $1; installing raregal and its dependencies needs about $RAREGAL_SETUP_NEEDS_MB MB. Free some space (or set RAREGAL_SETUP_NEEDS_MB if you know better) and rerun." >&2
    return 1
  fi
}

_raregal_install() {  # $1 = python
  local prefix
  prefix="$("$1" -c 'import sys; print(sys.prefix)')" || { echo "setup: error: $1 does not run" >&2; return 1; }
  _raregal_room "$prefix" || return 1
  echo "setup: installing raregal and its pinned dependencies into $prefix (first run: several minutes)"
  "$1" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
  # (the grep drops pip's notices about this machine's unused local index folders, nothing else)
  if ! "$1" -m pip install --quiet -e "$RAREGAL_ROOT" 2> >(grep -v "^WARNING: Location 'file:" >&2); then
    echo "setup: error: pip install -e . failed (see the pip output above)" >&2
    return 1
  fi
  _raregal_kernel "$1" || return 1
}

_raregal_kernel() {  # register the kernel; it logs only errors (not ipykernel's transport notice)
  "$1" -m ipykernel install --sys-prefix --name raregal --display-name "rare-galaxies" >/dev/null \
    && "$1" - <<'PYEOF'
import json, sys
from jupyter_client.kernelspec import KernelSpecManager
spec = KernelSpecManager().get_kernel_spec("raregal")
path = f"{spec.resource_dir}/kernel.json"
data = json.load(open(path))
if "--log-level=ERROR" not in data["argv"]:
    data["argv"].append("--log-level=ERROR")
    json.dump(data, open(path, "w"), indent=1)
PYEOF
  [ $? -eq 0 ] || { echo "setup: error: could not register the Jupyter kernel 'raregal'" >&2; return 1; }
}

_raregal_stamp() { sha256sum "$RAREGAL_ROOT/pyproject.toml" | cut -d' ' -f1; }

if [ -n "${VIRTUAL_ENV:-}${CONDA_PREFIX:-}" ] && command -v python >/dev/null; then
  PY="$(command -v python)"
  if ! "$PY" -c "import raregal, papermill" 2>/dev/null; then
    _raregal_install "$PY" || return 1 2>/dev/null || exit 1
  elif ! "$PY" -m jupyter kernelspec list 2>/dev/null | grep -q '^ *raregal '; then
    _raregal_kernel "$PY" || return 1 2>/dev/null || exit 1
  fi
else
  VENV="$RAREGAL_ROOT/.venv"
  if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV"
    python3 -m venv "$VENV" || { echo "setup: error: python3 -m venv failed" >&2; return 1 2>/dev/null || exit 1; }
  fi
  PY="$VENV/bin/python"
  if [ "$(cat "$VENV/.raregal-installed" 2>/dev/null)" != "$(_raregal_stamp)" ]; then
    _raregal_install "$PY" || return 1 2>/dev/null || exit 1
    _raregal_stamp > "$VENV/.raregal-installed"
  fi
  export VIRTUAL_ENV="$VENV"
  export PATH="$VENV/bin:$PATH"
fi
export PY

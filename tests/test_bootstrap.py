"""scripts/bootstrap.sh refuses to start an install that a full disk would break half-way."""
import os
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# A python that has no raregal yet (so bootstrap installs) and records whether pip was asked to install.
FAKE_PYTHON = """#!/bin/sh
case "$*" in
  "-c import raregal, papermill") exit 1 ;;
  "-c import sys; print(sys.prefix)") echo "$FAKE_PREFIX" ;;
  "-m pip install --quiet -e "*) touch "$FAKE_PREFIX/pip-ran" ;;
esac
exit 0
"""


def _script(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _bootstrap(tmp_path: Path, free_mb: int) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _script(bin_dir / "python", FAKE_PYTHON)
    _script(bin_dir / "df", "#!/bin/sh\necho 'Filesystem 1048576-blocks Used Available Capacity Mounted on'\n"
                            f"echo '/dev/x 250000 1000 {free_mb} 99% /'\n")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "VIRTUAL_ENV": str(tmp_path),
           "FAKE_PREFIX": str(tmp_path)}
    env.pop("CONDA_PREFIX", None)
    env.pop("RAREGAL_SETUP_NEEDS_MB", None)
    return subprocess.run(["bash", "-c", f"source {ROOT / 'scripts' / 'bootstrap.sh'}"],
                          env=env, capture_output=True, text=True, timeout=60)


def test_a_nearly_full_disk_stops_setup_before_pip_with_the_numbers(tmp_path):
    done = _bootstrap(tmp_path, free_mb=1200)
    assert done.returncode != 0
    assert f"only 1200 MB free on the disk of {tmp_path}" in done.stderr
    assert "needs about 3000 MB" in done.stderr
    assert not (tmp_path / "pip-ran").exists()


def test_enough_room_lets_the_install_run(tmp_path):
    done = _bootstrap(tmp_path, free_mb=50_000)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "pip-ran").exists()
    assert "MB free" not in done.stderr

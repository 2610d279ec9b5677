#!/usr/bin/env bash
# Sets up everything hpcinv needs on a fresh Debian 12 machine (Python 3.11, root):
# system libraries, then a virtual environment at .venv with hpcinv installed in it.
# Idempotent: re-running it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(libmumps-seq-dev libopenblas0-pthread pkg-config)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  echo "[install] apt packages: ${missing[*]}"
  $sudo_cmd apt-get update -qq
  # OpenBLAS registers itself as the libblas/liblapack alternative: MUMPS then runs 3.5-6x
  # faster than on the reference BLAS that libmumps-seq-dev pulls in.
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
if [ ! -x .venv/bin/python ]; then
  echo "[install] creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
pip=".venv/bin/python -m pip"
$pip install -q --upgrade pip
# torch is pinned: this exact version is a CPU wheel; a looser pin pulls a multi-GB CUDA build.
$pip install -q "torch==2.13.0"
# python-mumps' PyPI wheel for 3.11 is built against NumPy 1 and fails to import: build it
# against Debian's libmumps-seq.
if ! .venv/bin/python -c "import mumps" 2>/dev/null; then
  echo "[install] building python-mumps against libmumps-seq"
  $pip install -q "numpy>=2" "cython" "meson-python" "ninja"
  $pip install -q --no-binary python-mumps python-mumps
fi
$pip install -q -e ".[test]"
.venv/bin/python - <<'PY'
import pymatsolver, mumps, simpeg, discretize, torch
print(f"[install] ok: simpeg {simpeg.__version__}, discretize {discretize.__version__}, "
      f"pymatsolver {pymatsolver.__version__}, torch {torch.__version__}, "
      f"Mumps available: {pymatsolver.Mumps is not None}")
PY

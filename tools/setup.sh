#!/usr/bin/env bash
# Idempotent set-up on a machine without a ROS install: .venv (ROS 2 Kilted wheels, torch, deps),
# the one CMake fix-up the wheels need, and `colcon build` into install/.
# On a ROS 2 Humble/Jazzy host: `pip install -r requirements-ros-host.txt` and plain `colcon build`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
PYTHON="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate

stamp=".venv/.gr00t-requirements.sha256"
want="$(cat requirements.txt requirements-ros-host.txt | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[setup] installing Python dependencies (pinned)"
  python -m pip install --quiet --upgrade pip
  python -m pip install --quiet -r requirements.txt
  echo "$want" > "$stamp"
fi

# Fourier's GR-1 client pins a zenoh release candidate: it lives in a folder of its own that only
# the gr00t_gr1_bridge process puts on its path (GR00T_GRX_SITE, see tools/ros_env.sh).
grx_stamp=".venv/grx-site/.gr00t-requirements.sha256"
grx_want="$(sha256sum docker/requirements-fourier-grx.txt | cut -d' ' -f1)"
if [ ! -f "$grx_stamp" ] || [ "$(cat "$grx_stamp")" != "$grx_want" ]; then
  echo "[setup] installing fourier-grx-client into .venv/grx-site"
  rm -rf .venv/grx-site
  python -m pip install --quiet --target .venv/grx-site -r docker/requirements-fourier-grx.txt
  echo "$grx_want" > "$grx_stamp"
fi

# The ROS wheels' exported CMake files carry the wheel builder's include paths; point them at ours.
py_include="$(python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
np_include="$(python -c 'import numpy; print(numpy.get_include())')"
mapfile -t stale < <(grep -rl --include='*.cmake' /opt/python/cp311-cp311 .venv/share 2>/dev/null || true)
if [ "${#stale[@]}" -gt 0 ]; then
  echo "[setup] fixing ${#stale[@]} CMake files from the ROS wheels"
  sed -i \
    -e "s#/opt/python/cp311-cp311/include/python3.11#${py_include}#g" \
    -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#${np_include}#g" \
    "${stale[@]}"
fi

# Offscreen rendering for the simulated head camera needs EGL (Mesa) on a CPU-only machine.
# ldconfig lives in /sbin, which a user's PATH (and env -i's) may not hold.
if ! PATH="$PATH:/usr/sbin:/sbin" ldconfig -p | grep -q 'libEGL.so.1'; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] installing Mesa EGL for offscreen rendering"
    apt-get update -qq && apt-get install -y -qq libegl1 libegl-mesa0 libgl1-mesa-dri >/dev/null
  else
    echo "[setup] WARNING: libEGL.so.1 missing; install libegl1 libegl-mesa0 libgl1-mesa-dri" >&2
  fi
fi

# The console's browser test drives Debian's Chromium (playwright from PyPI, no browser download).
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] installing Chromium for the console's browser test"
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else
    echo "[setup] WARNING: chromium missing (the console's browser test needs it); apt-get install chromium" >&2
  fi
fi

# shellcheck disable=SC1091
. tools/ros_env.sh
echo "[setup] colcon build"
colcon build --base-paths src --event-handlers console_direct- summary- \
  --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$ROOT/.venv/bin/python" >/dev/null
echo "[setup] done: run a command with tools/in_env.sh CMD, or in a shell: . .venv/bin/activate && . tools/ros_env.sh && . install/setup.sh"

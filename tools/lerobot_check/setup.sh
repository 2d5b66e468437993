#!/usr/bin/env bash
# Make .venv-lerobot: a separate environment with the `lerobot` package (pinned, requirements.txt
# beside this file), in which the tests load the datasets gr00t-convert writes with LeRobot's own
# dataset class (src/gr00t_teleop/test/test_lerobot_loader.py skips while it is missing).
# Separate because lerobot's dependencies conflict with the runtime's (torch, huggingface_hub, av).
#   tools/lerobot_check/setup.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-python3.11}"
VENV=.venv-lerobot
STAMP="$VENV/.requirements.sha256"
wanted="$(sha256sum tools/lerobot_check/requirements.txt | cut -d' ' -f1)"
if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$wanted" ]; then
  exit 0  # already made from these pins
fi
if ! ldconfig -p | grep -q "libavcodec\.so"; then
  # torchcodec, LeRobot's video decoder, loads FFmpeg's shared libraries (4 to 7) at run time.
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    apt-get install -y -q libavcodec59 libavformat59 libavutil57 libswscale6 libswresample4 libavdevice59 libavfilter8 \
      || { apt-get update -q && apt-get install -y -q libavcodec59 libavformat59 libavutil57 libswscale6 \
           libswresample4 libavdevice59 libavfilter8; }
  else
    echo "FFmpeg's shared libraries are missing: install libavcodec, libavformat, libavutil, libswscale," \
         "libswresample, libavdevice and libavfilter (Debian 12: apt-get install libavcodec59 ...)" >&2
    exit 1
  fi
fi
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet torch==2.13.0
"$VENV/bin/python" -m pip install --quiet --no-deps -r tools/lerobot_check/requirements.txt
"$VENV/bin/python" -c "import lerobot, torchcodec; print('lerobot', lerobot.__version__, 'ready in $VENV')"
echo "$wanted" > "$STAMP"

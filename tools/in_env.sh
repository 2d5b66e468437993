#!/usr/bin/env bash
# Run a command in the project's environment (after tools/setup.sh): the venv, the ROS 2 wheels'
# environment and the colcon workspace. A bash script, so the README's commands do not depend on
# what /bin/sh is (colcon's setup.bash does not load in dash, Debian's /bin/sh).
#   tools/in_env.sh gr00t-launch sim --duration 20
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. .venv/bin/activate
# shellcheck disable=SC1091
. tools/ros_env.sh
set +u  # colcon's setup scripts read unset variables
# shellcheck disable=SC1091
. install/setup.bash
set -u
export GR00T_MODELS_DIR="${GR00T_MODELS_DIR:-$(pwd)/models}"
exec "$@"

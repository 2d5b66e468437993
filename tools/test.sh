#!/usr/bin/env bash
# Run the whole test suite (after tools/setup.sh). Each run gets its own DDS domain, localhost only,
# so parallel runs and other ROS graphs on the machine don't interfere.
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
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 100 ))}"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export GR00T_SHARED="${GR00T_SHARED:-$(cd .. && pwd)/shared}"
export GR00T_MODELS_DIR="${GR00T_MODELS_DIR:-$(pwd)/models}"
exec python -m pytest src "$@"

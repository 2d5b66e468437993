#!/usr/bin/env bash
# Run the whole test suite (after tools/setup.sh). Each run gets its own DDS domain, localhost only,
# so parallel runs and other ROS graphs on the machine don't interfere.
set -euo pipefail
cd "$(dirname "$0")/.."
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 100 ))}"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
exec tools/in_env.sh python -m pytest src "$@"

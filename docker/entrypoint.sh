#!/usr/bin/env bash
# Container entrypoint: source ROS, the Python environment and the workspace install, then exec the
# command (so it is PID 1's only child, receives SIGTERM from `docker stop` and its exit code is the
# container's).
set -eo pipefail

: "${ROS_DISTRO:?ROS_DISTRO must be set by the image}"
# ROS setup scripts read unset variables: source them without -u.
# shellcheck disable=SC1090
source "/opt/ros/${ROS_DISTRO}/setup.bash"
# The venv sees the system site-packages (rclpy, JetPack's TensorRT bindings) and adds torch & co.
# shellcheck disable=SC1091
source "${GR00T_VENV:-/opt/gr00t/venv}/bin/activate"
# shellcheck disable=SC1091
source "${GR00T_INSTALL:-/opt/gr00t/install}/setup.bash"

# Fail early, with the fix, when the model mount is missing instead of deep inside a node.
if [[ -n "${GR00T_MODELS_DIR:-}" && ! -d "${GR00T_MODELS_DIR}" ]]; then
  echo "entrypoint: GR00T_MODELS_DIR=${GR00T_MODELS_DIR} does not exist; mount the host models/ folder there" >&2
  exit 2
fi

exec "$@"

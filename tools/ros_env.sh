# Source after `. .venv/bin/activate`: environment for the ROS 2 wheels from PyPI (no ROS install).
# Avoids the ros-wheels-bootstrapper re-exec on every interpreter start.
_gr00t_venv="${VIRTUAL_ENV:?activate .venv first}"
_gr00t_site="$(ls -d "${_gr00t_venv}"/lib/python3*/site-packages | head -n1)"
_gr00t_libs="${_gr00t_venv}/lib"
for _d in "${_gr00t_site}"/ros_*.libs; do _gr00t_libs="${_gr00t_libs}:${_d}"; done
export LD_LIBRARY_PATH="${_gr00t_libs}${LD_LIBRARY_PATH:+:${LD_LIBRARY_PATH}}"
export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1
export AMENT_PREFIX_PATH="${_gr00t_venv}${AMENT_PREFIX_PATH:+:${AMENT_PREFIX_PATH}}"
export CMAKE_PREFIX_PATH="${_gr00t_venv}${CMAKE_PREFIX_PATH:+:${CMAKE_PREFIX_PATH}}"
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
export ROS_LOG_DIR="${ROS_LOG_DIR:-${HOME:-/tmp}/.ros/log}"
export MUJOCO_GL="${MUJOCO_GL:-egl}"
if [ -d "${_gr00t_venv}/grx-site" ]; then export GR00T_GRX_SITE="${GR00T_GRX_SITE:-${_gr00t_venv}/grx-site}"; fi
unset _gr00t_venv _gr00t_site _gr00t_libs _d

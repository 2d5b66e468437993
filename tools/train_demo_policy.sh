#!/usr/bin/env bash
# Train the bundled demo policy (models/gr00t_demo) with the stack's own pipeline, on the CPU:
# scripted demonstrations through the teleop path + recorder -> gr00t-convert -> gr00t-finetune.
#
#   tools/train_demo_policy.sh [WORK_DIR]        (default: out/demo_policy; ~1 h on 2 CPU cores)
#
# Environment knobs: EPISODES (per reach / touch task, default 120), PUSH_EPISODES (default 80),
# STEPS (optimizer steps, default 4000), DEVICE (auto | cpu | cuda). Seeds are training seeds
# (< 10000); gr00t-eval uses 10000 and up. Then evaluate and install:
#
#   gr00t-eval --policy node --model WORK_DIR/finetune --episodes 50 --output WORK_DIR/eval.json
#   cp WORK_DIR/finetune/{config.json,model.safetensors} models/gr00t_demo/ (+ experiment_cfg/)
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-out/demo_policy}"
episodes="${EPISODES:-120}"
push_episodes="${PUSH_EPISODES:-80}"
steps="${STEPS:-4000}"
device="${DEVICE:-auto}"

# shellcheck disable=SC1091
. .venv/bin/activate
# shellcheck disable=SC1091
. tools/ros_env.sh
set +u
# shellcheck disable=SC1091
. install/setup.bash
set -u
mkdir -p "${work}"

gr00t-record-demos --tasks reach,touch_one_of_two --episodes "${episodes}" \
    --output-dir "${work}/bags" --summary "${work}/record_reach_touch.json"
gr00t-record-demos --tasks push_to_region --episodes "${push_episodes}" \
    --output-dir "${work}/bags" --summary "${work}/record_push.json"
gr00t-convert "${work}/bags" -o "${work}/dataset" --workers 2 --overwrite
# From the random-weights model (its tokenizer and architecture), every part trained; all decoded
# videos cached in memory (~2 GB for ~14k frames) since samples are drawn across all episodes.
gr00t-finetune --dataset "${work}/dataset" --output-dir "${work}/finetune" \
    --base-model models/gr00t_random --embodiment gr1 --tune-llm \
    --max-steps "${steps}" --batch-size 32 --learning-rate 5e-4 --num-workers 0 \
    --video-cache-episodes 400 --log-every 50 --save-steps 1000 --save-dtype float32 \
    --device "${device}" --no-progress

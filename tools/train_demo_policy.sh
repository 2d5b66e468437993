#!/usr/bin/env bash
# Train the bundled demo policy (models/gr00t_demo) with the stack's own pipeline, on the CPU:
# scripted demonstrations through the teleop path + recorder -> gr00t-convert -> gr00t-finetune.
#
#   tools/train_demo_policy.sh [WORK_DIR]        (default: out/demo_policy; ~1.5 h on 2 CPU cores)
#
# Environment knobs: REACH_EPISODES (default 160), TOUCH_EPISODES (default 240: 120 scene pairs,
# each scene recorded with either object named, so the instruction and not the scene decides the
# target), PUSH_EPISODES (default 80), STEPS (optimizer steps, default 4000), OPENING_SECONDS /
# OPENING_REPEAT (default 0.5 / 1 = off; 3 draws each episode's first half second, where the
# demonstrator commits to a target, three times per epoch), GOAL_READOUT_WEIGHT (default 0: the
# auxiliary goal-token readout of gr00t-finetune --goal-readout-weight), BASE_MODEL (default
# models/gr00t_random; models/gr00t_demo continues from the bundled policy), FINETUNE_DIR (default
# WORK_DIR/finetune; another one continues a run in a second stage), DEVICE (auto | cpu | cuda),
# GROUNDING_STEPS (default 0 = off; N > 0 first trains BASE_MODEL's System 2 for N steps on rendered
# scenes with gr00t-pretrain-grounding — GROUNDING_SCENES per task, default 2000, seeds from 0;
# validation 200 per task from seed 8000 — then fine-tunes the action head on the demonstrations
# with the vision tower and LLM frozen, so what they learned about where the named object is stays),
# FREEZE_SYSTEM2 (default 0; 1 keeps the vision tower and LLM frozen without a grounding stage, e.g.
# for a second stage continuing a grounded policy), SEED_START (default 0: the first training seed of
# every task's demonstrations; even, since touch-one-of-two seeds come in scene pairs),
# RECOVERY_PROBABILITY (default 0: the share of reach/touch demonstrations that first come down
# beside the target and then correct, gr00t-record-demos --recovery-probability), NORMALIZATION_STATS
# (default dataset; base keeps BASE_MODEL's min/max normalisation, for continuing a policy on a new
# recording: gr00t-finetune --normalization-stats), SETTLE (default 0.4: seconds each demonstration
# goes on being recorded after the task's success, gr00t-record-demos --settle).
# A WORK_DIR that already holds a converted dataset is reused (delete WORK_DIR/dataset to record
# again). The prompt puts the instruction before the images (--instruction-first: the action head
# reads the image tokens, which then depend on the instruction). Seeds are training seeds
# (< 10000); gr00t-eval uses 10000 and up. The bundled policy (models/README.md) is the previous
# one (models/gr00t_demo at commit 6fec66b) + GROUNDING_STEPS=4000 (grounding, then 4000 steps),
# then FREEZE_SYSTEM2=1 4000 steps more, twice (finetune2, then finetune3 from it), as below.
# The not-shipped experiment in docs/experiments/demo_policy.md: TOUCH_EPISODES=480 REACH_EPISODES=240
# OPENING_REPEAT=3 (touch recorded first), then GOAL_READOUT_WEIGHT=1.0 from its checkpoint-2000.
# Then evaluate and install:
#
#   GROUNDING_STEPS=4000 BASE_MODEL=models/gr00t_demo tools/train_demo_policy.sh out/demo_policy
#   FREEZE_SYSTEM2=1 BASE_MODEL=out/demo_policy/finetune FINETUNE_DIR=out/demo_policy/finetune2 \
#       tools/train_demo_policy.sh out/demo_policy
#   FREEZE_SYSTEM2=1 BASE_MODEL=out/demo_policy/finetune2 FINETUNE_DIR=out/demo_policy/finetune3 \
#       tools/train_demo_policy.sh out/demo_policy
#   gr00t-eval --policy node --model out/demo_policy/finetune3 --episodes 50 --output out/demo_policy/eval3.json
#   cp out/demo_policy/finetune3/{config.json,model.safetensors} models/gr00t_demo/ (+ experiment_cfg/)
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-out/demo_policy}"
reach_episodes="${REACH_EPISODES:-160}"
touch_episodes="${TOUCH_EPISODES:-240}"
push_episodes="${PUSH_EPISODES:-80}"
base_model="${BASE_MODEL:-models/gr00t_random}"
steps="${STEPS:-4000}"
opening_seconds="${OPENING_SECONDS:-0.5}"
opening_repeat="${OPENING_REPEAT:-1}"
goal_readout_weight="${GOAL_READOUT_WEIGHT:-0}"
device="${DEVICE:-auto}"
grounding_steps="${GROUNDING_STEPS:-0}"
grounding_scenes="${GROUNDING_SCENES:-2000}"
freeze_system2="${FREEZE_SYSTEM2:-0}"
finetune_dir="${FINETUNE_DIR:-${work}/finetune}"
seed_start="${SEED_START:-0}"
recovery_probability="${RECOVERY_PROBABILITY:-0}"
normalization_stats="${NORMALIZATION_STATS:-dataset}"
settle="${SETTLE:-0.4}"

# shellcheck disable=SC1091
. .venv/bin/activate
# shellcheck disable=SC1091
. tools/ros_env.sh
set +u
# shellcheck disable=SC1091
. install/setup.bash
set -u
mkdir -p "${work}"

if [[ -f "${work}/dataset/meta/info.json" ]]; then
    echo "reusing the dataset in ${work}/dataset"
else
    rm -rf "${work}/bags"
    gr00t-record-demos --tasks reach --episodes "${reach_episodes}" --seed-start "${seed_start}" --settle "${settle}" \
        --recovery-probability "${recovery_probability}" --output-dir "${work}/bags" --summary "${work}/record_reach.json"
    gr00t-record-demos --tasks touch_one_of_two --episodes "${touch_episodes}" --seed-start "${seed_start}" --settle "${settle}" \
        --recovery-probability "${recovery_probability}" --output-dir "${work}/bags" --summary "${work}/record_touch.json"
    gr00t-record-demos --tasks push_to_region --episodes "${push_episodes}" --seed-start "${seed_start}" --settle "${settle}" \
        --output-dir "${work}/bags" --summary "${work}/record_push.json"
    gr00t-convert "${work}/bags" -o "${work}/dataset" --workers 2 --overwrite
fi
tune=(--tune-llm --tune-visual --tune-projector)
if (( freeze_system2 )); then
    tune=(--no-tune-llm --no-tune-visual)
fi
if (( grounding_steps > 0 )); then
    python -m gr00t_sim.grounding_scenes --episodes "${grounding_scenes}" --seed-start 0 \
        --output "${work}/grounding/train.npz"
    python -m gr00t_sim.grounding_scenes --episodes 200 --seed-start 8000 --output "${work}/grounding/validation.npz"
    gr00t-pretrain-grounding --scenes "${work}/grounding/train.npz" --validation "${work}/grounding/validation.npz" \
        --base-model "${base_model}" --output-dir "${work}/grounding/model" --max-steps "${grounding_steps}" \
        --eval-every 250 --device "${device}"
    base_model="${work}/grounding/model"
    tune=(--no-tune-llm --no-tune-visual)  # the SigLIP tower, mlp1 and the LLM stay as grounded
fi
# From the base model (its tokenizer and architecture); all decoded videos cached in memory
# (~150 KB per frame) since samples are drawn across all episodes.
gr00t-finetune --dataset "${work}/dataset" --output-dir "${finetune_dir}" \
    --base-model "${base_model}" --normalization-stats "${normalization_stats}" \
    --instruction-first --embodiment gr1 "${tune[@]}" \
    --max-steps "${steps}" --batch-size 32 --learning-rate 5e-4 --num-workers 0 \
    --video-cache-episodes 1000 --opening-seconds "${opening_seconds}" --opening-repeat "${opening_repeat}" \
    --goal-readout-weight "${goal_readout_weight}" \
    --log-every 50 --save-steps 1000 --save-dtype float32 \
    --device "${device}" --no-progress

#!/usr/bin/env bash
# GPU latency and parity of System 1 and System 2 (real GR00T-N1-2B sizes and the demo preset).
#
#   src/gr00t_policy/benchmarks/run_gpu_benchmarks.sh [OUT_DIR] [TOKENIZER_DIR]
#
# OUT_DIR (default docs/benchmarks) receives bench_gpu.json (every gr00t-bench run, merged),
# parity_gpu.json and gpu_benchmarks.log. TOKENIZER_DIR holds the Eagle-2 tokenizer files the
# full-size System 2 needs (default the copy of the original files kept with the tests). Runs from a source
# checkout (no install needed: PYTHONPATH points at the package); needs torch with CUDA.
# Each run is independent: one that fails is logged and the rest still run. Ordered by
# importance, so a run cut short by a time limit keeps the numbers that matter most.
set -u
OUT_DIR=${1:-docs/benchmarks}
TOKENIZER_DIR=${2:-src/gr00t_policy/test/data/reference/eagle2_tokenizer}
HERE=$(cd "$(dirname "$0")" && pwd)
export PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$OUT_DIR"
RESULTS="$OUT_DIR/bench_gpu.json"
LOG="$OUT_DIR/gpu_benchmarks.log"
failures=0

step() {
    echo "=== $* ($(date -u +%H:%M:%S))" | tee -a "$LOG"
    if ! "$@" 2>&1 | tee -a "$LOG"; then
        echo "=== FAILED: $*" | tee -a "$LOG"
        failures=$((failures + 1))
    fi
}

bench() { python3 -m gr00t_policy.cli.bench "$@" --out "$RESULTS"; }

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv 2>&1 | tee -a "$LOG"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())" 2>&1 | tee -a "$LOG"
python3 -c "import tensorrt; print('tensorrt', tensorrt.__version__)" 2>&1 | tee -a "$LOG"
python3 -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())" 2>&1 | tee -a "$LOG"

set -o pipefail
# System 1, real-size action head (855 M parameters), 99 goal tokens, 4 Euler steps, batch 1.
step bench system1 --preset gr00t_n1_2b --backend torch --device cuda --dtype bfloat16 --cuda-graph --no-naive --chunks 500
step bench system1 --preset gr00t_n1_2b --backend torch --device cuda --dtype bfloat16 --chunks 300
step bench system1 --preset gr00t_n1_2b --backend torch --device cuda --dtype float32 --cuda-graph --no-naive --chunks 300
step bench system1 --preset gr00t_n1_2b --backend torch --device cuda --dtype float32 --chunks 200
step python3 "$HERE/check_backend_parity.py" --preset gr00t_n1_2b --out "$OUT_DIR/parity_gpu.json"
# System 2, full size (SigLIP + 12 LLM layers + projector), one 224x224 view, bf16.
step bench system2 --preset gr00t_n1_2b --tokenizer-dir "$TOKENIZER_DIR" --device cuda --dtype bfloat16 --chunks 100 --warmup 10
# Demo preset (the bundled policy's size).
step bench system1 --preset demo --backend torch --device cuda --dtype bfloat16 --cuda-graph --no-naive --chunks 500
step bench system1 --preset demo --backend torch --device cuda --dtype float32 --chunks 300
step bench system2 --preset demo --device cuda --dtype bfloat16 --chunks 100 --warmup 10
step bench system1 --preset gr00t_n1_2b --backend tensorrt --device cuda --precision fp16 --chunks 300
echo "=== done, $failures failed ($(date -u +%H:%M:%S))" | tee -a "$LOG"
exit "$failures"

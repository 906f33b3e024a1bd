#!/usr/bin/env bash
# The GPU path in one run, from a fresh clone on a Linux x86-64 machine with an NVIDIA GPU and the
# package registries (npm, PyPI): provisions the GPU backends, proves each runs on the GPU (never a
# silent fall back to the CPU), and ends with one table. Everything it measured is also kept under
# $GPU_CHECK_OUT (default .diffubias/gpu-check/). Exits 2 at once where no GPU is visible, 1 when a
# check fails.
#   scripts/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out="${GPU_CHECK_OUT:-.diffubias/gpu-check}"

if ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "gpu-check: no NVIDIA GPU here (nvidia-smi not found): nothing was checked" >&2
  exit 2
fi
if ! nvidia-smi -L 2>/dev/null | grep -q '^GPU [0-9]'; then
  echo "gpu-check: no NVIDIA GPU here (nvidia-smi lists none: $(nvidia-smi -L 2>&1 | head -1)): nothing was checked" >&2
  exit 2
fi
mkdir -p "$out"
gpu="$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)"
echo "gpu-check: $gpu"

# The workers' GPU settings: TensorFlow on the GPU, onnxruntime's CUDA provider for captions and images.
export DIFFUBIAS_TF_DEVICE=gpu DIFFUBIAS_TF_BACKEND=tensorflow-gpu DIFFUBIAS_CAPTION_DEVICE=cuda DIFFUBIAS_GENERATE_DEVICE=cuda

rows=()
failed=0
# step <name> <log file> <command...>: runs it, keeps its output, adds a table row.
step() {
  local name="$1" log="$out/$2"; shift 2
  local started=$SECONDS
  if "$@" >"$log" 2>&1; then
    rows+=("| $name | ok | $((SECONDS - started)) s | $(grep -v '^\s*$' "$log" | tail -1 | cut -c1-160) |")
  else
    failed=1
    rows+=("| $name | **FAILED** | $((SECONDS - started)) s | $(grep -v '^\s*$' "$log" | tail -1 | cut -c1-160) (log: $log) |")
    echo "gpu-check: $name failed; the last lines of $log:" >&2
    tail -n 15 "$log" >&2
  fi
}

# 1. Install: npm, then tfjs-node-gpu from PyPI's tensorflow[and-cuda] wheels and onnxruntime's CUDA
#    provider from PyPI's onnxruntime-gpu wheel (diffubias setup); --require-gpu fails unless both load on the GPU.
[ -d node_modules ] || step "npm ci" npm-ci.log npm ci
step "setup (TensorFlow GPU, onnxruntime CUDA)" setup.log node bin/diffubias.js setup --no-temporal --require-gpu

# 2. The classifier's parity tests on the GPU backend (the native backend is the GPU one here), in
#    full float32: TensorFlow's TF32 matrix products (on by default from Ampere on) round to 1e-3.
step "classifier parity on tensorflow-gpu" parity.log env NVIDIA_TF32_OVERRIDE=0 npx vitest run test/unit/classifier-backend-parity.test.ts test/unit/classifier-train.test.ts

# 3. Benchmarks on the GPU: training and inference, generation and captioning. A GPU process shows
#    in nvidia-smi's compute apps while it runs: sampled, so that a CPU fall back cannot pass unseen.
nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader -lms 500 >"$out/compute-apps.csv" 2>/dev/null &
smi=$!
step "bench (train, infer, generate, caption)" bench.jsonl node bin/diffubias.js bench --only train.mlp.cmnist,infer.mlp.cmnist,train.resnet18.32px,infer.resnet18.32px,generate.paper,generate.demo,caption.demo
kill $smi 2>/dev/null
if [ -s "$out/compute-apps.csv" ]; then
  rows+=("| GPU seen in use during bench | ok | | $(sort -u -t, -k2,2 "$out/compute-apps.csv" | cut -d, -f2,3 | tr '\n' ';' | cut -c1-160) |")
else
  failed=1
  rows+=("| GPU seen in use during bench | **FAILED** | | nvidia-smi listed no compute process while the benchmarks ran |")
fi

# 4. One small experiment end to end with GPU workers (the demo: 5 epochs, 4,500 generated images),
#    its energy read from the GPU through NVML (nvidia-smi).
step "demo experiment on GPU workers" demo.log npm run demo

{
  echo "## gpu-check: $gpu ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "| check | result | time | last line |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Benchmarks (one JSON line each; backend and device in each):"
  echo
  sed 's/^/    /' "$out/bench.jsonl" | grep '{' || true
  echo
  echo "Demo:"
  echo
  grep -E "unbiased|energy|Wh|wall|generated set" "$out/demo.log" | sed 's/^/    /' | head -20 || true
} | tee "$out/table.md"
exit $failed

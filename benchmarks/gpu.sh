#!/usr/bin/env bash
# The GPU benchmark of issue 10 in one command, from the repository root:
#   bash benchmarks/gpu.sh OUT_DIR
# Installs jax[cuda12] and the [bench] extra (torch, torchvision, timm) unless they already import, then runs
# benchmarks.run on the issue's models in bf16 (ours: bf16 compute, fp32 params; theirs: AMP bf16, channels_last,
# eager and torch.compile), one process per group so a failure costs one group. Writes OUT_DIR/<group>.csv,
# OUT_DIR/<group>.log and OUT_DIR/BENCHMARKS_gpu.md (the markdown tables to paste into BENCHMARKS.md).
# About 6-8 minutes on one H100/H200; GROUP_TIMEOUT (seconds, default 150) bounds each group.
set -uo pipefail
out=${1:?usage: bash benchmarks/gpu.sh OUT_DIR}
mkdir -p "$out"
py=${PYTHON:-python3}
if ! "$py" -c "import jax, flax, optax, torch, torchvision, timm" 2>/dev/null; then
  "$py" -m pip install -q "jax[cuda12]" -e ".[bench]" || { echo "install failed (no network?)"; exit 1; }
fi
"$py" - <<'EOF' | tee "$out/devices.txt"
import jax, torch
print(jax.__version__, jax.devices(), "torch", torch.__version__, torch.cuda.get_device_name(0))
assert jax.default_backend() == "gpu", f"JAX sees no GPU: {jax.devices()}"
EOF
[ "${PIPESTATUS[0]}" = 0 ] || exit 1
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv >> "$out/devices.txt" 2>/dev/null
# A persistent compilation cache: a rerun skips XLA compilation (compile_s then measures the cache, say so).
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-$out/jax_cache}
export XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_enable_latency_hiding_scheduler=true"
# JAX and torch share the GPU in one process: no 75% preallocation, so peak_bytes_in_use is JAX's real peak.
export XLA_PYTHON_CLIENT_PREALLOCATE=false

group() {  # group NAME ARGS...: one benchmarks.run process
  local name=$1; shift
  echo "== $name: $*"
  timeout "${GROUP_TIMEOUT:-150}" "$py" -m benchmarks.run "$@" --dtype bfloat16 --calls 10 --windows 3 \
    --csv "$out/$name.csv" --append "$out/BENCHMARKS_gpu.md" > "$out/$name.log" 2>&1
  echo "   exit $? ($(tail -n 1 "$out/$name.log" | cut -c1-150))"
}
group resnet50 --models resnet50 --batch 256 --image 224
group convnext --models convnext_tiny --batch 128 --image 224
group vanillanet --models vanillanet_5:deploy --batch 256 --image 224  # batch-1 latency: target <= 0.27 ms
group classic --models vgg16,densenet121 --batch 128 --image 224
group sequence --models transformer_base,retnet_base --batch 32 --seq 512
echo "done: $out/BENCHMARKS_gpu.md"

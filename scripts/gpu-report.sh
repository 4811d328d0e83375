#!/usr/bin/env bash
# Run the consistency report on every device this machine has (torch cuda:N, JAX's GPU,
# and the CPU for comparison) plus the CUDA-marked tests, writing everything under $OUT
# (default ./gpu-out). Meant for a GPU machine that has torch, jax, scipy, numpy, mpmath,
# optax, rich, pytest and hypothesis installed but cannot reach a package registry: it
# runs klverify straight from this checkout. Finishes in a few minutes.
#
#   bash scripts/gpu-report.sh            # then, on the CPU machine:
#   klverify report --merge docs/reports/cpu.json "$OUT/gpu.json" --output docs/reports/cpu-gpu
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu-out}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

{
  echo "== machine"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || true
  python3 - <<'PY'
import importlib.metadata as m
for name in ("numpy", "scipy", "torch", "jax", "jaxlib", "optax", "mpmath", "rich", "pytest", "hypothesis"):
    try:
        print(f"{name} {m.version(name)}")
    except m.PackageNotFoundError:
        print(f"{name} MISSING")
PY
  echo "== backends"; python3 -m klverify backends
} 2>&1 | tee "$OUT/environment.txt"

label="gpu-$(hostname)"
echo "== report on every device"
time python3 -m klverify report --label "$label" --output "$OUT/gpu" 2>&1 | tee "$OUT/report.txt"
report_status=${PIPESTATUS[0]}

echo "== CUDA-marked tests"
python3 -m pytest -m cuda -p no:cacheprovider -q tests 2>&1 | tee "$OUT/cuda-tests.txt"
tests_status=${PIPESTATUS[0]}

echo "report exit $report_status, cuda tests exit $tests_status" | tee -a "$OUT/report.txt"
[ "$report_status" -le 1 ] && [ "$tests_status" -ne 1 ] && [ "$tests_status" -le 5 ]

#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one unattended run (about 2 minutes on an H200):
#   (a) the tests marked `cuda` (CUDA against the CPU: training steps, losses and mining,
#       checkpoints, galleries, embed's device contract, divergence), verbose, with the
#       measured CPU/CUDA differences printed;
#   (b) benchmarks/training_speed.py on cuda: train() next to the network's own limit.
# Each part has its own time limit; the last line says PASS or FAIL.
#
#   scripts/gpu_check.sh                  # python3 from PATH
#   PYTHON=/path/to/python scripts/gpu_check.sh
#   .gpu/run.sh scripts/gpu_check.sh      # on the project's GPU machine (wheels and data unpacked first)
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
status=0

echo "=== gpu_check: $(date -u +%H:%M:%S) UTC, $(git log -1 --format='%h %s' 2>/dev/null | cut -c1-80)"
if ! "$PY" -c "import sys, torch; ok = torch.cuda.is_available(); print('torch', torch.__version__, '|', torch.cuda.get_device_name() if ok else 'NO CUDA GPU'); sys.exit(0 if ok else 1)"; then
    echo "=== gpu_check: FAIL (no CUDA GPU visible; these checks need one)"
    exit 1
fi

echo "=== (a) tests marked cuda (limit 300 s)"
# addopts cleared: the project's --nbval-lax needs nbval, which this part does not use
timeout 300 "$PY" -m pytest tests/test_device.py -m cuda -v -s -rs -o addopts="" -p no:cacheprovider
rc=$?; [ $rc -eq 0 ] || { echo "=== (a) FAILED (exit $rc; 124: over its time limit)"; status=1; }

echo "=== (b) training speed on cuda (limit 300 s)"
timeout 300 "$PY" benchmarks/training_speed.py --device cuda
rc=$?; [ $rc -eq 0 ] || { echo "=== (b) FAILED (exit $rc; 124: over its time limit)"; status=1; }

echo "=== gpu_check: $([ $status -eq 0 ] && echo PASS || echo FAIL) at $(date -u +%H:%M:%S) UTC"
exit $status

#!/usr/bin/env bash
# The checks that need a CUDA GPU, as one prepared script for a borrowed GPU machine.
#
# On a machine with PyTorch + CUDA but without this project installed (no package index
# there): from the repository root, with the wheels of the packages such an image lacks in
# .whl/ (`make gpu-wheels` here downloads them for Python 3.12; carry .whl along):
#
#   bash benchmarks/gpu_check.sh tests            # CUDA tests + GPU optimizer step times (~3 min)
#   bash benchmarks/gpu_check.sh char-lm [SECS]   # `theoropt run char-lm --full` (the GPU mode)
#
# char-lm stops cleanly (SIGINT) after SECS seconds (default 540, inside a 10-minute limit);
# its store lives in .device-runs/ (git-ignored), which stays on a machine between calls, and
# the store plus its report come back as $OUT/char-lm-full.tgz. To resume on a fresh machine,
# unpack that archive into .device-runs/ and carry .device-runs along: saved runs are not redone.
# Outputs go to $OUT (default gpu-check-out/). Nothing here is needed for CI.
set -uo pipefail
OUT=${OUT:-gpu-check-out}
mkdir -p "$OUT" .device-runs
if [ -d .whl ] && [ ! -d /tmp/site ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH="/tmp/site:$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

describe_gpu() {
  nvidia-smi -L
  python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
}

case "${1:-}" in
  tests)
    describe_gpu 2>&1 | tee "$OUT/gpu.txt"
    python3 -m pytest -q -p no:cacheprovider -m cuda tests 2>&1 | tee "$OUT/cuda-tests.log"
    tests_status=${PIPESTATUS[0]}
    python3 -m benchmarks.optim_step_time --device cuda --out "$OUT" > "$OUT/optim_step_time.log" 2>&1
    bench_status=$?
    tail -n 45 "$OUT/optim_step_time.log"
    echo "cuda tests: exit status $tests_status; optim_step_time: exit status $bench_status"
    [ "$tests_status" -eq 0 ] && [ "$bench_status" -eq 0 ]
    ;;
  char-lm)
    describe_gpu 2>&1 | tee "$OUT/gpu.txt"
    store=.device-runs/char-lm-full
    timeout --signal=INT --kill-after=60 "${2:-540}" \
      python3 -m theoropt run char-lm --full --out "$store" --no-progress 2>&1 \
      | tee "$OUT/char-lm-full.log"
    run_status=${PIPESTATUS[0]}
    python3 -m theoropt report "$store" --out "$store-report" > /dev/null
    tar czf "$OUT/char-lm-full.tgz" -C .device-runs char-lm-full char-lm-full-report
    echo "char-lm --full: exit status $run_status (124 or 130: stopped at the time limit, resumable)"
    [ "$run_status" -eq 0 ]
    ;;
  *)
    echo "usage: bash benchmarks/gpu_check.sh tests|char-lm [SECONDS]" >&2
    exit 2
    ;;
esac

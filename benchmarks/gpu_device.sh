#!/usr/bin/env bash
# The GPU machine's side of benchmarks/gpu_kit.sh, run by the device tool from the repository root.
# Each call carries one .device/ortN and keeps its piece in /tmp, which lasts while the machine is warm:
#
#   bash benchmarks/gpu_device.sh stash           # every piece but the last
#   bash benchmarks/gpu_device.sh run [ARGS...]   # the last piece: join, check, install, then
#                                                 # benchmarks/gpu_check.py ARGS under a time limit
#
# What comes back (the device tool returns at most 8 files): $OUT/gpu_check.log and
# $OUT/gpu_results.tar.gz (environment, correctness and benchmark files of gpu_check.py, without the
# graphs and checkpoints it wrote).
set -uo pipefail
work="${GPU_WORK:-/tmp/uao-gpu}"
out="${OUT:-$work/out}"
mkdir -p "$work/pieces" "$out"
# A warm machine may still hold the folders of earlier calls beside this call's one.
carried=(.device/ort[0-9]/*.part[0-9])
[ -e "${carried[0]}" ] || { echo "error: this call carried no .device/ortN" >&2; exit 1; }
cp -f "${carried[@]}" "$(dirname "${carried[0]}")/SHA256SUMS" "$work/pieces/" || exit 1
case "${1:-}" in
    stash) nvidia-smi -L 2>/dev/null; python3 --version; ls -l "$work/pieces"; exit 0 ;;
    run) shift ;;
    *) echo "usage: gpu_device.sh stash | run [gpu_check.py options]" >&2; exit 2 ;;
esac

(
    cd "$work/pieces" || exit 1
    grep '\.part' SHA256SUMS | sha256sum --quiet -c || { echo "error: a piece is missing or damaged (above)" >&2; exit 1; }
    wheel="$(grep -v '\.part' SHA256SUMS | awk '{print $2}')"
    cat "$wheel".part* > "$wheel" && grep -v '\.part' SHA256SUMS | sha256sum --quiet -c || exit 1
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$work/site" "$wheel"
) || exit 1

export PYTHONPATH="$work/site:$PWD" PYTHONUNBUFFERED=1
rm -rf "$work/results"
# Ends before the device call's 10 minutes, so whatever it finished still comes back.
timeout "${GPU_CHECK_SECONDS:-540}" python3 benchmarks/gpu_check.py --out "$work/results" "$@" 2>&1 | tee "$out/gpu_check.log"
status=${PIPESTATUS[0]}
if [ -d "$work/results" ]; then
    tar czf "$out/gpu_results.tar.gz" -C "$work/results" --exclude=onnx --exclude=engines --exclude='*.pth' \
        --exclude='*.pth.json' .
fi
echo "gpu_check.py exit status $status; results in $out"
exit "$status"

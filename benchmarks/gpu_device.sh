#!/usr/bin/env bash
# The GPU machine's side of benchmarks/gpu_kit.sh, run by the device tool from the repository root.
# Each call carries one .device/ortN and keeps its piece in /tmp, which lasts while the machine is warm:
#
#   bash benchmarks/gpu_device.sh torch [ARGS...]  # the first call: its piece, then the PyTorch rows
#                                                  # (gpu_check.py --part torch), which need no wheel
#   bash benchmarks/gpu_device.sh stash            # the calls after it, but the last
#   bash benchmarks/gpu_device.sh run [ARGS...]    # the last piece: join, check, install onnxruntime-gpu,
#                                                  # then gpu_check.py ARGS (e.g. --part graphs)
#
# gpu_check.py runs under a time limit (GPU_CHECK_SECONDS, 420 s) so that whatever it finished comes
# back, as two files (the device tool returns at most 8): $OUT/gpu_check.log and
# $OUT/gpu_results.tar.gz (environment, correctness and benchmark files, without the graphs and
# checkpoints it wrote).
set -uo pipefail
work="${GPU_WORK:-/tmp/uao-gpu}"
out="${OUT:-$work/out}"
mkdir -p "$work/pieces" "$out"
# A warm machine may still hold the folders of earlier calls beside this call's one.
carried=(.device/ort[0-9]/*.part[0-9])
[ -e "${carried[0]}" ] || { echo "error: this call carried no .device/ortN" >&2; exit 1; }
cp -f "${carried[@]}" "$(dirname "${carried[0]}")/SHA256SUMS" "$work/pieces/" || exit 1

install_wheel() (
    cd "$work/pieces" || exit 1
    grep '\.part' SHA256SUMS | sha256sum --quiet -c || { echo "error: a piece is missing or damaged (above)" >&2; exit 1; }
    wheel="$(grep -v '\.part' SHA256SUMS | awk '{print $2}')"
    cat "$wheel".part* > "$wheel" && grep -v '\.part' SHA256SUMS | sha256sum --quiet -c || exit 1
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$work/site" "$wheel"
)

check() {
    export PYTHONPATH="$work/site:$PWD" PYTHONUNBUFFERED=1
    rm -rf "$work/results"
    timeout "${GPU_CHECK_SECONDS:-420}" python3 benchmarks/gpu_check.py --out "$work/results" "$@" 2>&1 | tee "$out/gpu_check.log"
    local status=${PIPESTATUS[0]}
    if [ -d "$work/results" ]; then
        tar czf "$out/gpu_results.tar.gz" -C "$work/results" --exclude=onnx --exclude=engines --exclude='*.pth' \
            --exclude='*.pth.json' .
    fi
    echo "gpu_check.py exit status $status; results in $out"
    return "$status"
}

verb="${1:-}"
shift || true
case "$verb" in
    stash) nvidia-smi -L 2>/dev/null; python3 --version; ls -l "$work/pieces" ;;
    torch) nvidia-smi -L 2>/dev/null; check --part torch "$@" ;;
    run) install_wheel && check "$@" ;;
    *) echo "usage: gpu_device.sh torch | stash | run [gpu_check.py options]" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Packs onnxruntime-gpu for the lent GPU machine, which has no network and takes at most 64 MiB per
# device call (the repository included): the wheel in pieces of 49 MiB, each in its own git-ignored
# folder .device/ortN, with the pieces' and the wheel's SHA-256 in every folder.
# benchmarks/gpu_device.sh is the other side; benchmarks/README.md ("On a lent GPU") gives the calls.
#
#   bash benchmarks/gpu_kit.sh [VERSION [PYTHON_VERSION]]   # onnxruntime-gpu 1.31.1 for Python 3.12
#   bash benchmarks/gpu_kit.sh path/to/a.whl                # a wheel at hand instead
set -euo pipefail
version="${1:-1.31.1}"          # built for CUDA 13, as the GPU machine's torch 2.11+cu130
python_version="${2:-3.12}"     # the GPU machine's python3
piece_size="${PIECE_SIZE:-49M}"
download="$(mktemp -d)"
trap 'rm -rf "$download"' EXIT

if [ -f "$version" ]; then
    cp "$version" "$download/"
else
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version "$python_version" \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$download" "onnxruntime-gpu==$version"
fi
wheel="$(basename "$(ls "$download"/*.whl)")"
(cd "$download" && split -b "$piece_size" -d -a 1 "$wheel" "$wheel.part" && sha256sum "$wheel" "$wheel".part* > SHA256SUMS)

rm -rf .device/ort[0-9]
for part in "$download/$wheel".part*; do
    folder=".device/ort${part##*.part}"
    mkdir -p "$folder"
    mv "$part" "$folder/"
    cp "$download/SHA256SUMS" "$folder/"
done
if git rev-parse --git-dir >/dev/null 2>&1 && ! git check-ignore -q .device/ort0; then
    echo "error: .device/ is not git-ignored, so the pieces would travel with every call" >&2
    exit 1
fi
echo "$wheel in $(ls -d .device/ort[0-9] | wc -l) pieces: $(ls -d .device/ort[0-9] | tr '\n' ' ')"

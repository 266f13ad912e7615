#!/usr/bin/env bash
# A llama.cpp folder for Unsloth's GGUF export on a machine that reaches PyPI but not GitHub:
# the converter (convert_hf_to_gguf.py, conversion/, gguf-py/) and a static llama-quantize,
# from the llama.cpp that the llama-cpp-python sdist vendors. Needs cmake and a C++ compiler;
# ~5 min on 2 cores. Then: UNSLOTH_LLAMA_CPP_PATH=<folder> UNSLOTH_LLAMA_CPP_OFFLINE=1.
#
#   bash benchmarks/llama_cpp_offline.sh [folder (default .llamacpp)] [llama-cpp-python version]
set -euo pipefail
DEST=$(realpath -m "${1:-.llamacpp}")
VERSION=${2:-0.3.36}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
python3 -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$WORK"
tar xzf "$WORK"/llama_cpp_python-*.tar.gz -C "$WORK"
SRC=$(echo "$WORK"/llama_cpp_python-*/vendor/llama.cpp)
# static: the folder is carried to machines whose C library may differ
cmake -S "$SRC" -B "$SRC/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF \
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_SERVER=OFF -DGGML_OPENMP=OFF -DCMAKE_EXE_LINKER_FLAGS=-static > "$WORK/cmake.log"
cmake --build "$SRC/build" --target llama-quantize -j"$(nproc)" > "$WORK/build.log"
rm -rf "$DEST" && mkdir -p "$DEST"
cp -r "$SRC"/convert_hf_to_gguf.py "$SRC"/conversion "$SRC"/gguf-py "$SRC"/LICENSE "$DEST"/
cp "$SRC/build/bin/llama-quantize" "$DEST"/ && strip "$DEST/llama-quantize"
echo "llama.cpp from the llama-cpp-python $VERSION sdist (PyPI); llama-quantize built static" > "$DEST/SOURCE.txt"
"$DEST/llama-quantize" --help > /dev/null 2>&1 || [ $? -eq 1 ]  # it exits 1 after printing its usage
echo "llama.cpp for GGUF export in $DEST: export UNSLOTH_LLAMA_CPP_PATH=$DEST UNSLOTH_LLAMA_CPP_OFFLINE=1"

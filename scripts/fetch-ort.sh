#!/usr/bin/env bash
# Fetches the ONNX Runtime native library (v1.30.0, CPU) from the npm package onnxruntime-node,
# which ships libonnxruntime.so.1 prebuilt. Idempotent: does nothing when the library is cached.
# Output: .cache/ort/libonnxruntime.so.1 (the build copies it next to every binary).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="1.30.0"
dest="$root/.cache/ort"
lib="$dest/libonnxruntime.so.1"
if [ -f "$lib" ] && [ -f "$dest/VERSION" ] && [ "$(cat "$dest/VERSION")" = "$version" ]; then
  exit 0
fi
mkdir -p "$dest"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "fetch-ort: npm pack onnxruntime-node@$version"
(cd "$tmp" && npm pack --silent "onnxruntime-node@$version" >/dev/null)
tar -xzf "$tmp/onnxruntime-node-$version.tgz" -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
cp "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$lib.tmp"
mv "$lib.tmp" "$lib"
echo "$version" > "$dest/VERSION"
echo "fetch-ort: $lib"

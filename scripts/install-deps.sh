#!/usr/bin/env bash
# Installs the Debian packages the tests and tooling need. Idempotent: skips apt when all are present.
set -euo pipefail
# postgresql: the prediction log's PostgreSQL sink is tested against a throwaway cluster (initdb, pg_ctl) on loopback;
# chromium: the evaluation report is opened headless and its plots checked on a screenshot;
# python3-prometheus-client: an independent parser of the /metrics text (MetricsTests);
# redis-server: the Redis online store is tested against a real redis-server on loopback (and make cluster runs one).
packages=(python3-grpcio python3-protobuf python3-numpy python3-sklearn python3-onnx nghttp2-client postgresql chromium python3-prometheus-client redis-server)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

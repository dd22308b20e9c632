#!/usr/bin/env bash
# Runs every test project one after another (the machine has 2 cores; parallel suites would make
# timing-tolerant tests noisy) and prints one closing line: "N passed, N failed, N skipped".
set -uo pipefail
config="${1:-Release}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
passed=0; failed=0; skipped=0; broken=()
echo "=== models/verify.py (bundled models and data vs their numpy reference)"
if /usr/bin/python3 models/verify.py; then passed=$((passed + 1)); else failed=$((failed + 1)); broken+=("models/verify.py"); fi
for project in tests/*/*.csproj; do
  name="$(basename "$project" .csproj)"
  echo "=== $name"
  log="$(mktemp)"
  timeout 1200 dotnet test "$project" -c "$config" --no-build --nologo \
    --blame-hang-timeout 5m 2>&1 | tee "$log" \
    | awk '/Error Message:/ { print; detail = 6; next } detail > 0 && !/^[[:space:]]+at / { print; detail--; next }
           { detail = 0 } /^[[:space:]]+(Failed|Skipped) |^[[:space:]]+at |Total tests|Passed!|Failed!|error/' | head -300
  rc=${PIPESTATUS[0]}
  summary="$(grep -E '(Passed|Failed)!' "$log" | tail -1)"
  p=$(sed -nE 's/.*Passed: *([0-9]+).*/\1/p' <<<"$summary"); f=$(sed -nE 's/.*Failed: *([0-9]+).*/\1/p' <<<"$summary")
  s=$(sed -nE 's/.*Skipped: *([0-9]+).*/\1/p' <<<"$summary")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
  if [ "$rc" -ne 0 ] || [ -z "$summary" ]; then broken+=("$name"); fi
  rm -f "$log"
done
echo
if [ ${#broken[@]} -gt 0 ]; then
  echo "test projects with failures or no result: ${broken[*]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ ${#broken[@]} -eq 0 ] && [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]

#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs (Debian packages, npm ci, the
# Kubernetes control-plane build), checks types and lint, then runs the unit tests and the
# integration tests against the real local cluster (which the run brings up and takes down).
# Ends with the line "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib/common.sh

say "installing dependencies"
bash hack/install-deps.sh
say "building the control plane (cached after the first time)"
bash hack/build-control-plane.sh
[[ -x hack/build-tiny-guest.sh ]] && { say "building the tiny test guest (cached)"; bash hack/build-tiny-guest.sh; }

failed_checks=0
check() {
  local what=$1; shift
  if "$@"; then say "check passed: $what"; else say "CHECK FAILED: $what"; failed_checks=$((failed_checks + 1)); fi
}
check "TypeScript types match crds/" npx tsx hack/gen-types.ts --check
check "typecheck" npx tsc -p tsconfig.json --noEmit
check "lint" npx eslint --max-warnings=0 .

report="$GRIDVM_STATE/test-report.json"
mkdir -p "$GRIDVM_STATE"
rm -f "$report"
set +e
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
vitest_rc=$?
set -e

if [[ ! -s $report ]]; then
  echo "vitest wrote no report (exit $vitest_rc)"
  echo "0 passed, $((1 + failed_checks)) failed"
  exit 1
fi
read -r passed failed skipped < <(node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(r.numPassedTests, r.numFailedTests + (r.numRuntimeErrorTestSuites ?? 0), r.numPendingTests + (r.numTodoTests ?? 0));
' "$report")
# Checks (types drift, typecheck, lint) count as tests: a red check is a failure.
passed=$((passed + 3 - failed_checks))
failed=$((failed + failed_checks))
echo "$passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 && $vitest_rc -eq 0 ]]

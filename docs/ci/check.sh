#!/bin/sh
# aviary's policy gate for any CI system (or a laptop): checks the release
# policy against the accepted baseline and leaves the reports in a folder.
#
#   docs/ci/check.sh [SUITE] [POLICY] [BASELINE]
#
# Defaults: aviary/suite.toml, aviary/policy.toml, aviary/aviary-baseline.json.
# Environment: AVIARY (the aviary binary, default: aviary on PATH),
# AVIARY_REPORT (the report folder, default: aviary-report).
# Exit status: 0 nothing regressed, 1 a regression beyond tolerance (the
# summary says which, and how to reproduce it), 2 bad input.
#
# Writes AVIARY_REPORT/junit.xml (a test case per scenario x score),
# summary.md (also appended to $GITHUB_STEP_SUMMARY when that is set),
# snapshot.txt (one line per result) and check.json.
set -eu
aviary=${AVIARY:-aviary}
suite=${1:-aviary/suite.toml}
policy=${2:-aviary/policy.toml}
baseline=${3:-aviary/aviary-baseline.json}
report=${AVIARY_REPORT:-aviary-report}
mkdir -p "$report"
status=0
"$aviary" check "$suite" --policy "$policy" --baseline "$baseline" --quiet \
  --format json --junit "$report/junit.xml" --summary "$report/summary.md" \
  --snapshot "$report/snapshot.txt" > "$report/check.json" || status=$?
if [ -f "$report/summary.md" ]; then
  cat "$report/summary.md"
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    cat "$report/summary.md" >> "$GITHUB_STEP_SUMMARY"
  fi
fi
case $status in
  0) echo "aviary check: passed" ;;
  1) echo "aviary check: the policy regressed. If the change is wanted, accept it:"
     echo "  $aviary check $suite --policy $policy --baseline $baseline --update" ;;
  *) echo "aviary check: could not run (exit $status)" ;;
esac
exit $status

#!/bin/sh
# ci/run.sh — the CI pipeline: tests, the regression gate, then sanitizers. Fails on
# the first red step.
set -eu
start=$(date +%s)
step() { echo "=== ci: $* ($(( $(date +%s) - start )) s)"; }
step "make test"
make test
step "make regress"
make regress
step "make asan"
make asan
step "done"

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
step "JUnit XML of the suite (build/junit.xml)"
sh ci/junit.sh
step "make asan"
make asan
step "done"

#!/bin/sh
# ci/junit.sh — the TAP test suite as JUnit XML, for CI systems that read it.
#
# Builds as `make test` does (into $BUILD, default build), runs the same
# tests under prove with TAP::Formatter::JUnit (Debian's
# libtap-formatter-junit-perl) and writes $BUILD/junit.xml: one <testsuite>
# per test file, one <testcase> per TAP line, a <failure> for each "not ok"
# (and for a test file that dies or plans wrong), times from prove --timer.
# The raw TAP of each test is kept beside it in $BUILD/junit-tap/.
#
#   sh ci/junit.sh                 the whole suite
#   sh ci/junit.sh tests/t_cli.t   only these tests (paths as prove takes them)
#
# Exits as prove does: 0 when every test passed, else non-zero (2 when the
# formatter is not installed).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}

make --no-print-directory deps
if ! perl -MTAP::Formatter::JUnit -e 1 2>/dev/null; then
    echo "junit: TAP::Formatter::JUnit is missing: apt-get install libtap-formatter-junit-perl" >&2
    exit 2
fi
make --no-print-directory BUILD="$BUILD" build
abs=$(cd "$BUILD" && pwd)
rm -rf "$abs/junit-tap"
mkdir -p "$abs/junit-tap"
if [ $# -eq 0 ]; then
    set -- "$abs/tests/" tests/*.t
fi

# PERL_TEST_HARNESS_DUMP_TAP: the formatter also leaves each test's TAP (and
# its own XML) there, for a human reading a failure.
rc=0
CLAIMBENCH="$abs/claimbench" BUILD_DIR="$abs" PERL_TEST_HARNESS_DUMP_TAP="$abs/junit-tap" \
    prove --timer --formatter TAP::Formatter::JUnit "$@" >"$abs/junit.xml.tmp" || rc=$?
mv "$abs/junit.xml.tmp" "$abs/junit.xml"
cases=$(grep -c '<testcase' "$abs/junit.xml" || true)
failures=$(grep -c -E '<(failure|error)\b' "$abs/junit.xml" || true)
echo "junit: $abs/junit.xml: $cases test cases, $failures failed (prove exit $rc)"

# CI logs keep only what is printed: name each failing test file here, with its
# "not ok" lines and their diagnostics, or why it died.
if [ "$rc" -ne 0 ]; then
    perl ci/junit-failures.pl "$abs/junit.xml"
fi
exit "$rc"

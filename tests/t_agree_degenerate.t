#!/bin/sh
# t_agree_degenerate.t — an agreement size whose reference output is constant
# (all zero, here) must fail: a backend that writes that constant without
# computing anything would pass it. The test-only kernel selftest_fault
# computes y = scale·x; with scale 0 both backends give all zeros and agree
# exactly, and `check` must still say "not ok" and exit 1. With scale 1 the
# same spec passes, and a one-element output (N = 1) is not called constant.
if [ -z "${CLAIMBENCH:-}" ]; then echo "1..0 # SKIP CLAIMBENCH not set"; exit 0; fi
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
n=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
diag() { sed 's/^/# /'; }

spec() {    # spec SCALE SIZES...
    scale=$1; shift
    cat <<EOF
---
id: degenerate
paper: "Transformers are RNNs: Fast Autoregressive Transformers with Linear Attention"
claim: >
  Test fixture for tests/t_agree_degenerate.t, not a claim.
params: {scale: $scale}
sweep: {N: [8]}
kernels:
  - name: selftest_fault
    backends: [ref, faulty]
agreement:
  sizes:
EOF
    for N in "$@"; do printf '    - {N: %s}\n' "$N"; done
    cat <<EOF
  tolerance: {max_abs: 1e-6, max_rel: 1e-6, nl2: 1e-6}
checks:
  - name: ref_runs
    type: scaling
    a: {kernel: selftest_fault, backend: ref}
    param: N
    expect: [-1, 3]
    paper: "none (fixture)"
---

# degenerate

Test fixture, not a claim.
EOF
}

mkdir -p "$tmp/zero" "$tmp/one"
spec 0 8 1 >"$tmp/zero/degenerate.md"
spec 1 8 1 >"$tmp/one/degenerate.md"

"$CLAIMBENCH" --tasks "$tmp/zero" check >"$tmp/zero.out" 2>"$tmp/zero.err"; rc=$?
grep -q '^not ok .*N=8.*REFERENCE CONSTANT' "$tmp/zero.out"; found=$?
ok $(( rc != 1 || found != 0 )) "all-zero reference output at N=8: not ok, REFERENCE CONSTANT, exit 1 (rc $rc)"
[ $rc -eq 1 ] && [ $found -eq 0 ] || diag <"$tmp/zero.out"
grep -q '^ok .*[ ,]N=1[,:]' "$tmp/zero.out"
ok $? "a one-element output is not called constant (N=1 passes)"

"$CLAIMBENCH" --tasks "$tmp/one" check >"$tmp/one.out" 2>"$tmp/one.err"; rc=$?
bad=$(grep -c 'REFERENCE CONSTANT\|^not ok' "$tmp/one.out")
ok $(( rc != 0 || bad != 0 )) "the same spec with scale 1 passes every comparison (rc $rc, $bad failing)"
[ $rc -eq 0 ] || diag <"$tmp/one.out"

echo "1..$n"

#!/bin/sh
# t_isolation.t — a backend that crashes or hangs on one case costs that case
# only. The test-only kernel selftest_fault (impls/testing/faulty.c) is timed
# with backends ref and faulty over N = 8, 16, 32; faulty dies of SIGSEGV
# (mode 1), calls abort() (mode 2) or hangs (mode 3) at N = 16. bench must
# finish and publish the run, record each N = 16/faulty case as failed with
# the signal or the time limit, go on to time N = 32, leave no child running
# and no half-written JSON, and the report must show the failures. Agreement
# comparisons that crash are "not ok" with the signal, and check goes on.
# Last, bench is stopped while a case hangs: SIGINT must kill the hung child
# and exit 130 at once, SIGKILL must take the child down with bench.
if [ -z "${CLAIMBENCH:-}" ]; then echo "1..0 # SKIP CLAIMBENCH not set"; exit 0; fi
tmp=$(mktemp -d)
bg=""
trap '[ -n "$bg" ] && kill -9 "$bg" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
n=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
diag() { sed 's/^/# /'; }
LIMIT=5     # --case-timeout: what a hang costs here, per case and per comparison

# ---- the specs --------------------------------------------------------------------
mkdir -p "$tmp/tasks" "$tmp/tasks_check"
spec() {    # spec ID MODE... : selftest_fault with one kernel entry per mode
    id=$1; shift
    cat <<EOF
---
id: $id
paper: "Transformers are RNNs: Fast Autoregressive Transformers with Linear Attention"
claim: >
  Test fixture for tests/t_isolation.t, not a claim: a backend that crashes or
  hangs at N = 16 must cost that case only.
params: {fault_at: 16}
sweep: {N: [8, 16, 32]}
timing: {repetitions: 3, min_time: 0.01, budget: 5}
kernels:
EOF
    for mode in "$@"; do
        printf '  - name: selftest_fault\n    backends: [ref, faulty]\n    params: {mode: %s}\n' "$mode"
    done
    cat <<EOF
agreement:
  sizes:
EOF
    for N in ${AGREE:-16 8}; do printf '    - {N: %s}\n' "$N"; done
    cat <<EOF
  tolerance: {max_abs: 1e-6, max_rel: 1e-6, nl2: 1e-6}
checks:
  - name: ref_runs
    type: scaling
    a: {kernel: selftest_fault, backend: ref}
    param: N
    where: {mode: 1}
    expect: [-1, 3]
    paper: "none (fixture)"
---

# $id

Test fixture, not a claim.

<!-- claimbench:timings -->
EOF
}
spec isolation 1 2 3 >"$tmp/tasks/isolation.md"
spec isolation_check 1 2 >"$tmp/tasks_check/isolation_check.md"
mkdir -p "$tmp/tasks_hang"
AGREE=8 spec isolation_hang 3 >"$tmp/tasks_hang/isolation_hang.md"

cb() { "$CLAIMBENCH" --tasks "$tmp/tasks" --runs "$tmp/runs" --reports "$tmp/reports" \
        --history "$tmp/history.sqlite" "$@"; }

# ---- bench: every mode, timings and agreement ---------------------------------------
t0=$(date +%s)
cb bench --quick --case-timeout $LIMIT >"$tmp/out" 2>"$tmp/err"; rc=$?
t1=$(date +%s)
ok $rc "bench exits 0 although three cases crash or hang (rc $rc, $((t1 - t0)) s)"
[ $rc -eq 0 ] || tail -n 20 "$tmp/err" | diag
run=$(tail -n 1 "$tmp/out")
[ -n "$run" ] && [ -f "$run/samples.tsv" ] && [ -f "$run/machine.tsv" ] && [ -f "$run/agreement.tap" ] &&
    [ "$(readlink "$tmp/runs/latest")" = "$(basename "$run")" ]
ok $? "the run completed and was published ($run)"
S="$run/samples.tsv"

# The time row of selftest_fault/BACKEND at MODE and N: "KIND<TAB>NOTE<TAB>VALUES".
row() {
    awk -F'\t' -v b="$1" -v m="$2" -v N="$3" '
        $3 == "selftest_fault" && $4 == b && $5 == "time" &&
        ("," $6 ",") ~ (",mode=" m ",") && ("," $6 ",") ~ (",N=" N ",") { print $1 "\t" $7 "\t" $8 }' "$S" 2>/dev/null
}
for m in 1 2 3; do
    case $m in
        1) want="killed by SIGSEGV"; short="SIGSEGV" ;;
        2) want="killed by SIGABRT"; short="SIGABRT" ;;
        3) want="time limit of $LIMIT s exceeded"; short="time limit $LIMIT s" ;;
    esac
    r16=$(row faulty $m 16)
    [ "$(printf '%s' "$r16" | cut -f1)" = fail ] && [ "$(printf '%s' "$r16" | cut -f2)" = "$want" ]
    ok $? "mode $m: N=16/faulty is a fail row noting '$want' (got '$(printf '%s' "$r16" | cut -f1,2 | tr '\t' ' ')')"
    bad=0
    for N in 8 32; do
        r=$(row faulty $m $N)
        [ "$(printf '%s' "$r" | cut -f1)" = time ] &&
            [ "$(printf '%s' "$r" | cut -f3 | tr ',' '\n' | grep -c .)" -eq 3 ] || bad=1
    done
    for N in 8 16 32; do [ "$(row ref $m $N | cut -f1)" = time ] || bad=1; done
    ok $bad "mode $m: the run went on: faulty N=8 and N=32 and ref at every N timed (3 repetitions)"
    grep -q "selftest_fault faulty .*N=16 \.\.\. FAILED ($short)\$" "$tmp/err"
    ok $? "mode $m: progress says FAILED ($short)"
done

# No JSON from a failed case, none half-written; every timed case has its JSON.
njson=$(ls "$run/gbench/isolation/" 2>/dev/null | grep -c '\.json$')
ntmp=$(find "$run" -name '*.tmp*' | wc -l)
ntime=$(awk -F'\t' '$1 == "time" && $2 == "isolation"' "$S" | wc -l)
ok $(( njson != ntime || ntmp != 0 || ntime != 15 )) \
    "one JSON per time row, no temporary files ($njson JSON, $ntime time rows, $ntmp tmp)"

# The hung child was killed, with its process group: nothing runs our spec any more.
left=$(ps -eo pid=,args= | grep -F "$tmp/tasks/isolation.md" | grep -v grep | wc -l)
ok $(( left != 0 )) "no child process left running ($left)"

# Agreement inside bench: the comparison at N=16 fails with the signal, N=8 passes.
tap="$run/agreement.tap"
bad=0
for m in 1 2 3; do
    case $m in 1) want="killed by SIGSEGV" ;; 2) want="killed by SIGABRT" ;; 3) want="time limit of $LIMIT s exceeded" ;; esac
    grep -Eq "^not ok [0-9]+ - selftest_fault/faulty y [^ ]*mode=$m[^ ]*N=16[^ ]*: $want\$" "$tap" || bad=1
    grep -Eq "^ok [0-9]+ - selftest_fault/faulty y [^ ]*mode=$m[^ ]*N=8[^ ]*: max_abs 0 " "$tap" || bad=1
done
ok $bad "agreement.tap: N=16 not ok with the signal or the limit, N=8 ok, for every mode"
[ $bad -eq 0 ] || diag <"$tap"
nfail=$(awk -F'\t' '$1 == "fail" && $3 == "selftest_fault" && $5 == "agree" && $7 ~ /^y: (killed by SIG|time limit)/' "$S" | wc -l)
npass0=$(awk -F'\t' '$1 == "metric" && $3 == "selftest_fault" && $5 == "agree_pass" && $8 == "0"' "$S" | wc -l)
ok $(( nfail != 3 || npass0 != 3 )) "each failed comparison is a fail row with its cause and agree_pass 0 ($nfail, $npass0)"

# ---- the report shows the failures ----------------------------------------------------
cb verify >/dev/null 2>"$tmp/verify.err"; rv=$?
cb report >/dev/null 2>"$tmp/report.err"; rr=$?
md="$tmp/reports/isolation.md"
grep -q "failed (killed by SIGSEGV)" "$md" 2>/dev/null && grep -q "failed (killed by SIGABRT)" "$md" &&
    grep -q "failed (time limit of $LIMIT s exceeded)" "$md"
ok $(( rv > 1 || rr != 0 || $? != 0 )) "verify and report run, and the report names each failure (verify $rv, report $rr)"

# ---- check: a crashing comparison is not ok, and the next ones run ------------------------
"$CLAIMBENCH" --tasks "$tmp/tasks_check" check >"$tmp/check.out" 2>"$tmp/check.err"; rc=$?
expected="not ok 1 - selftest_fault/faulty y fault_at=16,mode=1,N=16: killed by SIGSEGV
ok 2 - selftest_fault/faulty y fault_at=16,mode=1,N=8:
not ok 3 - selftest_fault/faulty y fault_at=16,mode=2,N=16: killed by SIGABRT
ok 4 - selftest_fault/faulty y fault_at=16,mode=2,N=8:
1..4"
got=$(grep -E '^(ok|not ok|1\.\.)' "$tmp/check.out" | sed 's/: max_abs.*/:/')
[ $rc -eq 1 ] && [ "$got" = "$expected" ]
ok $? "check: crashes are not ok with the signal, the next comparisons run, exit 1 (rc $rc)"
[ "$got" = "$expected" ] || diag <"$tmp/check.out"

# ---- stopping bench while a case hangs: the hung child goes with it ----------------------
# SIGINT: bench kills the child, removes its partial folder and exits 130 at
# once. SIGKILL: the child dies with its parent (PR_SET_PDEATHSIG).
hung_child() { ps -eo args= | grep -F "$tmp/tasks_hang/" | grep -F __case | grep -c 'mode=3,N=16 '; }
for sig in INT KILL; do
    # A script's background jobs ignore SIGINT: give bench back the default.
    perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or die "exec: $!\n"' \
        "$CLAIMBENCH" --quiet --tasks "$tmp/tasks_hang" --runs "$tmp/runs_hang" \
        --history "$tmp/history_hang.sqlite" bench --quick --filter /faulty/ --case-timeout 300 \
        >/dev/null 2>"$tmp/hang.err" &
    bg=$!
    i=0
    while [ $i -lt 600 ] && [ "$(hung_child)" -eq 0 ] && kill -0 "$bg" 2>/dev/null; do
        sleep 0.1; i=$((i + 1))
    done
    found=$(hung_child)
    sleep 0.3
    ts=$(date +%s.%N)
    kill -s $sig "$bg"
    wait "$bg" 2>/dev/null; rc=$?
    te=$(date +%s.%N)
    bg=""
    i=0
    while [ $i -lt 20 ] && [ "$(hung_child)" -ne 0 ]; do sleep 0.1; i=$((i + 1)); done
    left=$(hung_child)
    partial=$(ls -A "$tmp/runs_hang" 2>/dev/null | grep -c '^\.partial-')
    lat=$(awk -v a="$ts" -v b="$te" 'BEGIN { printf "%.2f", b - a }')
    if [ $sig = INT ]; then
        awk -v l="$lat" 'BEGIN { exit !(l < 5) }'
        ok $(( found != 1 || left != 0 || rc != 130 || partial != 0 || $? != 0 )) \
            "SIGINT during a hung case: exit $rc within $lat s, the hung child killed ($found running before, $left after), partial folder removed ($partial left)"
    else
        ok $(( found != 1 || left != 0 )) \
            "SIGKILL during a hung case: the hung child dies with bench ($found running before, $left after)"
    fi
done

echo "1..$n"

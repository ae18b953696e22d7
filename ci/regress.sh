#!/bin/sh
# ci/regress.sh — the regression gate (`make regress`) and its baseline (`make baseline`).
#
#   sh ci/regress.sh            run the quick suite (tasks/regress) once, verify it, and
#                               compare it with data/baselines/<machine class>/; exit 1
#                               on a real regression (see `claimbench compare --help`).
#                               A timing regression counts only when a second run of
#                               the suite shows it again (ci/confirm.pl)
#   sh ci/regress.sh baseline   run the suite REGRESS_RUNS times (default 6) on this
#                               commit, measure the noise threshold from them
#                               (`compare --calibrate`) and keep the first run, stripped
#                               to samples.tsv, machine.tsv and verdicts.tsv, as the
#                               baseline of this machine class
#   sh ci/regress.sh run        one suite run; prints its folder (for ci/false-alarm.sh)
#
# The suite runs single-threaded (OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = 1): on a
# shared 2-core runner a 2-thread OpenMP or OpenBLAS barrier that loses a core to a
# neighbour costs 10-100x, which no threshold can absorb; a regression of the kernel
# itself shows in one thread as well. OPENBLAS_CORETYPE is left as it is.
#
# Environment: CLAIMBENCH (default build/claimbench), REGRESS_OUT (run folders,
# default build/regress), REGRESS_HISTORY (default data/history.sqlite), BASELINES
# (default data/baselines), REGRESS_RUNS (baseline runs, default 6), REGRESS_STRICT=1
# (fail instead of skipping when this machine class has no baseline).
set -eu
cd "$(dirname "$0")/.."
cb=${CLAIMBENCH:-build/claimbench}
out=${REGRESS_OUT:-build/regress}
history=${REGRESS_HISTORY:-data/history.sqlite}
baselines=${BASELINES:-data/baselines}
mode=${1:-regress}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
mkdir -p "$out/runs"
start=$(date +%s)

# One run of the quick suite, verified; prints the run folder on stdout.
run_suite() {
    if ! "$cb" --tasks tasks/regress --runs "$out/runs" --history "$history" bench \
            >"$out/bench.out" 2>"$out/bench.err"; then
        cat "$out/bench.err" >&2
        echo "regress: the quick suite failed to run" >&2
        exit 3
    fi
    grep -E '^\[(agree|probe)\]|FAILED' "$out/bench.err" >&2 || true
    run=$(tail -n 1 "$out/bench.out")
    # verify exits 1 when a check is not reproduced; compare judges that.
    "$cb" --quiet --tasks tasks/regress --runs "$out/runs" verify >/dev/null 2>"$out/verify.err" ||
        [ $? -eq 1 ] || { cat "$out/verify.err" >&2; exit 3; }
    echo "$run"
}

case $mode in
run)
    run_suite
    ;;
baseline)
    k=${REGRESS_RUNS:-6}
    runs=""
    loads=""
    i=1
    while [ "$i" -le "$k" ]; do
        load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')
        loads="$loads $load"
        echo "=== baseline: run $i of $k ($(( $(date +%s) - start )) s, load average $load)" >&2
        runs="$runs $(run_suite)"
        i=$((i + 1))
    done
    first=${runs# }
    first=${first%% *}
    class=$("$cb" compare --machine-class "$first")
    dest="$baselines/$class"
    mkdir -p "$dest"
    # shellcheck disable=SC2086 # the run folders have no spaces
    "$cb" compare --calibrate --out "$dest/noise.tsv" $runs
    echo "# 1-minute load average before each run:$loads ($(getconf _NPROCESSORS_ONLN) cores);" \
         "suite run single-threaded by ci/regress.sh" >>"$dest/noise.tsv"
    for f in samples.tsv machine.tsv verdicts.tsv; do
        cp "$first/$f" "$dest/$f.tmp" && mv "$dest/$f.tmp" "$dest/$f"
    done
    echo "baseline of $class: $dest (from $first; noise from $k runs) in $(( $(date +%s) - start )) s"
    ;;
regress)
    run=$(run_suite)
    class=$("$cb" compare --machine-class "$run")
    if [ ! -f "$baselines/$class/samples.tsv" ]; then
        echo "regress: no baseline for machine class $class under $baselines/ (make baseline" \
             "measures one here); nothing to compare" >&2
        [ "${REGRESS_STRICT:-0}" = 1 ] && exit 2
        exit 0
    fi
    rc=0
    "$cb" compare --baselines "$baselines" "$baselines/$class" "$run" || rc=$?
    "$cb" compare --json --baselines "$baselines" "$baselines/$class" "$run" >"$out/compare.json" 2>/dev/null || true
    # A timing regression must show again in a second timing of the suite
    # (ci/confirm.pl says why); the rest is deterministic and stands.
    treg=$(perl -MJSON::PP -e 'local $/; print decode_json(<STDIN>)->{summary}{timing_regressions} // 0' \
           <"$out/compare.json" 2>/dev/null || echo 0)
    if [ "$rc" -eq 1 ] && [ "$treg" -gt 0 ]; then
        echo "regress: $treg timing regression(s); timing the suite once more to confirm them"
        run2=$(run_suite)
        "$cb" compare --json --baselines "$baselines" "$baselines/$class" "$run2" \
            >"$out/compare-confirm.json" 2>/dev/null || true
        rc=0
        perl ci/confirm.pl "$out/compare.json" "$out/compare-confirm.json" || rc=$?
    fi
    echo "regress: $run against $baselines/$class: exit $rc in $(( $(date +%s) - start )) s" \
         "(JSON: $out/compare.json)"
    exit $rc
    ;;
*)
    echo "usage: sh ci/regress.sh [regress|baseline|run]" >&2
    exit 2
    ;;
esac

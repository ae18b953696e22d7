#!/bin/sh
# t_report.t — `claimbench report` on a hand-made run folder: the task report,
# the index, the verdicts, the figures (real SVG and PNG files that the
# Markdown links reach), and the errors: no run yet, a bad option, no gnuplot.
if [ -z "$CLAIMBENCH" ]; then
    echo "1..0 # SKIP CLAIMBENCH not set"
    exit 0
fi

n=0
failed=0
ok() { # ok CONDITION-STATUS NAME
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
check() { # check NAME COMMAND...: ok when the command succeeds
    name=$1
    shift
    "$@" >/dev/null 2>&1
    ok $? "$name"
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cb_report.XXXXXX") || { echo "Bail out! mktemp"; exit 1; }
trap 'rm -rf "$tmp"' EXIT INT TERM

# ---- a task spec: softmax attention, ref and blas, swept over N ---------------
mkdir -p "$tmp/tasks"
cat >"$tmp/tasks/tiny_softmax.md" <<'EOF'
---
id: tiny_softmax
paper: "A Tiny Paper on Attention"
claim: >
  Softmax attention costs time quadratic in the sequence length.
params: {H: 1, d: 16, dv: 16}
sweep: {N: [64, 128, 256]}
kernels:
  - name: softmax_attention
    backends: [ref, blas]
agreement:
  sizes:
    - {H: 1, N: 8, d: 4, dv: 4}
  tolerance: {max_abs: 1e-5, max_rel: 1e-4, nl2: 1e-5}
checks:
  - name: softmax_quadratic
    type: scaling
    a: {kernel: softmax_attention, backend: blas}
    param: N
    expect: [1.8, 2.1]
    paper: "O(N^2) time"
---
# Tiny attention

Prose written by the task author, kept in the report.

<!-- claimbench:verdicts -->

More prose after the verdicts.
EOF

# ---- a probe-only task whose spec asks for figures of probe metrics ----------
cat >"$tmp/tasks/tiny_probe.md" <<'EOF'
---
id: tiny_probe
paper: "A Tiny Paper on Attention"
claim: >
  An error falls as the number of features grows.
probes:
  - name: causal_forms
checks:
  - name: err_small
    type: bound
    a: {probe: causal_forms, metric: err_a}
    expect: {max: 1}
    paper: "small"
figures:
  - title: "Error against m"
    probe: causal_forms
    x: m
    metrics: [err_a, err_b]
    where: {h: 1}
    ylabel: "relative error"
  - title: "A metric this run does not hold"
    probe: causal_forms
    x: m
    metrics: [err_missing]
---
# Tiny probe

<!-- claimbench:figures -->
EOF

# ---- a run folder, as bench would leave it -----------------------------------
run=20250101T000000Z-test
mkdir -p "$tmp/runs/$run"
ln -s "$run" "$tmp/runs/latest"
printf 'hostname\ttesthost\ncpu\tTest CPU\ncommit\tdeadbee\ndate\t2025-01-01T00:00:00Z\nomp_threads\t2\nseed\t1\n' \
    >"$tmp/runs/$run/machine.tsv"
T=$(printf '\t')
{
    p() { echo "H=1,N=$1,M=$1,d=16,dv=16,causal=0,scale=0.25"; }
    printf 'metric\t_machine\tfma_peak\t-\tgflops_all\t-\t-\t100\n'
    printf 'metric\t_machine\tsgemm\tblas\tgflops\tn=2048\t-\t50,52,51\n'
    printf 'time\ttiny_softmax\tsoftmax_attention\tref\ttime\t%s\t-\t0.001,0.0011,0.00105\n' "$(p 64)"
    printf 'time\ttiny_softmax\tsoftmax_attention\tref\ttime\t%s\t-\t0.004,0.0041,0.0042\n' "$(p 128)"
    printf 'skip\ttiny_softmax\tsoftmax_attention\tref\ttime\t%s\tpredicted 30 s > budget\t-\n' "$(p 256)"
    printf 'time\ttiny_softmax\tsoftmax_attention\tblas\ttime\t%s\t-\t0.0001,0.00011,0.000105\n' "$(p 64)"
    printf 'time\ttiny_softmax\tsoftmax_attention\tblas\ttime\t%s\t-\t0.0004,0.00041,0.00042\n' "$(p 128)"
    printf 'time\ttiny_softmax\tsoftmax_attention\tblas\ttime\t%s\t-\t0.0016,0.0017,0.00165\n' "$(p 256)"
    printf 'metric\ttiny_softmax\tsoftmax_attention\tblas\tagree_max_abs\tH=1,N=8,d=4,dv=4\t-\t1e-07\n'
    printf 'metric\ttiny_softmax\tsoftmax_attention\tblas\tagree_pass\tH=1,N=8,d=4,dv=4\t-\t1\n'
    for m in 16 32 64 128 256; do
        for d in 8 16; do
            printf 'metric\ttiny_probe\tcausal_forms\t-\terr_a\th=1,d=%s,m=%s,n=5,q=%s\t-\t%s\n' $d $m $((2 * m)) "$(awk -v m=$m -v d=$d 'BEGIN { print d / m }')"
        done
        printf 'metric\ttiny_probe\tcausal_forms\t-\terr_b\th=1,m=%s\t-\t0.5\n' $m
        printf 'metric\ttiny_probe\tcausal_forms\t-\terr_b\th=2,m=%s\t-\t9\n' $m
    done
} >"$tmp/runs/$run/samples.tsv"
printf 'tiny_softmax\tsoftmax_quadratic\tscaling\tnot reproduced\t1.5\t1.4\t1.6\t[1.8, 2.1]\tO(N^2) time\tslope of log time over N = 64..256\n' \
    >"$tmp/runs/$run/verdicts.tsv"

out=$tmp/reports
cb() { "$CLAIMBENCH" --tasks "$tmp/tasks" --runs "$tmp/runs" --reports "$out" "$@"; }

# ---- the report ---------------------------------------------------------------
cb report >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
ok $((rc != 0)) "report exits 0 (got $rc)"
[ $rc -eq 0 ] || sed 's/^/# /' "$tmp/stderr"
md=$out/tiny_softmax.md
check "tiny_softmax.md exists" test -s "$md"
check "index.md exists" test -s "$out/index.md"
check "the report has the paper as its title" grep -q '^# A Tiny Paper on Attention' "$md"
check "the paper is the one title: the body's own opens a level down" sh -c "grep -q '^## Tiny attention' '$md' && [ \$(grep -c '^# ' '$md') -eq 1 ]"
check "the verdict appears in the report" grep -q 'softmax_quadratic.*not reproduced.*1.5 \[1.4, 1.6\]' "$md"
check "the verdict appears in the index" grep -q 'softmax_quadratic.*not reproduced' "$out/index.md"
check "the index counts it" grep -q '0 reproduced, 1 not reproduced, 0 inconclusive' "$out/index.md"
check "the index names the run and commit" grep -q "$run.*deadbee" "$out/index.md"
check "the author's prose is kept" grep -q 'More prose after the verdicts' "$md"
check "the marker line is replaced" sh -c "! grep -q 'claimbench:verdicts' '$md'"
# The verdicts section stands where its marker was: before the prose after it.
vl=$(grep -n '^## Verdicts' "$md" | cut -d: -f1)
pl=$(grep -n 'More prose after the verdicts' "$md" | cut -d: -f1)
ok $(( ${vl:-0} > 0 && ${pl:-0} > ${vl:-0} ? 0 : 1 )) "verdicts woven at the marker (line ${vl:-none} < ${pl:-none})"
check "sections without a marker are appended (timings)" grep -q '^## Timings' "$md"
check "a skipped case says why" grep -q 'skipped (predicted 30 s > budget)' "$md"
check "blas median time with its unit" grep -q '| 256 |.*| 1.65 ms |' "$md"
check "machine pairs are shown" grep -q '| hostname | testhost |' "$md"

# ---- figures -------------------------------------------------------------------
figs=$(grep -o '](figures/[^)]*\.svg)' "$md" | sed 's/^](//; s/)$//')
nfig=$(echo "$figs" | grep -c svg)
ok $((nfig >= 1 ? 0 : 1)) "the report links figures ($nfig)"
bad=0
for f in $figs; do
    svg=$out/$f
    png=${svg%.svg}.png
    head=$(head -c 5 "$svg" 2>/dev/null)
    if [ ! -s "$svg" ] || { [ "$head" != "<?xml" ] && [ "$(head -c 4 "$svg")" != "<svg" ]; }; then
        echo "# not an SVG: $svg"
        bad=1
    fi
    magic=$(head -c 8 "$png" 2>/dev/null | od -An -tx1 | tr -d ' \n')
    if [ "$magic" != "89504e470d0a1a0a" ]; then
        echo "# not a PNG: $png ($magic)"
        bad=1
    fi
done
ok $bad "every linked figure is a non-empty SVG with a PNG beside it"
check "the per-kernel figure exists" test -s "$out/figures/tiny_softmax-softmax_attention-time.svg"
# The spec's figures: a line per metric and per value of the free parameter
# (d; n is 5 on every row and q moves with m, so no label names them), rows of
# other `where` values
# (h=2) left out, log axes where every value
# is positive and spans more than a factor 10 (x: 16..256, base 2 for powers
# of two; y: 0.03..1, so log), and no figure for a metric the run lacks.
pmd=$out/tiny_probe.md
pfig=$out/figures/tiny_probe-causal_forms-1.svg
check "a spec figure of probe metrics is drawn and linked" grep -q '](figures/tiny_probe-causal_forms-1.svg)' "$pmd"
check "its caption gives the title, the probe and the axes" grep -q 'Error against m. Probe `causal_forms`, median of each metric against m at h=1 (log x, log y axis)' "$pmd"
check "a line per metric and free parameter (err_a d=8)" grep -q 'err_a (d=8)' "$pfig"
check "a line per metric and free parameter (err_a d=16)" grep -q 'err_a (d=16)' "$pfig"
check "a metric with no free parameter is one line (err_b)" grep -q '>err_b<' "$pfig"
check "no figure for metrics the run does not hold" test ! -e "$out/figures/tiny_probe-causal_forms-2.svg"
# Least-squares slopes of log median against log N, worked by hand:
# blas (64, 128, 256 → 0.105, 0.41, 1.65 ms): 1.987; ref (two points): 1.965.
svg1=$out/figures/tiny_softmax-softmax_attention-time.svg
check "the legend gives blas's fitted slope" grep -q 'blas (slope 1.99)' "$svg1"
check "the legend gives ref's fitted slope" grep -q 'ref (slope 1.97)' "$svg1"
# Every relative link of both files resolves.
unresolved=0
for file in "$md" "$out/index.md"; do
    for l in $(grep -o '](\([^)]*\))' "$file" | sed 's/^](//; s/)$//' | grep -v '^[a-z]*://'); do
        [ -e "$out/$l" ] || { echo "# unresolved link in $(basename "$file"): $l"; unresolved=1; }
    done
done
ok $unresolved "the Markdown links resolve"
left=$(find "$out" -name '.*' -type f | wc -l)
ok $((left != 0)) "no temporary files are left behind ($left)"

# ---- without verdicts ------------------------------------------------------------
rm "$tmp/runs/$run/verdicts.tsv"
cb --quiet report >/dev/null 2>&1
ok $? "report without verdicts.tsv exits 0"
check "the report says it is not verified yet" grep -q 'not verified yet — run claimbench verify' "$md"
check "so does the index" grep -q 'not verified yet — run claimbench verify' "$out/index.md"

# ---- errors -------------------------------------------------------------------
# gnuplot missing: an error naming the figure, exit 3.
PATH=/nonexistent "$CLAIMBENCH" --tasks "$tmp/tasks" --runs "$tmp/runs" --reports "$tmp/r2" report \
    >/dev/null 2>"$tmp/stderr"
rc=$?
ok $((rc != 3)) "no gnuplot: exit 3 (got $rc)"
check "the error names the figure" grep -Eq 'figure (tiny_softmax-softmax_attention-time|tiny_probe-causal_forms-1)' "$tmp/stderr"

cb report --no-such-option >/dev/null 2>&1
rc=$?
ok $((rc != 2)) "an unknown option: exit 2 (got $rc)"

mkdir -p "$tmp/empty"
"$CLAIMBENCH" --tasks "$tmp/tasks" --runs "$tmp/empty" --reports "$tmp/r3" report >/dev/null 2>"$tmp/stderr"
rc=$?
ok $((rc != 3)) "no run yet: exit 3 (got $rc)"
check "no run yet: the message says what to do" grep -q 'no results: run claimbench bench first' "$tmp/stderr"
check "no run yet: no report written" sh -c "! test -e '$tmp/r3/index.md'"

echo "1..$n"
[ $failed -eq 0 ]

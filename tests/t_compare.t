#!/bin/sh
# t_compare.t — `claimbench compare` and injected regressions.
#
# 1. Hand-made run folders and Google Benchmark JSON files with known
#    answers: each timing class, numerical regressions, a verdict flip, a
#    failed case, rows on one side only, --json keys, time units, the noise
#    file of a machine class, --calibrate, usage and I/O exit codes.
# 2. The quick suite (tasks/regress, the N = 256 cases) run with the normal
#    binary twice, with build/inject-slow (a 5 ms busy wait per call of
#    linear_attention/blas) and build/inject-perturb (its outputs 0.1% off):
#    compare flags exactly the injected rows and exits 1; the normal binary
#    against itself exits 0.
if [ -z "${CLAIMBENCH:-}" ]; then echo "1..0 # SKIP CLAIMBENCH not set"; exit 0; fi
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${BUILD_DIR:-$(dirname "$CLAIMBENCH")}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
n=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
cmp_() { "$CLAIMBENCH" compare "$@"; }
# JSON assertions: perl -MJSON::PP reads compare --json from $1 and runs $2.
jcheck() { perl -MJSON::PP -e 'local $/; open my $f, "<", $ARGV[0] or die "$!\n";
    our $d = decode_json(<$f>); our @t = @{$d->{timings}}; our @m = @{$d->{numerical}};
    our %c = map {; "$_->{kernel}/$_->{backend}" => $_->{class} } @t;
    eval $ARGV[1]; die $@ if $@' "$1" "$2"; }

# ---- fixtures ------------------------------------------------------------------
# mkrun DIR COMMIT: machine.tsv (an "AMD EPYC" with 2 cores) and samples.tsv
# from stdin lines "kind kernel backend metric params note scale [spread]",
# where the values are 9 repetitions, scale ms times 1 + (i - 4) * spread
# (default 0.004), i = 0..8 (metric rows: the one value scale).
mkrun() {
    mkdir -p "$1"
    printf 'hostname\tfixture\ncpu\tAMD EPYC\ncores\t2\ncommit\t%s\ndate\t2026-01-01T00:00:00Z\n' "$2" >"$1/machine.tsv"
    awk -v OFS='\t' '
        NF < 7 { next }
        $1 == "time" { sp = NF >= 8 ? $8 : 0.004; v = ""
                       for (i = 0; i < 9; i++) v = v (i ? "," : "") sprintf("%.17g", $7 * 1e-3 * (1 + (i - 4) * sp)) }
        $1 == "metric" { v = $7 }
        $1 == "fail" || $1 == "skip" { v = "-" }
        { print $1, "fx", $2, $3, $4, $5, $6, v }' >"$1/samples.tsv"
}
mkrun "$tmp/base" c1 <<'EOF'
time k_same blas time N=64 - 1
time k_small blas time N=64 - 1
time k_slow blas time N=64 - 1
time k_fast blas time N=64 - 1
time k_border blas time N=64 - 1
time k_crash blas time N=64 - 1
time k_gone blas time N=64 - 1
metric k_same blas agree_pass N=5 o 1
metric k_same blas agree_nl2 N=5 o 1e-7
metric k_same blas agree_max_abs N=5 o 0
metric k_num blas agree_pass N=5 o 1
metric k_num blas agree_nl2 N=5 o 1e-7
metric k_num blas agree_max_rel N=5 o 2e-8
metric probe1 - err N=5 - 1e-9
EOF
mkrun "$tmp/new" c2 <<'EOF'
time k_same blas time N=64 - 1
time k_small blas time N=64 - 1.05
time k_slow blas time N=64 - 2
time k_fast blas time N=64 - 0.5
time k_border blas time N=64 - 1.2 0.05
fail k_crash blas time N=64 killed_by_SIGSEGV 0
time k_added blas time N=64 - 1
metric k_same blas agree_pass N=5 o 1
metric k_same blas agree_nl2 N=5 o 5e-7
metric k_same blas agree_max_abs N=5 o 1e-8
metric k_num blas agree_pass N=5 o 0
metric k_num blas agree_nl2 N=5 o 3e-5
metric k_num blas agree_max_rel N=5 o 5e-7
metric probe1 - err N=5 - 2e-9
EOF
printf 'fx\tc_kept\tequivalence\treproduced\t1\t-\t-\tx\tp\td\nfx\tc_flip\tscaling\treproduced\t1\t0.9\t1.1\tx\tp\td\nfx\tc_up\tratio\tinconclusive\t1\t-\t-\tx\tp\td\n' >"$tmp/base/verdicts.tsv"
printf 'fx\tc_kept\tequivalence\treproduced\t1\t-\t-\tx\tp\td\nfx\tc_flip\tscaling\tinconclusive\t1\t0.9\t1.1\tx\tp\td\nfx\tc_up\tratio\treproduced\t1\t-\t-\tx\tp\td\n' >"$tmp/new/verdicts.tsv"

# ---- classes, exit codes, --json ---------------------------------------------------
cmp_ --threshold 10% "$tmp/base" "$tmp/new" >"$tmp/t.txt" 2>&1; rc=$?
ok $(( rc != 1 )) "a regression exits 1 (got $rc)"
grep -q '^regression  *fx/k_slow/blas ' "$tmp/t.txt" && grep -q '^noise  *fx/k_small/blas ' "$tmp/t.txt" &&
    grep -q '^improvement  *fx/k_fast/blas ' "$tmp/t.txt" && grep -q '^failed  *fx/k_crash/blas ' "$tmp/t.txt"
ok $? "the table names each row's class (regression, noise, improvement, failed)"
cmp_ --json --threshold 0.1 "$tmp/base" "$tmp/new" >"$tmp/t.json" 2>"$tmp/t.err"; rc=$?
jcheck "$tmp/t.json" '
    for my $k (qw(schema base new alpha threshold timings numerical verdicts only_base only_new summary)) {
        die "missing key $k\n" unless exists $d->{$k} }
    for my $r (@t) { for my $k (qw(task kernel backend params class n_base n_new median_base median_new ratio ci p threshold fails)) {
        die "timing row without $k\n" unless exists $r->{$k} } }
    die "k_slow: $c{q(k_slow/blas)}\n" unless $c{"k_slow/blas"} eq "regression";
    die "k_small: $c{q(k_small/blas)}\n" unless $c{"k_small/blas"} eq "noise";
    die "k_same: $c{q(k_same/blas)}\n" unless $c{"k_same/blas"} eq "noise";
    die "k_fast: $c{q(k_fast/blas)}\n" unless $c{"k_fast/blas"} eq "improvement";
    die "k_crash: $c{q(k_crash/blas)}\n" unless $c{"k_crash/blas"} eq "failed";
    die "k_border: $c{q(k_border/blas)}\n" unless $c{"k_border/blas"} eq "slower";
    my ($s) = grep { $_->{kernel} eq "k_slow" } @t;
    die "ratio $s->{ratio}\n" unless abs($s->{ratio} - 2) < 1e-9 && $s->{ci}[0] > 1.1 && $s->{p} < 1e-4 && $s->{n_base} == 9;
    die "threshold $d->{threshold}{all}\n" unless $d->{threshold}{all} == 0.1 && $d->{threshold}{source} eq "--threshold";
    my $S = $d->{summary};
    die "summary\n" unless $S->{timing_regressions} == 1 && $S->{failed_cases} == 1 && $S->{exit} == 1 && $S->{result} eq "fail";
' 2>"$tmp/perl.err"
ok $(( rc != 1 || $? != 0 )) "--json: stable keys, the classes (x1.2 with an interval reaching below 1 + T is only slower), ratio 2 with its interval and p (rc $rc) $(tr '\n' ' ' <"$tmp/perl.err")"
jcheck "$tmp/t.json" '
    my %m = map {; "$_->{kernel}/$_->{metric}" => $_->{class} } @m;
    die "pass flip: $m{q(k_num/agree_pass)}\n" unless $m{"k_num/agree_pass"} eq "regression";
    die "nl2 x300: $m{q(k_num/agree_nl2)}\n" unless $m{"k_num/agree_nl2"} eq "regression";
    die "max_rel x25 below floor: $m{q(k_num/agree_max_rel)}\n" unless $m{"k_num/agree_max_rel"} eq "changed";
    die "nl2 x5: $m{q(k_same/agree_nl2)}\n" unless $m{"k_same/agree_nl2"} eq "changed";
    die "0 -> 1e-8: $m{q(k_same/agree_max_abs)}\n" unless $m{"k_same/agree_max_abs"} eq "changed";
    die "probe: $m{q(probe1/err)}\n" unless $m{"probe1/err"} eq "changed";
    die "numerical count\n" unless $d->{summary}{numerical_regressions} == 2;
    my %v = map {; $_->{check} => $_->{class} } @{$d->{verdicts}};
    die "verdicts\n" unless $v{c_flip} eq "flip" && $v{c_up} eq "better" && $v{c_kept} eq "same" && $d->{summary}{verdict_flips} == 1;
    die "one side\n" unless @{$d->{only_base}} == 1 && $d->{only_base}[0]{kernel} eq "k_gone"
        && @{$d->{only_new}} == 1 && $d->{only_new}[0]{kernel} eq "k_added";
' 2>"$tmp/perl.err"
ok $? "numerical: pass->fail and a 300x error growth fail; growth below 1e-6 or within 10x does not; verdict flip; one-side rows $(tr '\n' ' ' <"$tmp/perl.err")"

cmp_ --threshold 0.1 "$tmp/base" "$tmp/base" >"$tmp/same.txt" 2>&1; rc=$?
grep -q '^result: ok' "$tmp/same.txt"
ok $(( rc != 0 || $? != 0 )) "a run against itself exits 0 (got $rc)"
cmp_ --threshold 1.5 "$tmp/base" "$tmp/new" --json >"$tmp/t15.json" 2>/dev/null
jcheck "$tmp/t15.json" 'die "k_slow with T=150%: $c{q(k_slow/blas)}\n" unless $c{"k_slow/blas"} eq "noise"' 2>"$tmp/perl.err"
ok $? "a 2x slowdown is noise when the machine's noise is 150% $(tr '\n' ' ' <"$tmp/perl.err")"

# ---- confirmation of timing regressions by a second timing (ci/confirm.pl) ------------------
# k_slow is 2x slower in run C1 and again in C2 (a real regression), 2x in C1 and
# back to 1x in C3 (one slow process); k_ok stays.
for r in C1:2 C2:2.05 C3:1.01; do
    mkrun "$tmp/${r%%:*}" c3 <<EOF2
time k_slow blas time N=64 - ${r#*:}
time k_ok blas time N=64 - 1
EOF2
done
mkrun "$tmp/C0" c1 <<'EOF2'
time k_slow blas time N=64 - 1
time k_ok blas time N=64 - 1
EOF2
for r in C1 C2 C3; do cmp_ --json --threshold 0.1 "$tmp/C0" "$tmp/$r" >"$tmp/$r.json" 2>/dev/null; done
perl "$root/ci/confirm.pl" "$tmp/C1.json" "$tmp/C2.json" >"$tmp/conf12" 2>&1; r1=$?
perl "$root/ci/confirm.pl" "$tmp/C1.json" "$tmp/C3.json" >"$tmp/conf13" 2>&1; r2=$?
grep -q '^confirm: REGRESSION fx/k_slow/blas/time/N=64: x2, then x2.05 (regression)$' "$tmp/conf12" &&
    grep -q '^confirm: not confirmed fx/k_slow/blas/time/N=64: x2, then x1.01 (noise)$' "$tmp/conf13" &&
    ! grep -q k_ok "$tmp/conf12" "$tmp/conf13"
ok $(( r1 != 1 || r2 != 0 || $? != 0 )) "confirm.pl: a regression timed again is real (exit $r1), one that is gone on the second timing is not (exit $r2)"
# The fixture's numerical regressions, flip and crash stand whatever the second says.
cmp_ --json --threshold 0.1 "$tmp/base" "$tmp/new" >"$tmp/bn.json" 2>/dev/null
perl "$root/ci/confirm.pl" "$tmp/bn.json" "$tmp/C3.json" >"$tmp/conf_bn" 2>&1; r1=$?
perl "$root/ci/confirm.pl" "$tmp/bn.json" "$tmp/nonexistent.json" >/dev/null 2>&1; r2=$?
echo '{"benchmarks": []}' >"$tmp/not_compare.json"
perl "$root/ci/confirm.pl" "$tmp/bn.json" "$tmp/not_compare.json" >/dev/null 2>&1; r3=$?
grep -q 'not confirmed fx/k_slow/blas' "$tmp/conf_bn" && grep -Eq '; [1-9][0-9]* numerical regression' "$tmp/conf_bn"
ok $(( r1 != 1 || r2 != 2 || r3 != 2 || $? != 0 )) "confirm.pl: numerical regressions, flips and crashes stand (exit $r1); a missing file or one that is not compare's JSON exits 2 (got $r2 $r3)"

# ---- the noise file of the machine class, and --calibrate ----------------------------
"$CLAIMBENCH" compare --machine-class "$tmp/base" >"$tmp/class" 2>&1
[ "$(cat "$tmp/class")" = amd-epyc-2c ]
ok $? "machine class from machine.tsv: $(cat "$tmp/class")"
mkdir -p "$tmp/bl/amd-epyc-2c"
printf '# fixture\nbackend\tthreshold\n*\t0.3\nblas\t2.5\n' >"$tmp/bl/amd-epyc-2c/noise.tsv"
cmp_ --json --baselines "$tmp/bl" "$tmp/base" "$tmp/new" >"$tmp/nf.json" 2>/dev/null
jcheck "$tmp/nf.json" '
    die "source $d->{threshold}{source}\n" unless $d->{threshold}{source} =~ m{bl/amd-epyc-2c/noise.tsv$};
    die "per backend\n" unless $d->{threshold}{per_backend}{blas} == 2.5 && $d->{threshold}{all} == 0.3;
    die "k_slow: $c{q(k_slow/blas)}\n" unless $c{"k_slow/blas"} eq "noise";' 2>"$tmp/perl.err"
ok $? "T comes from <baselines>/<class>/noise.tsv, per backend $(tr '\n' ' ' <"$tmp/perl.err")"

for i in 1 2 3; do
    scale=$(awk -v i=$i 'BEGIN { print 1.1 ^ (i - 1) }')
    echo "time k_a blas time N=64 - $scale" | mkrun "$tmp/cal$i" c9
done
cmp_ --calibrate --quantile 1 --floor 0 --out "$tmp/cal/noise.tsv" "$tmp/cal1" "$tmp/cal2" "$tmp/cal3" >"$tmp/cal.out" 2>&1; rc=$?
thr=$(awk -F'\t' '$1 == "*" { print $2 }' "$tmp/cal/noise.tsv" 2>/dev/null)
grep -q '^# .*3 runs of commit c9 (3 pairs)' "$tmp/cal/noise.tsv" 2>/dev/null; g=$?
ok $(( rc != 0 || g != 0 )) "--calibrate writes noise.tsv with how it was measured (rc $rc)"
ok $(( $(awk -v t="${thr:-0}" 'BEGIN { print (t > 0.2099 && t < 0.2101) ? 0 : 1 }') )) \
    "--calibrate: medians 1, 1.1, 1.21 give a max pairwise change of 21% (got ${thr:-none})"
echo "time k_a blas time N=64 - 1" | mkrun "$tmp/cal4" other
cmp_ --calibrate "$tmp/cal1" "$tmp/cal2" "$tmp/cal4" >/dev/null 2>&1; rc=$?
ok $(( rc != 2 )) "--calibrate refuses runs of different commits (got $rc)"

# ---- Google Benchmark JSON --------------------------------------------------------------
# gbjson FILE UNIT SCALE: 9 iterations of one benchmark in UNIT, plus aggregates
# whose values would change the answer if they were not ignored.
gbjson() {
    awk -v unit="$2" -v s="$3" 'BEGIN {
        f = unit == "ns" ? 1e6 : unit == "us" ? 1e3 : 1;
        printf "{\n  \"context\": {\"date\": \"x\", \"caches\": [{\"level\": 1}], \"commit\": \"abc\"},\n  \"benchmarks\": [\n";
        for (i = 0; i < 9; i++)
            printf "    {\"name\": \"t/k/blas/N=64/real_time\", \"run_name\": \"t/k/blas/N=64/real_time\", \"run_type\": \"iteration\", \"repetitions\": 9, \"real_time\": %.17g, \"cpu_time\": 1, \"time_unit\": \"%s\"},\n", s * f * (1 + (i - 4) * 0.004), unit;
        printf "    {\"name\": \"t/k/blas/N=64/real_time_mean\", \"run_name\": \"t/k/blas/N=64/real_time\", \"run_type\": \"aggregate\", \"aggregate_name\": \"mean\", \"real_time\": 999, \"time_unit\": \"s\"},\n";
        printf "    {\"name\": \"BM_other/8\", \"run_type\": \"iteration\", \"real_time\": 5, \"time_unit\": \"ns\", \"label\": \"a \\\"quoted\\\" \\u00e9\"}\n  ]\n}\n" }' >"$1"
}
gbjson "$tmp/a.json" ns 1
gbjson "$tmp/b.json" us 1
gbjson "$tmp/c.json" ms 3
cmp_ --json --threshold 0.1 "$tmp/a.json" "$tmp/b.json" >"$tmp/j1.json" 2>/dev/null; rc1=$?
cmp_ --json --threshold 0.1 "$tmp/a.json" "$tmp/c.json" >"$tmp/j2.json" 2>/dev/null; rc2=$?
jcheck "$tmp/j1.json" '
    die "rows: " . scalar(@t) . "\n" unless @t == 2;
    my ($r) = grep { $_->{kernel} eq "k" } @t;
    die "not parsed as task/kernel/backend/params\n" unless $r && $r->{task} eq "t" && $r->{params} eq "N=64";
    die "ns vs us: ratio $r->{ratio}\n" unless abs($r->{ratio} - 1) < 1e-9 && $r->{n_base} == 9 && $r->{class} eq "noise";
    die "median $r->{median_base}\n" unless abs($r->{median_base} - 1e-3) < 1e-12;
    die "other\n" unless grep { $_->{kernel} eq "BM_other/8" && $_->{task} eq "gbench" } @t;
    die "format\n" unless $d->{base}{format} eq "gbench" && $d->{base}{commit} eq "abc";' 2>"$tmp/perl.err"
ok $(( rc1 != 0 || $? != 0 )) "Google Benchmark JSON: time units honoured, aggregates ignored, names parsed (rc $rc1) $(tr '\n' ' ' <"$tmp/perl.err")"
jcheck "$tmp/j2.json" 'die "3x: $c{q(k/blas)}\n" unless $c{"k/blas"} eq "regression"' 2>"$tmp/perl.err"
ok $(( rc2 != 1 || $? != 0 )) "Google Benchmark JSON: a 3x slower file is a regression, exit 1 (rc $rc2) $(tr '\n' ' ' <"$tmp/perl.err")"

# ---- usage and I/O -------------------------------------------------------------------------
cmp_ >/dev/null 2>&1; r1=$?
cmp_ "$tmp/base" >/dev/null 2>&1; r2=$?
cmp_ --frob "$tmp/base" "$tmp/new" >/dev/null 2>&1; r3=$?
cmp_ --alpha 2 "$tmp/base" "$tmp/new" >/dev/null 2>&1; r4=$?
cmp_ --calibrate "$tmp/cal1" "$tmp/cal2" >/dev/null 2>&1; r5=$?
ok $(( r1 != 2 || r2 != 2 || r3 != 2 || r4 != 2 || r5 != 2 )) "usage errors exit 2 (got $r1 $r2 $r3 $r4 $r5)"
cmp_ "$tmp/base" "$tmp/nonexistent" >/dev/null 2>&1; r1=$?
echo '{"benchmarks": [' >"$tmp/broken.json"
cmp_ "$tmp/base" "$tmp/broken.json" >/dev/null 2>&1; r2=$?
cmp_ "$tmp/base" "$tmp/cal" >/dev/null 2>&1; r3=$?
ok $(( r1 != 3 || r2 != 3 || r3 != 3 )) "unreadable inputs exit 3: missing, broken JSON, a folder without samples.tsv (got $r1 $r2 $r3)"
"$CLAIMBENCH" compare --help >"$tmp/help" 2>&1; rc=$?
grep -q -- '--calibrate' "$tmp/help" && grep -q -- '--threshold' "$tmp/help"
ok $(( rc != 0 || $? != 0 )) "compare --help documents --calibrate and --threshold"

# ---- injected regressions on the real quick suite ------------------------------------------
slow="$build/inject-slow/claimbench"
perturb="$build/inject-perturb/claimbench"
if [ ! -x "$slow" ] || [ ! -x "$perturb" ]; then
    ok 1 "the injected variants exist ($slow, $perturb: make build makes them)"
    echo "1..$n"
    exit 0
fi
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1    # as ci/regress.sh runs the suite
suite() {  # suite BINARY NAME [bench options]: a verified run of tasks/regress in $tmp/NAME
    bin=$1 name=$2
    shift 2
    "$bin" --quiet --tasks "$root/tasks/regress" --runs "$tmp/$name" --history "$tmp/h.sqlite" bench "$@" \
        >"$tmp/$name.out" 2>"$tmp/$name.err" &&
        "$bin" --quiet --tasks "$root/tasks/regress" --runs "$tmp/$name" verify >/dev/null 2>&1
    [ -d "$tmp/$name/latest" ]
}
suite "$CLAIMBENCH" A --quick --reps 9 --filter ,N=256; ra=$?
suite "$CLAIMBENCH" B --quick --reps 9 --filter ,N=256; rb=$?
suite "$slow" S --quick --reps 9 --filter ,N=256; rs=$?
suite "$perturb" P --quick --filter no-timings; rp=$?
ok $(( ra + rb + rs + rp != 0 )) "the quick suite ran with the normal, slow and perturbed binaries ($ra $rb $rs $rp)"

# The machine's measured noise when this class has a baseline, else a
# generous 100% (the injected delay is 20x and more).
class=$("$CLAIMBENCH" compare --machine-class "$tmp/A/latest" 2>/dev/null)
if [ -f "$root/data/baselines/$class/noise.tsv" ]; then
    thr="--noise $root/data/baselines/$class/noise.tsv"
else
    thr="--threshold 1.0"
fi
# shellcheck disable=SC2086
cmp_ --json $thr "$tmp/A/latest" "$tmp/B/latest" >"$tmp/ab.json" 2>/dev/null; rc=$?
jcheck "$tmp/ab.json" 'print "# A vs B: $_->{kernel}/$_->{backend} $_->{params}: $_->{class} x$_->{ratio} [$_->{ci}[0], $_->{ci}[1]] p $_->{p}\n" for grep { $_->{class} ne "noise" } @t' >"$tmp/ab.diag"
if [ $rc -eq 1 ]; then
    # The gate's rule (ci/regress.sh): a timing regression must show again when
    # the suite is timed once more, in fresh processes (ci/confirm.pl).
    suite "$CLAIMBENCH" B2 --quick --reps 9 --filter ,N=256
    # shellcheck disable=SC2086
    cmp_ --json $thr "$tmp/A/latest" "$tmp/B2/latest" >"$tmp/ab2.json" 2>/dev/null
    perl "$root/ci/confirm.pl" "$tmp/ab.json" "$tmp/ab2.json" >"$tmp/ab.confirm" 2>&1; rc=$?
    sed 's/^/# /' "$tmp/ab.confirm" >>"$tmp/ab.diag"
fi
ok $(( rc != 0 )) "the normal binary against itself: no alarm that a second timing confirms, exit 0 (got $rc; $thr)"
cat "$tmp/ab.diag"

# shellcheck disable=SC2086
cmp_ --json $thr "$tmp/A/latest" "$tmp/S/latest" >"$tmp/as.json" 2>/dev/null; rc=$?
jcheck "$tmp/as.json" '
    my @inj = grep { $_->{kernel} eq "linear_attention" && $_->{backend} eq "blas" } @t;
    die "injected rows: " . scalar(@inj) . "\n" unless @inj == 2;
    for (@inj) { die "$_->{params}: $_->{class} x$_->{ratio}\n" unless $_->{class} eq "regression" && $_->{ratio} > 5 }
    print "# other rows: ", join(", ", map { "$_->{kernel}/$_->{backend} $_->{class}" } grep { $_->{class} ne "noise" && !($_->{kernel} eq "linear_attention" && $_->{backend} eq "blas") } @t), "\n";
    die "numerical\n" if $d->{summary}{numerical_regressions};' 2>"$tmp/perl.err"
ok $(( rc != 1 || $? != 0 )) "the slowed linear_attention/blas: both its rows are regressions, exit 1 (got $rc) $(tr '\n' ' ' <"$tmp/perl.err")"

# shellcheck disable=SC2086
cmp_ --json $thr "$tmp/A/latest" "$tmp/P/latest" >"$tmp/ap.json" 2>/dev/null; rc=$?
jcheck "$tmp/ap.json" '
    my @bad = grep { $_->{fails} } @m;
    die "no numerical regression\n" unless @bad;
    for (@bad) { die "wrong row $_->{kernel}/$_->{backend}\n" unless $_->{kernel} eq "linear_attention" && $_->{backend} eq "blas" }
    die "no pass->fail\n" unless grep { $_->{metric} eq "agree_pass" } @bad;
    my %v = map {; $_->{check} => $_->{class} } @{$d->{verdicts}};
    die "verdict chunked_blas_fp32: $v{chunked_blas_fp32}\n" unless $v{chunked_blas_fp32} eq "flip";
    for (keys %v) { die "verdict $_ flipped\n" if $_ ne "chunked_blas_fp32" && $v{$_} eq "flip" }
    print "# ", scalar(@bad), " numerical regressions, all linear_attention/blas\n";' 2>"$tmp/perl.err"
ok $(( rc != 1 || $? != 0 )) "the perturbed linear_attention/blas: numerical regressions on its rows only and the chunked_blas_fp32 verdict flip, exit 1 (got $rc) $(tr '\n' ' ' <"$tmp/perl.err")"

echo "1..$n"

#!/bin/sh
# ci/false-alarm.sh — how often `claimbench compare` raises a false alarm on
# unmodified code (the number in README.md, "Regression tracking").
#
# Runs the quick suite FALSE_ALARM_RUNS times (default 11) at the current
# commit, exactly as `make regress` does (ci/regress.sh run), then compares
#   1. each fresh run with the committed baseline of this machine class, and
#   2. every pair of fresh runs (i < j),
# with the committed noise thresholds. Every comparison is of the same code,
# so every exit 1 is a false alarm; the rows that raised it are printed.
# Not part of `make test` (it takes ~10 minutes); run it after `make baseline`.
#
# Environment: as ci/regress.sh (CLAIMBENCH, BASELINES, REGRESS_HISTORY);
# REGRESS_OUT defaults to build/false-alarm here.
set -eu
cd "$(dirname "$0")/.."
cb=${CLAIMBENCH:-build/claimbench}
baselines=${BASELINES:-data/baselines}
export REGRESS_OUT="${REGRESS_OUT:-build/false-alarm}"
k=${FALSE_ALARM_RUNS:-11}
out=$REGRESS_OUT
mkdir -p "$out"
runs=""
loads=""
i=1
while [ "$i" -le "$k" ]; do
    load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')
    loads="$loads $load"
    echo "=== false-alarm: run $i of $k (load average $load)" >&2
    runs="$runs $(sh ci/regress.sh run)"
    i=$((i + 1))
done
set -- $runs
class=$("$cb" compare --machine-class "$1")
base="$baselines/$class"
[ -f "$base/samples.tsv" ] && [ -f "$base/noise.tsv" ] || {
    echo "false-alarm: no baseline and noise file for $class under $baselines/ (make baseline)" >&2
    exit 2
}

# compare_one BASE NEW LABEL: 1 when compare raised an alarm (rows on stdout).
compare_one() {
    rc=0
    "$cb" compare --json --baselines "$baselines" "$1" "$2" >"$out/c.json" 2>/dev/null || rc=$?
    [ "$rc" -le 1 ] || { echo "false-alarm: compare failed ($rc) on $1 $2" >&2; exit 3; }
    perl -MJSON::PP -e 'local $/; my $d = decode_json(<STDIN>); my $s = $d->{summary};
        $rows += @{$d->{timings}};
        print "  $ARGV[0]: $_->{kernel}/$_->{backend} $_->{params}: $_->{class} x$_->{ratio} [$_->{ci}[0], $_->{ci}[1]] p $_->{p} T $_->{threshold}\n"
            for grep { $_->{fails} } @{$d->{timings}};
        print "  $ARGV[0]: $_->{kernel}/$_->{backend} $_->{metric} $_->{params}: $_->{reason}\n"
            for grep { $_->{fails} } @{$d->{numerical}};
        print "  $ARGV[0]: verdict $_->{check}: $_->{base} -> $_->{new}\n" for grep { $_->{fails} } @{$d->{verdicts}};
        open my $f, ">>", "$ARGV[1]/rows.count"; print $f scalar(@{$d->{timings}}), " ",
            scalar(grep { $_->{fails} } @{$d->{timings}}), " ", scalar(grep { $_->{class} eq "slower" || $_->{class} eq "faster" } @{$d->{timings}}), "\n";' "$3" "$out" <"$out/c.json"
    return "$rc"
}

: >"$out/rows.count"
nb=0 ab=0
for r in "$@"; do
    nb=$((nb + 1))
    compare_one "$base" "$r" "baseline vs run $nb" || ab=$((ab + 1))
done
np=0 ap=0
i=0
for a in "$@"; do
    i=$((i + 1))
    j=0
    for b in "$@"; do
        j=$((j + 1))
        [ "$j" -gt "$i" ] || continue
        np=$((np + 1))
        compare_one "$a" "$b" "run $i vs run $j" || ap=$((ap + 1))
    done
done
rows=$(awk '{ r += $1; f += $2; s += $3 } END { printf "%d timed rows compared, %d flagged as regressions, %d as advisory slower/faster", r, f, s }' "$out/rows.count")
echo "machine class $class, thresholds from $base/noise.tsv:"
awk -F'\t' '!/^#/ && $1 != "backend" { printf "  %s %.0f%%", $1, 100 * $2 } END { print "" }' "$base/noise.tsv"
echo "load average before each run:$loads"
echo "against the baseline: $ab false alarms in $nb comparisons"
echo "pairwise between the $k fresh runs: $ap false alarms in $np comparisons"
echo "rows: $rows"

#!/bin/sh
# t_history_cmd.t — `claimbench history` on synthetic histories: ten runs of
# one task, appended with --add in shuffled order, whose series are a 30% step
# after run 5 (must be flagged, at run 6), noise only (must not be), one odd
# run 50% slower (a spike, not a step: must not be), and a step in the last
# run alone (not persistent yet: must not be); then --json, the filters and
# the usage and I/O errors.
if [ -z "${CLAIMBENCH:-}" ]; then echo "1..0 # SKIP CLAIMBENCH not set"; exit 0; fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cb_history_cmd.XXXXXX") || { echo "Bail out! mktemp"; exit 1; }
trap 'rm -rf "$tmp"' EXIT INT TERM
n=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
cb() { "$CLAIMBENCH" --quiet --history "$tmp/h.sqlite" "$@"; }

# mk_run I: run folder $tmp/runs/<stamp>-c<I>. Timings are lognormal: a run
# level of 4% (the run-to-run noise of a shared machine) times a repetition
# noise of 6%, five repetitions, from awk's generator seeded with I.
mk_run() {
    i=$1
    d=$(printf '202401%02dT120000Z-c%02d' "$i" "$i")
    mkdir -p "$tmp/runs/$d"
    host=ci-vm
    [ "$i" -eq 10 ] && host=other-vm
    printf 'hostname\t%s\ncommit\tc%02d\ndate\t2024-01-%02dT12:00:00Z\ncores\t2\n' "$host" "$i" "$i" \
        >"$tmp/runs/$d/machine.tsv"
    awk -v i="$i" 'BEGIN {
        srand(1000 + i); OFS = "\t"
        # name, base seconds, factor at this run
        k[1] = "k_step";  b[1] = 1e-3; f[1] = (i > 5) ? 1.3 : 1
        k[2] = "k_flat";  b[2] = 2e-3; f[2] = 1
        k[3] = "k_spike"; b[3] = 5e-4; f[3] = (i == 4) ? 1.5 : 1
        k[4] = "k_last";  b[4] = 3e-3; f[4] = (i == 10) ? 1.4 : 1
        for (s = 1; s <= 4; s++) {
            lvl = b[s] * f[s] * exp(0.04 * gauss())
            v = ""
            for (r = 0; r < 5; r++) v = v (r ? "," : "") sprintf("%.9g", lvl * exp(0.06 * gauss()))
            print "time", "syn", k[s], "blas", "time", "H=2,N=64", "-", v
        }
        print "metric", "syn", "probe", "-", "err", "N=64", "-", "1e-7"
    }
    function gauss() { return sqrt(-2 * log(1 - rand())) * cos(6.283185307179586 * rand()) }' \
        >"$tmp/runs/$d/samples.tsv"
}
for i in 1 2 3 4 5 6 7 8 9 10; do mk_run "$i"; done

cb history --help >"$tmp/help" 2>&1; rc=$?
grep -q -- '--flagged' "$tmp/help"; g=$?
ok $(( rc != 0 || g != 0 )) "history --help exits 0 and documents the options"

cb history >/dev/null 2>"$tmp/err"; rc=$?
ok $(( rc != 3 )) "a missing history file exits 3 (got $rc: $(head -c 120 "$tmp/err"))"

cb history --frobnicate >/dev/null 2>&1; rc=$?
ok $(( rc != 2 )) "an unknown option exits 2 (got $rc)"
cb history --params 'N=' >/dev/null 2>&1; rc=$?
ok $(( rc != 2 )) "a malformed --params exits 2 (got $rc)"
cb history --kernel >/dev/null 2>&1; rc=$?
ok $(( rc != 2 )) "an option without its value exits 2 (got $rc)"

# Appended out of date order: the history orders runs by their date.
rc=0
for i in 7 2 9 1 10 5 3 8 4 6; do
    cb history --add "$tmp/runs/$(printf '202401%02dT120000Z-c%02d' "$i" "$i")" 2>>"$tmp/add.err" || rc=$?
done
ok $rc "history --add appends ten run folders"
cb history --add "$tmp/runs/20240103T120000Z-c03" >/dev/null 2>&1; rc=$?
ok $(( rc != 3 )) "adding a run already in the history is refused with exit 3 (got $rc)"

cb history >"$tmp/out" 2>"$tmp/err"; rc=$?
ok $rc "history exits 0 (a flagged step is not a failure)"
grep -q 'syn  k_step/blas  H=2,N=64' "$tmp/out" && grep -q 'step before run 6 (commit c06' "$tmp/out"
ok $? "the table names the series and flags the step before run 6 (commit c06)"

cb history --json >"$tmp/h.json" 2>"$tmp/err"; rc=$?
perl -MJSON::PP -e '
    local $/; my $h = decode_json(<STDIN>);
    my %s = map { $_->{kernel} => $_ } @{$h->{series}};
    die "want 4 series, got " . scalar(keys %s) . "\n" unless keys %s == 4;
    for my $k (sort keys %s) {
        my @r = @{$s{$k}{runs}};
        die "$k: want 10 runs, got " . @r . "\n" unless @r == 10;
        my @c = map { $_->{commit} } @r;
        die "$k: runs out of date order: @c\n" unless "@c" eq join " ", map { sprintf "c%02d", $_ } 1 .. 10;
        die "$k: run without 5 repetitions\n" if grep { $_->{n} != 5 } @r;
        die "$k: noise $s{$k}{noise} not in (0, 0.2)\n" unless $s{$k}{noise} > 0 && $s{$k}{noise} < 0.2;
    }
    my @st = @{$s{k_step}{steps}};
    die "k_step: want one step, got " . @st . "\n" unless @st == 1;
    die "k_step: step at index $st[0]{index}, want 5\n" unless $st[0]{index} == 5;
    die "k_step: change $st[0]{change} not near +30%\n" unless $st[0]{change} > 0.2 && $st[0]{change} < 0.4;
    die "k_step: threshold $st[0]{threshold} below 5%\n" unless $st[0]{threshold} >= 0.05;
    for my $k (qw(k_flat k_spike k_last)) {
        die "$k: flagged a step that is noise\n" if @{$s{$k}{steps}};
    }
' <"$tmp/h.json" 2>"$tmp/perl.err"
ok $(( rc != 0 || $? != 0 )) "--json: the 30% step is flagged at run 6; noise, a spike and a one-run change are not $(tr '\n' ' ' <"$tmp/perl.err")"

cb history --flagged --json >"$tmp/f.json" 2>/dev/null; rc=$?
perl -MJSON::PP -e 'local $/; my $h = decode_json(<STDIN>); my @s = @{$h->{series}};
    exit !(@s == 1 && $s[0]{kernel} eq "k_step")' <"$tmp/f.json"
ok $(( rc != 0 || $? != 0 )) "--flagged keeps only the series with a step"

cb history --kernel k_flat --backend blas --task syn --params N=64 --json >"$tmp/k.json" 2>/dev/null; rc=$?
perl -MJSON::PP -e 'local $/; my $h = decode_json(<STDIN>); my @s = @{$h->{series}};
    exit !(@s == 1 && $s[0]{kernel} eq "k_flat")' <"$tmp/k.json"
ok $(( rc != 0 || $? != 0 )) "--kernel, --backend, --task and --params select one series"

cb history --params N=128 >"$tmp/none" 2>/dev/null; rc=$?
grep -q '0 series' "$tmp/none"
ok $(( rc != 0 || $? != 0 )) "a filter matching nothing prints 0 series and exits 0"

cb history --machine other-vm --json >"$tmp/m.json" 2>/dev/null; rc=$?
perl -MJSON::PP -e 'local $/; my $h = decode_json(<STDIN>);
    exit !(@{$h->{series}} == 4 && !grep { @{$_->{runs}} != 1 || $_->{runs}[0]{machine} ne "other-vm" } @{$h->{series}})' \
    <"$tmp/m.json"
ok $(( rc != 0 || $? != 0 )) "--machine keeps the runs of that host only"

echo "1..$n"

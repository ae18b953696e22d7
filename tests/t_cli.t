#!/bin/sh
# t_cli.t — the command line end to end on a tiny task: help, usage errors,
# list, check, bench --quick, verify --json (its stable keys) and report.
if [ -z "${CLAIMBENCH:-}" ]; then echo "1..0 # SKIP CLAIMBENCH not set"; exit 0; fi
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
n=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
cb() { "$CLAIMBENCH" --quiet --tasks "$here/specs_e2e" --runs "$tmp/runs" \
        --reports "$tmp/reports" --history "$tmp/history.sqlite" "$@"; }

"$CLAIMBENCH" --help >"$tmp/help" 2>&1; rc=$?
missing=""
for c in list check bench verify report run; do grep -q "^  $c" "$tmp/help" || missing="$missing $c"; done
ok $(( rc != 0 || ${#missing} != 0 )) "--help exits 0 and explains every subcommand${missing:+ (missing:$missing)}"

"$CLAIMBENCH" frobnicate >/dev/null 2>&1; rc=$?
ok $(( rc != 2 )) "unknown command exits 2 (got $rc)"
"$CLAIMBENCH" --seed -3 list >/dev/null 2>&1; rc=$?
ok $(( rc != 2 )) "bad --seed exits 2 (got $rc)"

cb list >"$tmp/list" 2>&1; rc=$?
grep -q e2e_tiny "$tmp/list" && grep -q softmax_attention "$tmp/list"; g=$?
ok $(( rc != 0 || g != 0 )) "list names the task and its kernels"

cb check >"$tmp/check" 2>&1; rc=$?
nok=$(grep -c '^ok ' "$tmp/check"); nbad=$(grep -c '^not ok' "$tmp/check")
ok $(( rc != 0 || nbad != 0 || nok < 4 )) "check: every backend agrees with ref ($nok ok, $nbad not ok, rc $rc)"

cb check no_such_task >/dev/null 2>&1; rc=$?
ok $(( rc != 2 )) "check of an unknown task exits 2 (got $rc)"

"$CLAIMBENCH" --quiet --tasks "$here/specs_e2e" --runs "$tmp/runs" verify >/dev/null 2>&1; rc=$?
ok $(( rc != 3 )) "verify before any run exits 3 (got $rc)"

cb bench --quick >"$tmp/bench.out" 2>"$tmp/bench.err"; rc=$?
ok $rc "bench --quick completes (rc $rc)"
[ -f "$tmp/runs/latest/samples.tsv" ] && [ -f "$tmp/runs/latest/machine.tsv" ]
ok $? "the run folder holds samples.tsv and machine.tsv"

cb verify --json >"$tmp/v.json" 2>"$tmp/v.err"; rc=$?
ok $rc "verify --json exits 0"
perl -MJSON::PP -e '
    local $/; my $a = decode_json(<STDIN>);
    die "not an array\n" unless ref $a eq "ARRAY" && @$a == 6;
    for my $v (@$a) {
        for my $k (qw(task check type verdict measured interval expected paper)) {
            die "missing key $k\n" unless exists $v->{$k};
        }
        die "bad verdict $v->{verdict}\n"
            unless $v->{verdict} =~ /^(reproduced|not reproduced|inconclusive)$/;
    }
    my %t = map { $_->{check} => $_ } @$a;
    die "fp64 forms not reproduced\n" unless $t{fp64_forms}{verdict} eq "reproduced";
    die "scaling has no interval\n" unless ref $t{softmax_slope}{interval} eq "ARRAY";
' <"$tmp/v.json" 2>"$tmp/perl.err"
ok $? "verify --json: six verdicts with the stable keys, computed from data $(tr '\n' ' ' <"$tmp/perl.err")"
[ -f "$tmp/runs/latest/verdicts.json" ] && [ -f "$tmp/runs/latest/verdicts.tsv" ]
ok $? "verify wrote verdicts.json and verdicts.tsv into the run folder"

cb report >"$tmp/report.out" 2>&1; rc=$?
ok $rc "report exits 0"
[ -s "$tmp/reports/e2e_tiny.md" ] && [ -s "$tmp/reports/index.md" ] && grep -q "fp64_forms" "$tmp/reports/e2e_tiny.md"
ok $? "report wrote the task report with its verdicts and the index"
ls "$tmp/reports/figures/"*.svg >/dev/null 2>&1 && ls "$tmp/reports/figures/"*.png >/dev/null 2>&1
ok $? "report drew SVG and PNG figures"

echo "1..$n"

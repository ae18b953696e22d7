#!/bin/sh
# t_interrupt.t — interrupting `bench` at any point leaves the history and the
# last complete run intact. After a complete run A, bench is started again and
# stopped at random delays spread over a run's length: with SIGINT (it must
# stop within seconds, exit 130 and remove its partial folder — or, if the
# signal came after it published its run, finish normally) and with SIGKILL.
# After each: `latest` names A or a newer complete run, every run folder is
# complete, no child process is left running, and the history passes
# PRAGMA integrity_check (tests/t_interrupt_db.c) and holds exactly the
# complete runs (after SIGKILL the newest run may be missing from it: the
# kill can fall between publishing the folder and appending it).
# T_INTERRUPT_SEED=N replays the delays of an earlier run.
if [ -z "${CLAIMBENCH:-}" ]; then echo "1..0 # SKIP CLAIMBENCH not set"; exit 0; fi
here=$(cd "$(dirname "$0")" && pwd)
dbcheck="${BUILD_DIR:-$(dirname "$CLAIMBENCH")}/tests/t_interrupt_db.t"
if [ ! -x "$dbcheck" ]; then echo "1..0 # SKIP $dbcheck not built"; exit 0; fi
tmp=$(mktemp -d)
bg=""
trap '[ -n "$bg" ] && kill -9 "$bg" 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
n=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
runs="$tmp/runs"
hist="$tmp/history.sqlite"
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
complete_runs() { ls -A "$runs" 2>/dev/null | grep -v '^\.' | grep -vx latest | sort; }
newest_run() { complete_runs | tail -n 1; }

# bench --quick on tests/specs_bench, timing only ref (3 cases) to keep this
# test short: the phases are all there (machine figures, agreement, cases,
# publishing, history). In the background. A script's background jobs ignore SIGINT, and bench
# keeps an ignored SIGINT ignored (as nohup wants), so give it back its default.
tag="t_interrupt-$$-$(date +%s%N)"   # in the environment of bench and its children only
start_bench() {
    CB_TEST_TAG=$tag perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or die "exec: $!\n"' \
        "$CLAIMBENCH" --quiet --tasks "$here/specs_bench" --runs "$runs" --history "$hist" \
        bench --quick --filter /ref/ >"$tmp/out" 2>"$tmp/err" &
    bg=$!
}

# Every run folder complete, and `latest` naming A or the newest complete run.
folders_ok() {
    bad=""
    for r in $(complete_runs); do
        for f in machine.tsv samples.tsv agreement.tap; do
            [ -s "$runs/$r/$f" ] || bad="$bad $r/$f"
        done
    done
    latest=$(readlink "$runs/latest")
    if [ ! -f "$runs/$latest/samples.tsv" ]; then bad="$bad latest=$latest"
    elif [ "$latest" != "$A" ] && [ "$latest" != "$(newest_run)" ]; then bad="$bad latest=$latest"; fi
    [ -z "$bad" ]
}

# The history intact and holding the complete runs. $1 = kill: the newest
# complete run may be missing from it (published, then killed before the
# append); such a run stays allowed to be missing in later checks.
touch "$tmp/unrecorded"
history_ok() {
    "$dbcheck" "$hist" >"$tmp/db" 2>&1 || return 1
    grep '^run ' "$tmp/db" | cut -c5- | sort >"$tmp/db.runs"
    complete_runs >"$tmp/dir.runs"
    [ -z "$(comm -23 "$tmp/db.runs" "$tmp/dir.runs")" ] || return 1   # no run without its folder
    comm -13 "$tmp/db.runs" "$tmp/dir.runs" >"$tmp/missing"
    if [ "$1" = kill ] && grep -qxF "$(newest_run)" "$tmp/missing"; then
        newest_run >>"$tmp/unrecorded"
        echo "# $(newest_run) was published but killed before its history append"
    fi
    [ -z "$(sort "$tmp/unrecorded" | comm -23 "$tmp/missing" -)" ]
}

# No process of the killed bench is left (its children die with it,
# PR_SET_PDEATHSIG): none carries its tag in its environment. Give the
# kernel a moment to reap.
tagged() {
    c=0
    for e in /proc/[0-9]*/environ; do
        tr '\0' '\n' 2>/dev/null <"$e" | grep -qxF "CB_TEST_TAG=$tag" && c=$((c + 1))
    done 2>/dev/null
    echo $c
}
no_orphans() {
    i=0
    while [ $i -lt 20 ]; do
        [ "$(tagged)" -eq 0 ] && return 0
        sleep 0.1; i=$((i + 1))
    done
    return 1
}

# ---- run A, complete ------------------------------------------------------------------
t0=$(now)
"$CLAIMBENCH" --quiet --tasks "$here/specs_bench" --runs "$runs" --history "$hist" \
    bench --quick --filter /ref/ >"$tmp/outA" 2>"$tmp/errA"; rc=$?
t1=$(now)
A=$(basename "$(tail -n 1 "$tmp/outA")")
D=$(elapsed "$t0" "$t1")
[ $rc -eq 0 ] && [ "$(readlink "$runs/latest")" = "$A" ] && history_ok int
ok $? "run A completes in $D s, is latest and in the history ($A)"

# ---- the delays: stratified over [0, 1.1 D], so every phase is hit --------------------
seed=${T_INTERRUPT_SEED:-$$}
echo "# delays drawn with T_INTERRUPT_SEED=$seed over a run of $D s"
delays() {   # delays K SALT
    awk -v k="$1" -v d="$D" -v s="$seed" -v salt="$2" \
        'BEGIN { srand(s + salt); for (i = 0; i < k; i++) printf "%.2f\n", 0.05 + 1.1 * d * (i + rand()) / k }'
}

for sig in INT KILL; do
    if [ $sig = INT ]; then list=$(delays 3 1); else list=$(delays 2 2); fi
    for delay in $list; do
        before=$(complete_runs | wc -l)
        start_bench
        sleep "$delay"
        ts=$(now)
        kill -s $sig "$bg" 2>/dev/null
        wait "$bg" 2>/dev/null; rc=$?
        te=$(now)
        bg=""
        after=$(complete_runs | wc -l)
        lat=$(elapsed "$ts" "$te")
        if [ $sig = INT ]; then
            # 130, or 0 when it had already published its run (one more run then).
            partial=$(ls -A "$runs" | grep -c '^\.partial-')
            { [ $rc -eq 130 ] && [ "$after" -eq "$before" ]; } ||
                { [ $rc -eq 0 ] && [ "$after" -eq $((before + 1)) ]; }
            r1=$?
            awk -v l="$lat" 'BEGIN { exit !(l < 10) }'; r2=$?
            ok $(( r1 || r2 || partial != 0 )) \
                "SIGINT after $delay s: exit $rc within $lat s, partial folder removed ($partial left), runs $before -> $after"
            [ $r1 -eq 0 ] || sed 's/^/#   /' "$tmp/err"
        else
            no_orphans
            ok $? "SIGKILL after $delay s: no child process left running"
        fi
        folders_ok
        ok $? "after SIG$sig at $delay s: every run folder complete, latest -> ${latest:-?}${bad:+ (bad:$bad)}"
        if [ $sig = INT ]; then history_ok int; else history_ok kill; fi
        ok $? "after SIG$sig at $delay s: history intact and holds the complete runs ($(head -n 2 "$tmp/db" | tr '\n' ' '))"
    done
done

# ---- and the next run still completes and cleans up -----------------------------------------
"$CLAIMBENCH" --quiet --tasks "$here/specs_bench" --runs "$runs" --history "$hist" \
    bench --quick --filter /ref/ >"$tmp/outZ" 2>"$tmp/errZ"; rc=$?
Z=$(basename "$(tail -n 1 "$tmp/outZ")")
partial=$(ls -A "$runs" | grep -c '^\.partial-')
[ $rc -eq 0 ] && [ "$(readlink "$runs/latest")" = "$Z" ] && [ "$partial" -eq 0 ] && history_ok kill
ok $? "a last run completes, becomes latest, removes the killed runs' partial folders ($partial left)"

echo "1..$n"

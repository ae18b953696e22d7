#!/bin/sh
# t_run.t — `claimbench run` end to end: .npy files in, the real binary, .npy
# files out. The inputs are written here byte by byte (printf), so the test
# needs no Python: a tiny softmax_attention problem with a known exact answer,
# H=1, N=M=2, d=dv=1, q = k = 0, v = [1, 3]: every logit is 0, so each row
# weighs both keys by exactly 1/2 and o = [2, 2]; with causal=1, row 0 sees
# key 0 only and o = [1, 2]. Then the ways a command line or a file can be
# wrong, each with its exit code (2) and a message naming the problem.

if [ -z "$CLAIMBENCH" ]; then
    echo "1..0 # SKIP CLAIMBENCH not set"
    exit 0
fi

LC_ALL=C
export LC_ALL
dir=$(mktemp -d "${TMPDIR:-/tmp}/t_run.XXXXXX") || { echo "1..0 # SKIP no temporary folder"; exit 0; }
trap 'rm -rf "$dir"' EXIT
trap 'exit 1' HUP INT TERM

n=0
failed=0
ok() {  # ok CONDITION-STATUS DESCRIPTION
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $n - $2"
    else
        echo "not ok $n - $2"
        failed=$((failed + 1))
    fi
}
diag() { sed 's/^/# /' "$@"; }

# npy FILE SHAPE DATA [DESCR] — a .npy file as NumPy (>= 1.24) writes it:
# magic, version 1.0, the little-endian header length, the dict, 21 minus
# the first dimension's digits spaces of growth room, spaces up to a 64-byte
# boundary and '\n', then DATA (printf octal escapes).
npy() {
    dict="{'descr': '${4:-<f4}', 'fortran_order': False, 'shape': $2, }"
    first=${2#(}
    first=${first%%[,)]*}
    if [ -n "$first" ]; then
        dict="$dict$(printf "%$((21 - ${#first}))s" '')"
    fi
    pad=$((64 - (10 + ${#dict} + 1) % 64))
    hlen=$((${#dict} + pad + 1))
    {
        printf '\223NUMPY\001\000'
        printf "\\$(printf %03o $((hlen % 256)))\\$(printf %03o $((hlen / 256)))"
        printf '%s' "$dict"
        printf "%${pad}s\n" ''
        printf "$3"
    } > "$1"
}

# little-endian float32: 0, 1, 2, 3
F0='\000\000\000\000'
F1='\000\000\200\077'
F2='\000\000\000\100'
F3='\000\000\100\100'

npy "$dir/q.npy" '(1, 2, 1)' "$F0$F0"
npy "$dir/k.npy" '(1, 2, 1)' "$F0$F0"
npy "$dir/v.npy" '(1, 2, 1)' "$F1$F3"
npy "$dir/want.npy" '(1, 2, 1)' "$F2$F2"
npy "$dir/want_causal.npy" '(1, 2, 1)' "$F1$F2"
npy "$dir/v_f8.npy" '(1, 2, 1)' '\000\000\000\000\000\000\360\077\000\000\000\000\000\000\010\100' '<f8'
npy "$dir/q_rank2.npy" '(2, 1)' "$F0$F0"
npy "$dir/k3.npy" '(1, 3, 1)' "$F0$F0$F0"

IN="--in q=$dir/q.npy --in k=$dir/k.npy --in v=$dir/v.npy"

# ---- help -------------------------------------------------------------------
"$CLAIMBENCH" run --help > "$dir/help" 2>&1
rc=$?
grep -q 'softmax_attention' "$dir/help"
ok $((rc + $?)) "run --help exits 0 and lists the kernels"
# Shapes are named by their parameters, also where a parameter must be a
# power of two (hadamard's K) or is bounded by another (k_max <= n/2 + 1).
"$CLAIMBENCH" run hadamard --help 2>&1 | grep -q -- '--in x=FILE \[M, K\]' &&
    "$CLAIMBENCH" run spectral_conv1d --help 2>&1 | grep -q 'w_re=FILE \[k_max, C_in, C_out\]'
ok $? "run KERNEL --help names shapes by parameters ([M, K]; [k_max, C_in, C_out])"
# ... and where a dimension is a parameter plus one (lsa_layer's context and
# query rows), a multiple of one (hyena_operator's three projections), or a
# parameter with a small range of its own (conv2d's odd K <= 31).
"$CLAIMBENCH" run lsa_layer --help 2>&1 | grep -q -- '--in z=FILE \[N + 1, D\]' &&
    "$CLAIMBENCH" run hyena_operator --help 2>&1 | grep -q 'w_in=FILE \[D, 3D\]' &&
    "$CLAIMBENCH" run conv2d --help 2>&1 | grep -q 'w=FILE \[Cout, Cin, K, K\]' &&
    ! "$CLAIMBENCH" run --help 2>&1 | grep -E '^      --(in|out) ' | grep -Eq '(\[|, )[0-9]+(,|\])'
ok $? "run --help names every dimension by parameters ([N + 1, D]; [D, 3D]; [Cout, Cin, K, K]; no bare numbers)"

# ---- the exact answer, from every backend of softmax_attention --------------
"$CLAIMBENCH" run softmax_attention --backend ref $IN --out "o=$dir/o.npy" 2> "$dir/err"
rc=$?
ok $rc "ref runs (exit $rc)"
[ "$rc" -eq 0 ] || diag "$dir/err"
got=$(tail -c 8 "$dir/o.npy" 2>/dev/null | od -An -tx1 | tr -s ' \n' ' ')
[ "$got" = " 00 00 00 40 00 00 00 40 " ]
ok $? "ref output bytes are float32 2, 2 (got$got)"
cmp -s "$dir/o.npy" "$dir/want.npy"
ok $? "the output file is byte for byte what NumPy writes for [[[2], [2]]]"

"$CLAIMBENCH" run softmax_attention --backend ref --set causal=1 $IN --out "o=$dir/oc.npy" 2> "$dir/err"
rc=$?
cmp -s "$dir/oc.npy" "$dir/want_causal.npy"
ok $((rc + $?)) "--set causal=1 gives [1, 2] exactly"
[ "$rc" -eq 0 ] || diag "$dir/err"

backends=$(sed -n '/^  softmax_attention$/,/backends:/s/^ *backends: *//p' "$dir/help")
for b in $backends; do
    [ "$b" = ref ] && continue
    rm -f "$dir/ob.npy"
    "$CLAIMBENCH" run softmax_attention --backend "$b" $IN --out "o=$dir/ob.npy" 2> "$dir/err"
    rc=$?
    vals=$(tail -c 8 "$dir/ob.npy" 2>/dev/null | od -An -tf4)
    echo "$vals" | awk '{ exit !(NF == 2 && $1 - 2 < 1e-6 && 2 - $1 < 1e-6 && $2 - 2 < 1e-6 && 2 - $2 < 1e-6) }'
    ok $((rc + $?)) "backend $b gives 2, 2 (got $(echo $vals))"
    [ "$rc" -eq 0 ] || diag "$dir/err"
done

before=$(ls "$dir" | wc -l)
"$CLAIMBENCH" run softmax_attention --backend ref $IN 2> "$dir/err"
rc=$?
[ "$rc" -eq 0 ] && [ "$(ls "$dir" | wc -l)" -eq "$before" ]
ok $? "a run without --out succeeds and writes nothing (exit $rc)"

# ---- wrong command lines and files: exit 2, a message naming the problem ----
expect2() {  # expect2 DESCRIPTION GREP-PATTERN ARGS...
    what=$1 pattern=$2
    shift 2
    "$CLAIMBENCH" run "$@" > /dev/null 2> "$dir/err"
    rc=$?
    [ "$rc" -eq 2 ] && grep -q -- "$pattern" "$dir/err"
    ok $? "$what (exit $rc): $(head -n 1 "$dir/err")"
}

expect2 "float64 input is refused, naming the dtype" "dtype '<f8' (float64)" \
    softmax_attention --backend ref --in "q=$dir/q.npy" --in "k=$dir/k.npy" --in "v=$dir/v_f8.npy" --out "o=$dir/x.npy"
expect2 "a missing --in names the input" "missing --in for v" \
    softmax_attention --backend ref --in "q=$dir/q.npy" --in "k=$dir/k.npy" --out "o=$dir/x.npy"
expect2 "an unknown kernel lists the kernels" "unknown kernel 'no_such_kernel'; kernels: .*softmax_attention" \
    no_such_kernel --backend ref $IN
expect2 "a rank mismatch names the input and the expected shape" "input q .* has rank 2, shape \[2, 1\]; softmax_attention needs rank 3" \
    softmax_attention --backend ref --in "q=$dir/q_rank2.npy" --in "k=$dir/k.npy" --in "v=$dir/v.npy"
expect2 "an unknown backend lists the backends" "no backend 'nope'; backends: ref" \
    softmax_attention --backend nope $IN
expect2 "an unknown input name lists the inputs" "no input 'x'" \
    softmax_attention --backend ref $IN --in "x=$dir/q.npy"
expect2 "an input given twice" "input 'q' given twice" \
    softmax_attention --backend ref $IN --in "q=$dir/q.npy"
expect2 "--set of a shape parameter that contradicts the files" "contradicts the input files, which give N=2" \
    softmax_attention --backend ref --set N=3 $IN
expect2 "inputs that disagree with each other" "M=" \
    softmax_attention --backend ref --in "q=$dir/q.npy" --in "k=$dir/k3.npy" --in "v=$dir/v.npy"
expect2 "an unknown parameter" "no parameter 'casual'" \
    softmax_attention --backend ref --set casual=1 $IN
expect2 "a missing file" "cannot open" \
    softmax_attention --backend ref --in "q=$dir/absent.npy" --in "k=$dir/k.npy" --in "v=$dir/v.npy"

rm -f "$dir/x.npy"
expect2 "an unknown output name" "no output 'p'" \
    softmax_attention --backend ref $IN --out "p=$dir/x.npy"
[ ! -e "$dir/x.npy" ]
ok $? "nothing is written when the command line is refused"

echo "1..$n"
[ "$failed" -eq 0 ]

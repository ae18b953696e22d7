#!/bin/sh
# t_piecewise_affine_mult.t — `claimbench run` on .npy files for the two
# kernels of the piecewise_affine_mult task, every backend, with answers
# computed by hand:
#   a = [[1.5, 2], [-1.75, 0]], b = [[1.5, 1], [1.25, 3]]
#   matmul:      c = a b = [[4.75, 7.5], [-2.625, -1.75]]     (exact in float)
#   pam_matmul:  pam(1.5, 1.5) = 2 (carry: 2 (0.5 + 0.5)), pam(2, 1.25) = 2.5,
#                pam(1.5, 1) = 1.5, pam(2, 3) = 6 (a zero mantissa: exact),
#                pam(-1.75, 1.5) = -2 (0.75 + 0.5) = -2.5, pam(0, x) = 0:
#                c = [[4.5, 7.5], [-2.5, -1.75]]
# The .npy files are written byte by byte as in tests/t_run.t.

if [ -z "$CLAIMBENCH" ]; then
    echo "1..0 # SKIP CLAIMBENCH not set"
    exit 0
fi

LC_ALL=C
export LC_ALL
dir=$(mktemp -d "${TMPDIR:-/tmp}/t_pam.XXXXXX") || { echo "1..0 # SKIP no temporary folder"; exit 0; }
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

# npy FILE SHAPE DATA — a float32 .npy file as NumPy (>= 1.24) writes it.
npy() {
    dict="{'descr': '<f4', 'fortran_order': False, 'shape': $2, }"
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

# little-endian float32
F0='\000\000\000\000'
F1='\000\000\200\077'
F1_25='\000\000\240\077'
F1_5='\000\000\300\077'
F2='\000\000\000\100'
F3='\000\000\100\100'
M1_75='\000\000\340\277'

npy "$dir/a.npy" '(2, 2)' "$F1_5$F2$M1_75$F0"
npy "$dir/b.npy" '(2, 2)' "$F1_5$F1$F1_25$F3"
npy "$dir/b3.npy" '(3, 2)' "$F1_5$F1$F1_25$F3$F0$F0"

for kernel in matmul pam_matmul; do
    if [ "$kernel" = matmul ]; then want='4.75 7.5 -2.625 -1.75'; else want='4.5 7.5 -2.5 -1.75'; fi
    "$CLAIMBENCH" run --help > "$dir/help" 2>&1
    backends=$(sed -n "/^  $kernel\$/,/backends:/s/^ *backends: *//p" "$dir/help")
    [ -n "$backends" ]
    ok $? "run --help lists $kernel with backends: $backends"
    for b in $backends; do
        rm -f "$dir/c.npy"
        "$CLAIMBENCH" run "$kernel" --backend "$b" --in "a=$dir/a.npy" --in "b=$dir/b.npy" --out "c=$dir/c.npy" 2> "$dir/err"
        rc=$?
        got=$(tail -c 16 "$dir/c.npy" 2>/dev/null | od -An -tf4 | tr -s ' \n' ' ' | sed 's/^ //; s/ $//')
        echo "$got" | awk -v w="$want" '{ n = split(w, x, " "); if (NF != n) exit 1;
            for (i = 1; i <= n; i++) { d = $i - x[i]; if (d < 0) d = -d; if (d > 1e-6) exit 1 } }'
        ok $((rc + $?)) "$kernel/$b on .npy gives [$want] (got [$got], exit $rc)"
        [ "$rc" -eq 0 ] || diag "$dir/err"
    done
    "$CLAIMBENCH" run "$kernel" --backend ref --in "a=$dir/a.npy" --in "b=$dir/b3.npy" > /dev/null 2> "$dir/err"
    rc=$?
    [ "$rc" -eq 2 ] && grep -q "b has 3 rows but a has K = 2 columns" "$dir/err"
    ok $? "$kernel refuses b with 3 rows for a with 2 columns (exit $rc): $(head -n 1 "$dir/err")"
done

echo "1..$n"
[ "$failed" -eq 0 ]

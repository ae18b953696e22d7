#!/bin/sh
# t_html.t — reports/index.html in a real browser: a quick bench of the tiny
# end-to-end task (twice in the history, so the trend figures are drawn too),
# verify and report, then headless Chromium opens index.html, every page it
# links and every figure those pages show, and takes a screenshot, saved as
# $BUILD_DIR/test-output/index.png (its path is printed as a diagnostic).
# Without Chromium the test is skipped, unless $CI is set: CI must run it.
if [ -z "${CLAIMBENCH:-}" ]; then echo "1..0 # SKIP CLAIMBENCH not set"; exit 0; fi
chromium=${CHROMIUM:-chromium}
if ! command -v "$chromium" >/dev/null 2>&1; then
    if [ -z "${CI+set}" ]; then echo "1..0 # SKIP $chromium not installed (ci/install-deps.sh installs it)"; exit 0; fi
    echo "1..1"
    echo "not ok 1 - $chromium is installed (CI=$CI: the browser test must run in CI)"
    exit 1
fi
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cb_html.XXXXXX") || { echo "Bail out! mktemp"; exit 1; }
trap 'rm -rf "$tmp"' EXIT INT TERM
out=${BUILD_DIR:-${TMPDIR:-/tmp}}/test-output
mkdir -p "$out" || { echo "Bail out! cannot create $out"; exit 1; }
n=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
cb() { "$CLAIMBENCH" --quiet --tasks "$tmp/tasks" --runs "$tmp/runs" \
        --reports "$tmp/reports" --history "$tmp/history.sqlite" "$@"; }
# browse URL ARGS...: headless Chromium, its own profile, no network chatter.
browse() {
    url=$1
    shift
    HOME="$tmp/home" timeout 90 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic \
        --no-first-run --disable-background-networking --disable-component-update --disable-sync \
        --disable-dev-shm-usage --user-data-dir="$tmp/profile" "$@" "$url" 2>>"$tmp/chromium.err"
}
mkdir -p "$tmp/home" "$tmp/tasks"
# The tiny task, its prose given the markup the pages must render right: a
# table inside a fenced block (stays text), alignment, an escaped pipe, a
# link to a sibling .md page, and raw HTML (left out: CMARK_OPT_UNSAFE off).
cp "$here/specs_e2e/e2e_tiny.md" "$tmp/tasks/"
cat >>"$tmp/tasks/e2e_tiny.md" <<'EOF'

## Markup the pages must keep

```
| not | a table |
| --- | --- |
```

| left | right | escaped |
| :--- | ---: | --- |
| `a\|b` | 1.5 | **bold** |
| - | 2. | # |

See the [index](index.md#top) and <script>document.title = "pwned"</script>.
EOF

start=$(date +%s)
# Only the blas cases are timed (agreement and probes run in full): enough
# for every kind of table and figure, in a third of the time.
cb bench --quick --filter /blas/ >"$tmp/bench.out" 2>&1; rc=$?
echo "# bench: $(( $(date +%s) - start )) s"
ok $rc "bench --quick of the tiny task completes (rc $rc)"
# A second run in the history: the same folder under another name.
run=$(basename "$(readlink -f "$tmp/runs/latest")")
cp -r "$tmp/runs/$run" "$tmp/runs/$run-again" && cb history --add "$tmp/runs/$run-again" 2>"$tmp/add.err"
ok $? "a second run of the task is added to the history $(head -c 200 "$tmp/add.err")"
cb verify >/dev/null 2>&1 && cb report >"$tmp/report.out" 2>&1; rc=$?
ok $rc "verify and report exit 0 (rc $rc) $(head -c 200 "$tmp/report.out")"

r=$tmp/reports
[ -s "$r/index.html" ] && [ -s "$r/e2e_tiny.html" ] && tail -n 1 "$r/index.html" | grep -q '^</html>$'
ok $? "report wrote index.html and e2e_tiny.html, complete"
ls "$r"/figures/e2e_tiny-history-*.svg >/dev/null 2>&1
ok $? "with two runs in the history, the trend figures are drawn"

echo "# bench, verify, report: $(( $(date +%s) - start )) s"
browse "file://$r/index.html" --dump-dom >"$tmp/index.dom"; rc=$?
grep -q '<h1>claimbench reports</h1>' "$tmp/index.dom" && grep -q '<a href="e2e_tiny.html">' "$tmp/index.dom" &&
    grep -Eq '<strong>(reproduced|not reproduced|inconclusive)</strong>' "$tmp/index.dom"
ok $(( rc != 0 || $? != 0 )) "Chromium loads index.html: its title, the task's link and its verdicts (rc $rc)"

# Every page index.html links (relative .html links), loaded in Chromium.
perl -ne 'print "$1\n" while /<a href="([^"#:]+\.html)/g' "$tmp/index.dom" | sort -u >"$tmp/pages"
pages_ok=0; npages=0; : >"$tmp/imgs"
while read -r page; do
    npages=$((npages + 1))
    browse "file://$r/$page" --dump-dom >"$tmp/page.dom" || pages_ok=1
    if ! grep -q '<h1>' "$tmp/page.dom" || ! grep -q '<table>' "$tmp/page.dom" ||
        grep -q 'CBTABLE' "$tmp/page.dom"; then
        pages_ok=1
        echo "# $page: no heading, no table, or a table left as text"
    fi
    perl -ne 'print "$1\n" while /<img src="([^"]+)"/g' "$tmp/page.dom" >>"$tmp/imgs"
    cp "$tmp/page.dom" "$tmp/$page.dom"
done <"$tmp/pages"
ok $(( pages_ok != 0 || npages < 1 )) "Chromium loads every linked page ($npages), each with its tables rendered"

# Each Markdown table of the task report is one HTML table, in order (the
# header row's cells), and the markup above came through as it should.
perl -e '
    open my $md, "<", $ARGV[0] or die "$ARGV[0]: $!\n";
    my @l = <$md>; my (@want, @got);
    my $fence = 0;
    for my $i (0 .. $#l - 1) {
        $fence = !$fence if $l[$i] =~ /^```/;
        next if $fence || $l[$i] !~ /\|/ || $l[$i + 1] !~ /^\s*\|?(\s*:?-+:?\s*\|)+\s*(:?-+:?\s*)?$/;
        (my $h = $l[$i]) =~ s/^\s*\|\s*|\s*\|\s*$//g;
        push @want, join "|", split /\s*\|\s*/, $h;
    }
    local $/; open my $d, "<", $ARGV[1] or die; my $dom = <$d>;
    while ($dom =~ m{<thead>(.*?)</thead>}sg) {
        my $t = $1; my @c;
        while ($t =~ m{<th[^>]*>(.*?)</th>}sg) { (my $x = $1) =~ s/<[^>]+>//g;
            $x =~ s/&amp;/&/g; $x =~ s/&lt;/</g; $x =~ s/&gt;/>/g; push @c, $x }
        push @got, join "|", @c;
    }
    die "tables: want " . @want . ", got " . @got . "\n" unless @want == @got;
    for (0 .. $#want) { die "table $_: want [$want[$_]], got [$got[$_]]\n" if $want[$_] ne $got[$_] }
    my @need = (q{<pre><code>| not | a table |}, q{<td class="r">1.5</td>}, q{<td><code>a|b</code></td>},
        q{<td><strong>bold</strong></td>}, q{<td>-</td><td class="r">2.</td><td>#</td>},
        q{<a href="index.html#top">index</a>});
    for my $n (@need) { die "missing: $n\n" if index($dom, $n) < 0 }
    # The tags are left out; the words between them stay, as text.
    die "raw HTML came through\n" if $dom =~ /<script/ || $dom =~ m{<title>[^<]*pwned};
' "$r/e2e_tiny.md" "$tmp/e2e_tiny.html.dom" 2>"$tmp/tables.err"
ok $? "every Markdown table is its own HTML table; fences, alignment, escapes, links, raw HTML right $(tr '\n' ' ' <"$tmp/tables.err")"

sort -u "$tmp/imgs" -o "$tmp/imgs"
nimg=$(wc -l <"$tmp/imgs")
bad=""
while read -r img; do
    case $img in
    /* | *:*) bad="$bad $img(not relative)" ;;
    *) head -c 600 "$r/$img" 2>/dev/null | grep -q '<svg' || bad="$bad $img" ;;
    esac
done <"$tmp/imgs"
ok $(( nimg < 3 || ${#bad} != 0 )) "every figure ($nimg) is a relative link to a non-empty SVG file${bad:+ (bad:$bad)}"

# The browser's own verdict on each figure: a page beside the reports loads
# them all and writes, once loaded, OK or BAD per image into its DOM.
{
    echo '<!DOCTYPE html><html><body><div id="out"></div>'
    while read -r img; do printf '<img src="%s">\n' "$img"; done <"$tmp/imgs"
    # printf %s: sh's echo would turn the script's \n into a line break.
    printf '%s\n' '<script>window.addEventListener("load", function () { var o = "";' \
        '  document.querySelectorAll("img").forEach(function (i) { o += "IMG-" +' \
        '    (i.complete && i.naturalWidth > 0 ? "OK " : "BAD ") + i.getAttribute("src") + "\n"; });' \
        '  document.getElementById("out").textContent = o; });</script></body></html>'
} >"$r/.imgcheck.html"
browse "file://$r/.imgcheck.html" --virtual-time-budget=10000 --dump-dom >"$tmp/img.dom"
rm -f "$r/.imgcheck.html"
nok=$(grep -o 'IMG-OK' "$tmp/img.dom" | wc -l)
ok $(( nok != nimg || nimg == 0 )) "Chromium decodes every figure ($nok of $nimg with a width)"

# Readable without a server: nothing fetched from elsewhere, no script.
grep -Eq '(src|href)="(https?:)?//' "$r"/*.html || grep -q '<script' "$r"/*.html
ok $(( $? == 0 )) "the pages load nothing from the network and need no script"

rm -f "$out/index.png"
browse "file://$r/index.html" --screenshot="$out/index.png" --window-size=1200,900 >/dev/null
head -c 8 "$out/index.png" 2>/dev/null | od -An -c | grep -q 'P   N   G'
ok $? "a screenshot of index.html is saved"
echo "# screenshot: $out/index.png"
echo "# total: $(( $(date +%s) - start )) s"

echo "1..$n"

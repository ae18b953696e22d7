#!/bin/sh
# install-deps.sh — install the Debian packages claimbench needs, only if any
# is missing (so a second run does nothing and needs no network).
set -eu
PKGS="gcc g++ make pkg-config perl libopenblas-dev libdnnl-dev libbenchmark-dev
libyaml-dev libsqlite3-dev libcmark-dev libfftw3-dev gnuplot-nox chromium libtap-formatter-junit-perl"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: not root; run as root or: apt-get install -y --no-install-recommends$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Wait for a dpkg lock held by another apt run instead of failing at once.
apt-get -o DPkg::Lock::Timeout=300 update -qq
# --no-install-recommends: gnuplot's recommends pull ~110 MB of imagemagick,
# ghostscript and fonts that the PNG/SVG terminals do not need.
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $missing

#!/usr/bin/env bash
# deps.sh NEED... — make sure the Debian packages behind each NEED are installed; install them when run as root,
# otherwise print the exact command to run and fail. NEED is one of:
#   cc       gcc, make, libc headers (build-essential's core)
#   check    the Check unit-test framework and pkg-config
#   gnuplot  gnuplot without X (pngcairo, svg, gif and dumb terminals)
#   openblas OpenBLAS with its CBLAS header (make bench-cpu compares the simulator with it)
#   chromium Debian's chromium, run headless by make test-viewer (fonts-dejavu-core: text in its screenshots)
set -euo pipefail

missing=()
for need in "$@"; do
    case "$need" in
    cc) command -v gcc >/dev/null 2>&1 || missing+=(gcc make libc6-dev) ;;
    check)
        command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
        { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists check; } || missing+=(check) ;;
    gnuplot) command -v gnuplot >/dev/null 2>&1 || missing+=(gnuplot-nox) ;;
    openblas)
        command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
        { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists openblas; } || missing+=(libopenblas-dev) ;;
    chromium)
        command -v chromium >/dev/null 2>&1 || missing+=(chromium)
        [ -d /usr/share/fonts/truetype/dejavu ] || missing+=(fonts-dejavu-core) ;;
    *) echo "deps.sh: unknown need '$need'" >&2; exit 2 ;;
    esac
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "flashlab: installing missing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # one install at a time: make -j may start two of these scripts (make test test-viewer), and apt holds one lock
    exec 9> /tmp/flashlab-deps.lock && flock -w 600 9
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    echo "flashlab: installed ${missing[*]}"
    exit 0
fi
echo "flashlab: missing Debian packages: ${missing[*]}" >&2
echo "flashlab: run this, then try again:  sudo apt-get install -y ${missing[*]}" >&2
exit 1

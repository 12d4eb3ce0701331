#!/usr/bin/env bash
# prebuilt_test.sh — prebuilt.sh's decisions, checked without nvcc or a GPU on a made-up tree in a temporary folder:
#   1. binaries built from the same sources that load and run: make's -o flags, one per binary, files kept;
#   2. the sources changed since: no flags, the binaries removed (make builds them as usual);
#   3. a library that does not load: no flags, removed;
#   4. no archive: no flags, exit 0; an unknown command: exit 2.
# Exit status: 0 when all hold, 1 otherwise (each failure one line).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
bad=0
expect() {   # expect WHAT CONDITION...
    local what=$1
    shift
    "$@" || { echo "prebuilt_test: FAIL $what"; bad=$((bad + 1)); }
}
bins="build/rel/libflashlab_hopper.so build/rel/hopper_check build/rel/cuda/tc_check build/rel/cuda/libflashlab_tc.so
build/rel/cuda/tc_peak build/rel/cuda/tc_teach build/rel/cuda/bwd_check build/rel/cuda/libflashlab_tc_bwd.so
build/rel/libflashlab_decode.so build/rel/decode_check"
make_tree() {   # a tree with one source file and stand-ins for the binaries: real shared objects when LOADABLE=1
    rm -rf "$tmp/t" && mkdir -p "$tmp/t/cuda" "$tmp/t/build/rel/cuda" && cd "$tmp/t" || exit 1
    echo 'int x;' > cuda/k.cu
    for b in $bins; do
        case $b in
        *.so) if [ "${LOADABLE:-1}" = 1 ]; then echo 'int f(void) { return 1; }' > "$tmp/f.c" &&
                  cc -shared -fPIC -o "$b" "$tmp/f.c"; else echo junk > "$b"; fi ;;
        *hopper_check) printf '#!/bin/sh\nexit 2\n' > "$b"; chmod +x "$b" ;;
        *) printf '#!/bin/sh\nexit 0\n' > "$b"; chmod +x "$b" ;;
        esac
    done
}
pack() {   # pack ARCHIVE: what `prebuilt.sh pack` writes, without the build (the tree's stand-ins, its source hash)
    PREBUILT_ROOT=$tmp/t bash "$here/prebuilt.sh" hash > build/rel/prebuilt.id &&
        python3 -c "import sys, tarfile; t = tarfile.open(sys.argv[1], 'w:xz'); [t.add(p) for p in sys.argv[2:]]" \
            "$1" $bins build/rel/prebuilt.id
}
unpack() {   # unpack ARCHIVE: the flags on stdout
    PREBUILT_ROOT=$tmp/t bash "$here/prebuilt.sh" unpack "$1" 2> "$tmp/err"
}

make_tree; pack "$tmp/a.tar.xz"; rm -f $bins
flags=$(unpack "$tmp/a.tar.xz")
nbins=$(echo $bins | wc -w)
expect "same sources: one -o per binary ($flags)" [ "$(echo "$flags" | grep -o -- '-o ' | wc -l)" = "$nbins" ]
expect "same sources: the binaries are there" [ -f build/rel/cuda/bwd_check ]

make_tree; pack "$tmp/a.tar.xz"; echo 'int y;' >> cuda/k.cu
flags=$(unpack "$tmp/a.tar.xz")
expect "changed sources: no flags" [ -z "$flags" ]
expect "changed sources: the binaries removed" [ ! -e build/rel/hopper_check ]
expect "changed sources: one line why" grep -q "other sources" "$tmp/err"

LOADABLE=0 make_tree; pack "$tmp/a.tar.xz"
flags=$(unpack "$tmp/a.tar.xz")
expect "a library that does not load: no flags" [ -z "$flags" ]
expect "a library that does not load: removed" [ ! -e build/rel/libflashlab_hopper.so ]

flags=$(unpack "$tmp/none.tar.xz"); rc=$?
expect "no archive: exit 0, no flags" [ "$rc" = 0 -a -z "$flags" ]
bash "$here/prebuilt.sh" bogus 2> /dev/null; rc=$?
expect "an unknown command: exit 2" [ "$rc" = 2 ]

verdict=$([ $bad = 0 ] && echo "all of the checks hold" || echo "$bad of the checks failed")
echo "prebuilt_test: $verdict (carried binaries used only when built from the same sources and loadable)"
[ $bad = 0 ]

#!/usr/bin/env bash
# prebuilt.sh — carry the GPU track's binaries to a GPU machine instead of compiling them there (about 3 minutes of
# device time on 16 cores; the CPU machine has the same nvcc and no GPU). Both sides run from the repository root.
#   here:   bash cuda/tools/prebuilt.sh pack [FILE]      make the binaries below, then FILE (default
#                                                        .dev/prebuilt.tar.xz, git-ignored: carry .dev) with a
#                                                        hash of the sources they were built from
#   there:  flags=$(bash cuda/tools/prebuilt.sh unpack [FILE])
#           make bench-gpu $flags ...                    make -o for each binary: make does not rebuild them
#   prebuilt.sh hash                                    the hash of the sources, as pack writes it
# unpack extracts, checks that the libraries load (ctypes) and that the programs run (hopper_check's usage exit, 2)
# and that the tree is the one they were built from; if any of that fails it removes them, says why on stderr and
# prints no flags, so that make builds them as usual. A run that used them says so in its record (the record's
# command is still the make command, run with -o).
# Exit status: 0 (unpack: also when it fell back to building), 2 for bad use, 3 when FILE cannot be written or read.
set -uo pipefail
cd "${PREBUILT_ROOT:-$(dirname "$0")/../..}" || exit 2   # PREBUILT_ROOT: another tree (prebuilt_test.sh)
BINS="build/rel/libflashlab_hopper.so build/rel/hopper_check build/rel/cuda/tc_check build/rel/cuda/libflashlab_tc.so
build/rel/cuda/tc_peak build/rel/cuda/tc_teach build/rel/cuda/bwd_check build/rel/cuda/libflashlab_tc_bwd.so
build/rel/libflashlab_decode.so build/rel/decode_check"
file=${2:-.dev/prebuilt.tar.xz}
tree_id() {   # a hash of the sources the binaries are built from (not git's: a GPU machine's copy of the tree may
              # carry older git metadata than its files)
    local r roots=()
    for r in Makefile cuda include sim lessons; do [ -e "$r" ] && roots+=("$r"); done
    find "${roots[@]}" -type f \( -name Makefile -o -name '*.mk' -o -name '*.c' -o -name '*.h' \
        -o -name '*.cu' -o -name '*.cuh' -o -name '*.def' \) 2>/dev/null | LC_ALL=C sort | xargs sha1sum | sha1sum |
        cut -c1-16
}
case ${1:-} in
pack)
    # shellcheck disable=SC2086
    make -j"$(nproc)" $BINS >&2 || { echo "prebuilt.sh: the build failed" >&2; exit 2; }
    mkdir -p "$(dirname "$file")" && tree_id > build/rel/prebuilt.id &&
        tar cf - $BINS build/rel/prebuilt.id | xz -T0 -6 > "$file.tmp" && mv "$file.tmp" "$file" ||
        { rm -f "$file.tmp"; echo "prebuilt.sh: cannot write $file" >&2; exit 3; }
    echo "prebuilt.sh: $file ($(du -h "$file" | cut -f1)), sources $(cat build/rel/prebuilt.id)" >&2 ;;
unpack)
    [ -r "$file" ] || { echo "prebuilt.sh: no $file: building as usual" >&2; exit 0; }
    python3 -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall()" "$file" ||
        { echo "prebuilt.sh: cannot read $file" >&2; exit 3; }
    why=""
    [ "$(cat build/rel/prebuilt.id 2>/dev/null)" = "$(tree_id)" ] || why="built from other sources"
    [ -n "$why" ] || python3 -c "import ctypes, sys; [ctypes.CDLL(p) for p in sys.argv[1:]]" \
        build/rel/libflashlab_hopper.so build/rel/cuda/libflashlab_tc.so build/rel/cuda/libflashlab_tc_bwd.so \
        build/rel/libflashlab_decode.so 2>/dev/null || why="a library does not load"
    if [ -z "$why" ]; then
        build/rel/hopper_check --bogus > /dev/null 2>&1
        [ $? = 2 ] || why="hopper_check does not run"
    fi
    if [ -n "$why" ]; then
        # shellcheck disable=SC2086
        rm -f $BINS build/rel/prebuilt.id
        echo "prebuilt.sh: not used, $why: building as usual" >&2
        exit 0
    fi
    # shellcheck disable=SC2086
    touch $BINS
    echo "prebuilt.sh: using the binaries built here from the same sources ($(cat build/rel/prebuilt.id))" >&2
    for b in $BINS; do printf -- '-o %s ' "$b"; done; echo ;;
hash) tree_id ;;
*) echo "usage: prebuilt.sh pack|unpack [FILE] | hash" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# tests/homework/grade.sh — what `make homework`, `make homework-ci` and `make homework-manifest` run
# (lessons/homework/homework.mk passes MAKE, BUILD and HW_LIST).
#
#   grade.sh grade NN:stem ...   grade the student's files lessons/homework/hwNN_stem.c
#   grade.sh ci NN:stem ...      every reference passes, every untouched stub fails every test, and every file of
#                                tests/homework/students/ gets the verdict its header names, within the time limit,
#                                with stdout piped, leaving no process and no changed file behind
#   grade.sh manifest            record the checksums of the grader, the answer key and the stubs
#
# A student file is hwNN_name.c, or hwNN_name.patch where it is a reference solution with one mistake: its header
# comment (the same expect: lines a .c file has), then a unified diff of docs/solutions/hwNN_stem.c. Write one with
#   diff -u --label docs/solutions/hwNN_stem.c --label tests/homework/students/hwNN_name.c \
#       docs/solutions/hwNN_stem.c YOUR_COPY >> tests/homework/students/hwNN_name.patch
# CI applies it here (mutate, below) to build $HW_DIR/src/tests/homework/students/hwNN_name.c, then grades that.
#
# Before anything is built, the grader's own files (tests/homework/, docs/solutions/, homework.h) must match
# tests/homework/MANIFEST.sha256; everything is built from checked copies under $HW_DIR/src. Every file of the tree
# (all but .git and build/) and the grader's build outputs are hashed and saved before the tests run; a file a run
# changed, removed or created is reported, restored (a new one is moved to $HW_DIR/quarantine/), and fails the run.
set -uo pipefail
shopt -s nullglob
cd "$(dirname "$0")/../.."
ROOT=$PWD
MAKE=${MAKE:-make}
BUILD=${BUILD:-build/rel}
HW_DIR=$BUILD/homework
SRC=$HW_DIR/src
SNAP=$HW_DIR/snapshot
MANIFEST=tests/homework/MANIFEST.sha256
STUBS=tests/homework/STUBS.sha256
ALL_NUMS="01 02 03 04 05 06"

say() { printf '%s\n' "$*"; }

stem_of() {   # 01 -> online_softmax, from HW_LIST (01:online_softmax 02:tiling ...)
    local e
    for e in ${HW_LIST:-}; do [[ ${e%%:*} == "$1" ]] && { say "${e#*:}"; return; }; done
}

# The grader's files: what MANIFEST.sha256 lists (and what `manifest` records).
grader_files() {
    ls tests/homework/*.c tests/homework/*.h tests/homework/*.sh tests/homework/students/*.c \
        tests/homework/students/*.patch docs/solutions/*.c lessons/homework/homework.h 2>/dev/null | LC_ALL=C sort
}

students() {   # the names of CI's student files (hwNN_name), .c and .patch
    local f
    for f in tests/homework/students/hw*.c tests/homework/students/hw*.patch; do f=${f##*/}; say "${f%.*}"; done |
        LC_ALL=C sort
}

student_file() {   # student_file NAME: the committed file, .patch or .c
    local f=tests/homework/students/$1
    [[ -f $f.patch ]] && say "$f.patch" || say "$f.c"
}

make_manifest() {
    grader_files | xargs -d '\n' sha256sum > "$MANIFEST"
    ls lessons/homework/hw0*.c | LC_ALL=C sort | xargs -d '\n' sha256sum > "$STUBS"
    say "homework: wrote $MANIFEST ($(wc -l < "$MANIFEST") files) and $STUBS ($(wc -l < "$STUBS") stubs)"
}

# The grader's files as committed? Then copy them to $SRC (only what differs) and check the copies too.
verify_and_copy() {
    local bad
    if [[ ! -f $MANIFEST ]]; then
        say "homework: $MANIFEST is missing: restore it with git checkout -- $MANIFEST"
        return 1
    fi
    bad=$(sha256sum --quiet -c "$MANIFEST" 2>/dev/null | sed 's/: FAILED.*//')
    if [[ -n $bad ]]; then
        say "homework: the grader's own files differ from the committed ones ($MANIFEST):"
        printf '  %s\n' $bad
        say "  restore them (git checkout -- FILE); if you changed them on purpose: make homework-manifest"
        return 1
    fi
    local f
    while read -r _ f; do
        mkdir -p "$SRC/$(dirname "$f")"
        cmp -s "$f" "$SRC/$f" || cp "$f" "$SRC/$f"
    done < "$MANIFEST"
    bad=$(cd "$SRC" && sha256sum --quiet -c "$ROOT/$MANIFEST" 2>/dev/null | sed 's/: FAILED.*//')
    if [[ -n $bad ]]; then
        say "homework: the copies under $SRC do not match $MANIFEST: $bad"
        return 1
    fi
}

# ---- student files stored as a reference with one mistake --------------------------------------------------------
# mutate PATCH OUT (paths under $SRC): PATCH's header comment, then the reference solution that PATCH's '--- ' line
# names with PATCH's hunks applied, into OUT (rewritten only when it changes). No patch(1) needed, and no fuzz: each
# hunk's old lines (context and '-') must stand exactly once in the reference, after the previous hunk, so a
# reference that changed under a patch stops CI with a message instead of quietly building some other mistake.
mutate() {
    local patch=$1 out=$2 name ref="" plus=0 line
    local -a head=() src=() res=() old=() new=()
    name=$(basename "$patch" .patch)
    local n=${name:2:2} pos=0 hunks=0 want=-1
    while IFS= read -r line; do
        if [[ -z $ref ]]; then
            if [[ $line == '--- '* ]]; then
                ref=${line#--- }; ref=${ref%%$'\t'*}
                if [[ $ref != docs/solutions/hw${n}_*.c || ! -f $SRC/$ref ]]; then
                    say "homework: $patch: '--- $ref' names no reference solution of hw$n"; return 1
                fi
                mapfile -t src < "$SRC/$ref"
            else head+=("$line"); fi
            continue
        fi
        if [[ $plus == 0 ]]; then
            [[ $line == '+++ '* ]] || { say "homework: $patch: no '+++ ' line after '--- $ref'"; return 1; }
            plus=1; continue
        fi
        [[ $want == -1 && $line != @@* ]] && { say "homework: $patch: no @@ line after '+++ '"; return 1; }
        case $line in
        @@*)
            mutate_hunk || return 1
            hunks=$((hunks + 1))
            [[ $line =~ ^@@\ -[0-9]+(,([0-9]+))?\  ]] || { say "homework: $patch: a bad @@ line: $line"; return 1; }
            want=${BASH_REMATCH[2]:-1} ;;
        ' '*) old+=("${line:1}"); new+=("${line:1}") ;;
        '') old+=(""); new+=("") ;;   # an empty context line whose leading space an editor trimmed
        -*) old+=("${line:1}") ;;
        +*) new+=("${line:1}") ;;
        *) say "homework: $patch: not a line of a unified diff: $line"; return 1 ;;
        esac
    done < "$patch"
    mutate_hunk || return 1
    [[ $hunks -gt 0 ]] || { say "homework: $patch: no hunk (@@) to apply"; return 1; }
    res+=("${src[@]:pos}")
    { printf '%s\n' "${head[@]}"
      say "/* Made by tests/homework/grade.sh from tests/homework/students/$name.patch: $ref, one mistake. */"
      printf '%s\n' "${res[@]}"; } > "$out.tmp" || return 1
    if cmp -s "$out.tmp" "$out"; then rm -f "$out.tmp"; else mv "$out.tmp" "$out"; fi
}

# One hunk of mutate (its variables, by bash's dynamic scope): find old[] in src[], append to res[] what precedes
# it and new[], move pos past it.
mutate_hunk() {
    [[ $want == -1 ]] && return 0   # before the first @@
    local i j at=-1 found=0 len=${#old[@]}
    if [[ $len != "$want" || $len == 0 ]]; then
        say "homework: $patch: hunk $hunks has $len old lines, its @@ line says $want (a hunk needs context)"
        return 1
    fi
    for ((i = 0; i + len <= ${#src[@]}; i++)); do
        for ((j = 0; j < len; j++)); do [[ ${src[i + j]} == "${old[j]}" ]] || break; done
        [[ $j == "$len" ]] && { found=$((found + 1)); at=$i; }
    done
    if [[ $found != 1 || $at -lt $pos ]]; then
        say "homework: $patch: hunk $hunks does not apply: its old lines stand $found time(s) in $ref (once, after" \
            "the previous hunk, is needed): did the reference change? write the patch again (see the top of grade.sh)"
        return 1
    fi
    res+=("${src[@]:pos:at - pos}" "${new[@]}")
    pos=$((at + len)); old=(); new=()
}

# Every .patch of tests/homework/students/ into its .c under $SRC.
make_mutants() {
    local p
    for p in "$SRC"/tests/homework/students/*.patch; do mutate "$p" "${p%.patch}.c" || return 1; done
}

# The student's file (or, for CI, the committed stub) into $SRC.
copy_student() {   # copy_student SOURCE_PATH NN STEM
    local dst=$SRC/lessons/homework/hw$2_$3.c
    mkdir -p "$(dirname "$dst")"
    cmp -s "$1" "$dst" 2>/dev/null || cp "$1" "$dst"
}

is_stub() {   # is lessons/homework/hwNN_stem.c the committed stub?
    local f=lessons/homework/hw$1_$2.c
    [[ -f $f ]] && grep -q "^$(sha256sum < "$f" | cut -d' ' -f1)  $f\$" "$STUBS"
}

# ---- the tree: hashed and saved before a run, compared (and restored) after ------------------------------------
tree_files() {
    { find . \( -path ./.git -o -path ./build \) -prune -o \( -type f -o -type l \) -print
      find "$HW_DIR" \( -path "$HW_DIR/run" -o -path "$SNAP" -o -path "$HW_DIR/quarantine" -o -path "$HW_DIR/ci" \
           -o -name '*.log' \) -prune -o -type f -print
      [[ -f $BUILD/libflashlab.a ]] && say "$BUILD/libflashlab.a"; } | LC_ALL=C sort
}

snapshot() {
    rm -rf "$SNAP" && mkdir -p "$SNAP"
    tree_files > "$SNAP/files"
    xargs -d '\n' sha256sum < "$SNAP/files" > "$SNAP/sums" 2>/dev/null
    tar -cf "$SNAP/tree.tar" -T "$SNAP/files"
}

# Print the files a run changed, removed or created, and put the tree back. Status 0: nothing changed.
check_tree() {
    local changed created f
    changed=$(sha256sum --quiet -c "$SNAP/sums" 2>/dev/null | sed 's/: FAILED.*//')
    created=$(tree_files | LC_ALL=C comm -13 "$SNAP/files" -)
    [[ -z $changed && -z $created ]] && return 0
    say "  changed or removed by the run: $(echo ${changed:-none})"
    say "  created by the run: $(echo ${created:-none})"
    # Nothing is lost: what the run left (changed or new files) goes to quarantine before the tree is put back.
    local q=$HW_DIR/quarantine/$(date +%Y%m%d-%H%M%S)-$$
    for f in $changed $created; do
        [[ -e $f || -L $f ]] && mkdir -p "$q/$(dirname "$f")" && cp -P "$f" "$q/$f"
    done
    [[ -n $changed ]] && printf '%s\n' $changed | tar -xf "$SNAP/tree.tar" -T -
    for f in $created; do rm -f "$f"; done
    [[ -d $q ]] && say "  (the versions the run left are kept in $q)"
    changed=$(sha256sum --quiet -c "$SNAP/sums" 2>/dev/null | sed 's/: FAILED.*//')
    [[ -z $changed ]] && say "  every file is restored" || say "  could NOT restore: $changed"
    return 1
}

build() {   # build TARGET... (quietly; the log is printed when it fails)
    local log=$HW_DIR/build.log
    mkdir -p "$HW_DIR"
    if ! $MAKE -s "$@" > "$log" 2>&1; then
        cat "$log"
        return 1
    fi
}

# ---- make homework ------------------------------------------------------------------------------------------------
grade() {
    say "homework: checking the grader's files and building (a minute the first time)"
    verify_and_copy || exit 1
    build lib || exit 1
    local e n stem pass=() fail=() line
    for e in "$@"; do
        n=${e%%:*}; stem=${e#*:}
        build "$HW_DIR/grade_hw$n" || { say "homework: internal: the grader for hw$n does not build"; exit 1; }
    done
    # Build every selected exercise first: the snapshot of the tree is taken when nothing is left to build.
    local ready=()
    for e in "$@"; do
        n=${e%%:*}; stem=${e#*:}
        local file=lessons/homework/hw${n}_$stem.c
        copy_student "$file" "$n" "$stem"
        if ! build "$HW_DIR/check/lessons/homework/hw${n}_$stem.o" "$HW_DIR/hw$n"; then
            if grep -q 'Werror=vla\|Werror=alloca\|Werror=frame-larger-than' "$HW_DIR/build.log"; then
                say "hw$n: NOT PASSING — refused: $file keeps data on the stack outside SRAM's accounting (a" \
                    "variable-length array, alloca, or local arrays above 1 KiB): keep tiles in sram_alloc buffers"
            else
                say "hw$n: NOT PASSING — $file does not compile: fix the first error above"
            fi
            say
            fail+=("$n")
        else
            ready+=("$e")
        fi
    done
    mkdir -p "$HW_DIR/run"
    snapshot
    for e in "${ready[@]}"; do
        n=${e%%:*}; stem=${e#*:}
        local flags=()
        [[ ${HW_SYMBOL_CHECK:-1} == 0 ]] && flags=(--no-symbol-check)
        "$HW_DIR/grade_hw$n" --binary "$HW_DIR/hw$n" --object "$HW_DIR/check/lessons/homework/hw${n}_$stem.o" \
            --dir "$HW_DIR/run" "${flags[@]}"
        local rc=$?
        if ! check_tree; then
            say "hw$n: NOT PASSING — your code changed files of the tree while the tests ran (listed above;" \
                "restored): a solution computes, it does not touch files"
            rc=1
            snapshot
        fi
        [[ $rc == 0 ]] && pass+=("$n") || fail+=("$n")
        say
    done

    # The last line: exactly which exercises pass, which do not, which are untouched stubs.
    local passing="" failing="" stubs="" other=""
    for n in $ALL_NUMS; do
        stem=$(stem_of "$n")
        if [[ " ${pass[*]:-} " == *" $n "* ]]; then passing+=" hw$n"
        elif is_stub "$n" "$stem"; then stubs+=" hw$n"
        elif [[ " ${fail[*]:-} " == *" $n "* ]]; then failing+=" hw$n"
        else other+=" hw$n"; fi
    done
    if [[ -z $failing && -z $stubs && -z $other ]]; then
        say "homework: every exercise passes (hw01-hw06)"
    else
        line="homework:"
        [[ -n $passing ]] && line+=" passing:$passing ·"
        [[ -n $failing ]] && line+=" not passing:$failing ·"
        [[ -n $stubs ]] && line+=" untouched stubs:$stubs ·"
        [[ -n $other ]] && line+=" not graded in this run (make homework HW=NN):$other ·"
        say "${line% ·}"
    fi
    [[ ${#fail[@]} == 0 ]]
}

# ---- make homework-ci ---------------------------------------------------------------------------------------------
CI_FAILED=0
ci_fail() { say "homework-ci: FAILED: $*"; CI_FAILED=1; }

# Run CMD... with a marker in its environment, stdout piped through cat, under a wall-clock limit. Sets OUT, RC, SECS,
# LEFT (processes still carrying the marker afterwards).
ci_run() {
    local marker=flashlab-hw-$$-$RANDOM$RANDOM t0 t1
    t0=$(date +%s%N)
    OUT=$(env FLASHLAB_HW_MARKER=$marker timeout -k 5 120 "$@" 2>&1 | cat; exit "${PIPESTATUS[0]}")
    RC=$?
    t1=$(date +%s%N)
    SECS=$(( (t1 - t0) / 1000000000 ))
    LEFT=$(grep -l "FLASHLAB_HW_MARKER=$marker" /proc/[0-9]*/environ 2>/dev/null | wc -l)
}

ci() {
    say "homework-ci: checking the grader's files and building"
    verify_and_copy || exit 1
    make_mutants || exit 1
    local e n stem
    for e in "$@"; do   # the committed stubs, never someone's work in progress
        n=${e%%:*}; stem=${e#*:}
        local f=lessons/homework/hw${n}_$stem.c tmp=$HW_DIR/stub.c
        if is_stub "$n" "$stem"; then cp "$f" "$tmp"
        elif git show "HEAD:$f" > "$tmp" 2>/dev/null && grep -q "^$(sha256sum < "$tmp" | cut -d' ' -f1)  $f\$" "$STUBS"
        then :
        else ci_fail "no committed stub for $f matches $STUBS"; exit 1; fi
        copy_student "$tmp" "$n" "$stem"
    done
    local targets=(lib) s
    for e in "$@"; do
        n=${e%%:*}; stem=${e#*:}
        targets+=("$HW_DIR/grade_hw$n" "$HW_DIR/ref/hw$n" "$HW_DIR/hw$n" "$HW_DIR/check/docs/solutions/hw${n}_$stem.o"
                  "$HW_DIR/check/lessons/homework/hw${n}_$stem.o")
    done
    for s in $(students); do
        targets+=("$HW_DIR/students/$s" "$HW_DIR/check/tests/homework/students/$s.o")
    done
    build "${targets[@]}" || exit 1
    mkdir -p "$HW_DIR/run"
    snapshot

    for e in "$@"; do
        n=${e%%:*}; stem=${e#*:}
        ci_run "$HW_DIR/grade_hw$n" --binary "$HW_DIR/ref/hw$n" --object "$HW_DIR/check/docs/solutions/hw${n}_$stem.o" \
            --dir "$HW_DIR/run"
        if [[ $RC != 0 || $OUT != *"tests pass — done!"* ]]; then
            say "$OUT"; ci_fail "the reference solution of hw$n does not pass"
        else
            say "reference hw$n: $(tail -n 1 <<< "$OUT") (${SECS} s)"
        fi
        ci_run "$HW_DIR/grade_hw$n" --binary "$HW_DIR/hw$n" --object "$HW_DIR/check/lessons/homework/hw${n}_$stem.o" \
            --dir "$HW_DIR/run" --expect-fail
        if [[ $RC != 0 ]]; then say "$OUT"; ci_fail "a test of hw$n passes against the untouched stub"
        else say "stub      hw$n: $(tail -n 1 <<< "$OUT")"; fi
    done

    # Each student file's header: "expect: TEXT" (the exercise's verdict line with the symbol check; 'pass' for an
    # honest solution), "expect-output: TEXT" (somewhere in the output too), "expect-runtime: TEXT" (the verdict with
    # the check off: what the run-time defences say alone; '-' for none), "tamper: yes" (that run happens in a copy
    # of the tree).
    local count=0 name
    for name in $(students); do
        local s expect expout runtime tamper
        s=$(student_file "$name"); n=${name:2:2}; stem=$(stem_of "$n")
        expect=$(sed -n 's/^ \* expect: //p' "$s" | head -n 1)
        expout=$(sed -n 's/^ \* expect-output: //p' "$s" | head -n 1)
        runtime=$(sed -n 's/^ \* expect-runtime: //p' "$s" | head -n 1)
        tamper=$(sed -n 's/^ \* tamper: //p' "$s" | head -n 1)
        [[ -z $expect ]] && { ci_fail "$s has no ' * expect:' line"; continue; }
        ci_check "$name" "$expect" "$expout" "with the symbol check" "$HW_DIR/grade_hw$n" --binary \
            "$HW_DIR/students/$name" --object "$HW_DIR/check/tests/homework/students/$name.o" --dir "$HW_DIR/run"
        count=$((count + 1))
        [[ -z $runtime || $runtime == - ]] && continue
        if [[ $tamper == yes ]]; then
            ci_tamper "$name" "$n" "$stem" "$runtime"
        else
            ci_check "$name" "$runtime" "" "run-time defences alone" "$HW_DIR/grade_hw$n" --binary \
                "$HW_DIR/students/$name" --dir "$HW_DIR/run" --no-symbol-check
        fi
    done

    check_tree || ci_fail "the tree changed during homework-ci (restored)"
    if [[ $CI_FAILED == 0 ]]; then
        say "homework-ci: every reference passes, every stub fails every test, all $count student files of" \
            "tests/homework/students/ get their verdicts; no process left behind, no file of the tree changed"
    fi
    return $CI_FAILED
}

# One student file, one mode: the verdict (last line) must contain EXPECT ('pass': the exercise passes).
ci_check() {   # ci_check NAME EXPECT EXPECT_OUTPUT MODE CMD...
    local name=$1 expect=$2 expout=$3 mode=$4
    shift 4
    ci_run "$@"
    local last
    last=$(grep -E '^hw[0-9]{2}: ' <<< "$OUT" | tail -n 1)
    if [[ $LEFT != 0 ]]; then
        say "$OUT"; ci_fail "$name ($mode): $LEFT process(es) left running"
    elif [[ $expect == pass ]]; then
        if [[ $RC == 0 && $last == *"tests pass — done!"* ]]; then say "student   $name ($mode): passes, as it should"
        else say "$OUT"; ci_fail "$name ($mode): an honest solution does not pass"; fi
    elif [[ $RC != 1 || $last != *"NOT PASSING"* || $last != *"$expect"* ]]; then
        say "$OUT"; ci_fail "$name ($mode): expected a NOT PASSING verdict naming '$expect' (exit 1), got exit $RC"
    elif [[ -n $expout && $OUT != *"$expout"* ]]; then
        say "$OUT"; ci_fail "$name ($mode): the output does not say '$expout'"
    else
        say "student   $name ($mode, ${SECS} s): ${last:0:150}$([[ ${#last} -gt 150 ]] && printf ...)"
    fi
}

# A student file that changes the tree runs only in a copy of it, graded by `make homework` there.
ci_tamper() {   # ci_tamper NAME NN STEM EXPECT
    local name=$1 n=$2 stem=$3 expect=$4 copy=$HW_DIR/ci/tree
    if [[ -z ${CI_COPIED:-} ]]; then   # a fresh copy of the tree once per run; its build/ is kept, as a cache
        mkdir -p "$copy"
        find "$copy" -mindepth 1 -maxdepth 1 ! -name build -exec rm -rf {} +
        find . \( -path ./.git -o -path ./build \) -prune -o \( -type f -o -type l \) -print | tar -cf - -T - |
            tar -xf - -C "$copy"
        CI_COPIED=1
    fi
    cp "$SRC/tests/homework/students/$name.c" "$copy/lessons/homework/hw${n}_$stem.c"
    (cd "$copy" && find . -path ./build -prune -o -type f -print | LC_ALL=C sort | xargs -d '\n' sha256sum) \
        > "$HW_DIR/ci/before"
    ci_run env -C "$copy" HW_SYMBOL_CHECK=0 SAN="$([[ $BUILD == */san ]] && echo 1 || echo 0)" $MAKE -s homework \
        HW="$n"
    local last after
    last=$(grep -E '^hw[0-9]{2}: ' <<< "$OUT" | tail -n 1)
    after=$(cd "$copy" && sha256sum --quiet -c "$ROOT/$HW_DIR/ci/before" 2>&1)
    if [[ $LEFT != 0 ]]; then
        say "$OUT"; ci_fail "$name (in a copy of the tree): $LEFT process(es) left running"
    elif [[ $RC == 0 || $last != *"NOT PASSING"* || $last != *"$expect"* ]]; then
        say "$OUT"; ci_fail "$name (in a copy of the tree): expected a NOT PASSING verdict naming '$expect'"
    elif [[ -n $after ]]; then
        say "$OUT"; ci_fail "$name (in a copy of the tree): files stayed changed: $after"
    else
        say "student   $name (run-time defences alone, in a copy of the tree, ${SECS} s): ${last:0:150}..."
    fi
    cp "lessons/homework/hw${n}_$stem.c" "$copy/lessons/homework/hw${n}_$stem.c"
}

case ${1:-} in
grade) shift; grade "$@" ;;
ci) shift; ci "$@" ;;
manifest) make_manifest ;;
*) say "usage: $0 grade|ci NN:stem ... | manifest" >&2; exit 2 ;;
esac

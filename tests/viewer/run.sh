#!/usr/bin/env bash
# tests/viewer/run.sh OUTDIR — make test-viewer: every CPU lesson's HTML replay (--trace html) opened in headless
# chromium. For each page: the lesson exits 0; chromium loads it with #autotest, which makes the page replay every
# event to the end and fill <pre id="final"> with the ledger of each run it replayed (checked by the page itself
# against the simulator's, any mismatch a console error) and <pre id="errors"> with every console error and uncaught
# exception; chromium's own console log must be empty; every replayed run's totals must equal a group of the
# lesson's summary line (hbm_read_elems=... or a prefixed one, std_hbm_read_elems=...), and the unprefixed group must
# be one of them. Synthetic traces check, per grid kind, the thread block named under the grid. A screenshot of each
# page goes to OUTDIR (ignored by git). Exit 0 when every page passes.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${1:-build/viewer}
mkdir -p "$out"
out=$(cd "$out" && pwd)   # absolute: chromium opens file:// URLs
chrome=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$chrome" ]; then
    echo "test-viewer: no chromium: run  sudo apt-get install -y chromium  (or: bash .ci/deps.sh chromium as root)" >&2
    exit 1
fi
# headless chromium: no GPU, no sandbox (containers run it as root), no first-run work, a fixed window
CHROME_FLAGS=(--headless --disable-gpu --no-sandbox --no-first-run --disable-extensions --hide-scrollbars
              --enable-logging=stderr --v=0)
pass=0
fail=0

say_fail() {
    echo "  FAIL $1: $2"
    fail=$((fail + 1))
}

# element ID FILE: the text of <pre id="ID"> in a dumped DOM (its text has no '<': the DOM escapes it)
element() {
    tr '\n' '\r' < "$2" | grep -o "<pre id=\"$1\">[^<]*</pre>" | head -n 1 | tr '\r' '\n' |
        sed -e "s/<pre id=\"$1\">//" -e 's/<\/pre>$//'
}

# check NAME AT COMMAND...: run COMMAND --trace html into OUTDIR/NAME.html and test that page; its screenshot
# (OUTDIR/NAME.png) shows event AT ("&at=40%", or "" for the end)
check() {
    local name=$1 shot=$2
    shift 2
    local html="$out/$name.html" t0=$SECONDS
    rm -f "$html"
    if ! "$@" --trace html --trace-file "$html" --quiet > "$out/$name.out" 2> "$out/$name.stderr"; then
        say_fail "$name" "'$*' exited $?: $(head -c 300 "$out/$name.stderr")"
        return
    fi
    local summary
    summary=$(grep '^summary: ' "$out/$name.out" | tail -n 1)
    if [ -z "$summary" ]; then
        say_fail "$name" "no summary line"
        return
    fi
    timeout 120 "$chrome" "${CHROME_FLAGS[@]}" --window-size=1400,1150 --screenshot="$out/$name.png" \
        --dump-dom "file://$html#autotest$shot" > "$out/$name.dom" 2> "$out/$name.console"
    local rc=$?
    if [ $rc -ne 0 ]; then
        say_fail "$name" "chromium exited $rc (timeout: 124)"
        return
    fi
    # the page's verdict, its errors, and every console message chromium logged (the page logs none unless wrong)
    local state errors console final
    state=$(grep -o 'data-autotest="[a-z]*"' "$out/$name.dom" | head -n 1)
    errors=$(element errors "$out/$name.dom")
    console=$(grep -E 'CONSOLE|Uncaught' "$out/$name.console" || true)
    final=$(element final "$out/$name.dom")
    if [ "$state" != 'data-autotest="done"' ] || [ -n "$errors" ] || [ -n "$console" ]; then
        say_fail "$name" "the page reported ${state:-no verdict}; errors: ${errors:-none}; console: ${console:-none}"
        return
    fi
    # every replayed run equals a group of the summary; the unprefixed group is matched
    local verdict
    verdict=$(printf '%s\n' "$final" | awk -v summary="$summary" '
        BEGIN {
            n = split(summary, kv, " ")
            for (k = 2; k <= n; k++) { e = index(kv[k], "="); S[substr(kv[k], 1, e - 1)] = substr(kv[k], e + 1) }
            # the groups: "" and every prefix P of a key P_hbm_read_elems
            for (key in S)
                if (key ~ /hbm_read_elems$/) { p = substr(key, 1, length(key) - length("hbm_read_elems")); G[p] = 1 }
            runs = 0; bad = ""; main_ok = 0
        }
        /^run=/ {
            runs++
            delete R
            for (k = 1; k <= NF; k++) { e = index($k, "="); R[substr($k, 1, e - 1)] = substr($k, e + 1) }
            matched = ""
            for (p in G) {
                same = 1; compared = 0
                for (key in R) {
                    if (key == "run" || key == "label") continue
                    if (p != "" && key !~ /^(hbm_|flops|exps|sram_peak)/) continue
                    if ((p key) in S) { compared++; if (S[p key] != R[key]) same = 0 }
                }
                if (same && compared >= 2 && ("hbm_write_elems" in R) && ((p "hbm_write_elems") in S)) {
                    matched = matched " [" p "]"; if (p == "") main_ok = 1
                }
            }
            if (matched == "") bad = bad " run " R["run"] " (" R["label"] ") matches no group of the summary:" \
                " hbm_read_elems=" R["hbm_read_elems"] " hbm_write_elems=" R["hbm_write_elems"] ";"
            else printf "run %s matches%s; ", R["run"], matched
        }
        END {
            if (!runs) bad = bad " no run was replayed;"
            if (runs && !main_ok) bad = bad " no run equals the summary'"'"'s own hbm_* keys;"
            if (bad != "") { print "BAD" bad; exit 1 }
            print "ok"
        }')
    if [ $? -ne 0 ]; then
        say_fail "$name" "$verdict"
        return
    fi
    local size
    size=$(wc -c < "$html")
    echo "  ok   $name ($((size / 1024)) KiB, $((SECONDS - t0)) s): ${verdict% ok}"
    pass=$((pass + 1))
}

echo "test-viewer: lessons' HTML replays in $chrome (pages and screenshots in ${1:-build/viewer}/)"
check lesson01 '\&at=45%' ./lesson01
check lesson02 '\&at=40%' ./lesson02
check lesson03 '\&at=30%' ./lesson03
check lesson04 '\&at=60%' ./lesson04
check lesson04_causal '\&at=60%' ./lesson04 --causal -N 40 -M 1K
# lesson05 at its default N = 65536: 192512 tiles, sampled (the page says so; key frames keep the totals exact)
check lesson05 '\&at=50%' ./lesson05 --out-dir "$out/lesson05_data"
check lesson06 '\&at=30%' ./lesson06
check lesson06_causal '\&at=50%' ./lesson06 --causal
check lesson07 '\&at=40%' ./lesson07
check lesson07_causal '\&at=50%' ./lesson07 --causal -N 300 -d 16 -M 8K
if [ -x ./lesson08 ]; then   # the simulator's schedule of lesson08's CUDA kernels (no GPU needed: the prediction)
    check lesson08 '\&at=50%' ./lesson08 -N 512 --heads 2
else
    echo "  --   lesson08 not built (no nvcc): its kernels' schedule is not checked here"
fi
# block NAME AT WANT RECORDS: a synthetic trace (RECORDS, JSON records) in sim/course/viewer.html where the data mark
# stands, opened at event AT: the line under the grid must name thread block WANT ("blockIdx.x = ... = WANT of")
block() {
    local name=$1 at=$2 want=$3 recs=$4 html="$out/$1.html" got
    awk -v recs="$recs" '/^<!--FLASHLAB-DATA-->$/ {
            print "<script id=\"flashlab-data\" type=\"application/json\">[" recs "]</script>"; next } { print }' \
        sim/course/viewer.html > "$html"
    timeout 60 "$chrome" "${CHROME_FLAGS[@]}" --dump-dom "file://$html#autotest&at=$at" > "$out/$name.dom" \
        2> "$out/$name.console"
    got=$(grep -o '<div id="block" class="sub">[^<]*</div>' "$out/$name.dom" | sed -e 's/<[^>]*>//g')
    if ! grep -q 'data-autotest="done"' "$out/$name.dom"; then
        say_fail "$name" "the page reported no verdict or failed"
    elif [[ "$got" != *" = $want of "* ]]; then
        say_fail "$name" "want block $want, the page says: ${got:-nothing}"
    else
        echo "  ok   $name: ${got%% (kernel*}"
        pass=$((pass + 1))
    fi
}
# B=2, H=2, N=40, Br=16, Bc=20: Tr=3, Tc=2. Head (b, h) = (1, 0), tile (i, j) = (2, 1), seen at event 3 (after the
# load).
# kblock (standard backward's dV): (b*H + h)*Tc + j = 5; qblock: (b*H + h)*Tr + i = 8; row: rows 32..39 of head 2.
synth() {   # synth PHASE GRID BLOCKS
    printf '%s' '["meta","cuda_kernel","kernel=k phase='"$1"' grid='"$2"' blocks='"$3"' threads=128 smem=4096 H=2 '\
'Tr=3 Tc=2 N=40 Br=16"],["run",0,["Q","K"],0,4096,1],["P","'"$1"'"],["T",2,1,"tile"],'\
'["L",1,"Kj",1,0,20,20,0,8,160,640],["T",0,0,"tile"]'
}
block synthetic_kblock 3 5 "$(synth dV kblock 8)"
block synthetic_qblock 3 8 "$(synth dQ qblock 12)"
block synthetic_row 3 '112…119' "$(synth softmax row 160)"
echo "test-viewer: $pass passed, $fail failed"
[ $fail -eq 0 ]

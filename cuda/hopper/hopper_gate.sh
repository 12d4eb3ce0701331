#!/usr/bin/env bash
# hopper_gate.sh — which Hopper versions make bench-gpu may time: hopper_check --quick (O and L vs fp64 on small
# shapes, counters vs the simulator's ledger) first. The versions already run on a GPU are checked in one process;
# each version that never ran or ran least (GATE_NEW, default the v19 to v22 families) in its own, so that a fault or
# a hang spoils only its own. A version passes when its process exits 0 or 1 and none of its lines says FAIL.
#   bash cuda/hopper/hopper_gate.sh HOPPER_CHECK LOG     prints the passing names, comma-separated ("none": none)
set -uo pipefail
check=${1:?HOPPER_CHECK}; log=${2:?LOG}
here=$(cd "$(dirname "$0")" && pwd)
all=$(sed -n 's/^HP_VERSION(\([a-z0-9_]*\),.*/\1/p' "$here/hopper.def")
new=${GATE_NEW:-$(echo "$all" | grep -E '^v(19|20|21|22)' | tr '\n' ' ')}
old=$(for v in $all; do case " $new " in *" $v "*) ;; *) echo "$v" ;; esac; done | paste -sd, -)
pass=""
gate() {   # gate LIMIT_S comma-list: run the check, keep the versions of the list with no FAIL line
    local limit=$1 list=$2 tmp rc
    tmp=$(mktemp)
    timeout "$limit" "$check" --quick --versions "$list" > "$tmp" 2>&1
    rc=$?
    cat "$tmp" >> "$log"
    echo "hopper_gate: $list: exit $rc, $(grep -c ' OK' "$tmp") OK, $(grep -c FAIL "$tmp") FAIL" | tee -a "$log" >&2
    if [ "$rc" -le 1 ]; then
        for v in ${list//,/ }; do grep -q "^$v .*FAIL" "$tmp" || pass="$pass,$v"; done
    fi
    rm -f "$tmp"
}
[ -z "$old" ] || gate "${GATE_LIMIT_OLD:-150}" "$old"
for v in $new; do gate "${GATE_LIMIT_NEW:-60}" "$v"; done
pass=${pass#,}
echo "${pass:-none}"

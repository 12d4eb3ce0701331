#!/usr/bin/env bash
# draw.sh DATA SCRIPT PNG — draw a figure from a GPU run's table with gnuplot, or say how to draw it later. Always
# exits 0: the table is the result, the figure a convenience.
#   bash cuda/tools/draw.sh plots/data/ncu_<device>_<date>.dat plots/ncu_bytes.gp plots/out/ncu_bytes.png
set -euo pipefail
data=${1:?usage: draw.sh DATA SCRIPT PNG} script=${2:?usage: draw.sh DATA SCRIPT PNG} png=${3:?usage: draw.sh DATA SCRIPT PNG}
if command -v gnuplot >/dev/null; then
    mkdir -p "$(dirname "$png")"
    if gnuplot -e "data='$data'; out='$png'" "$script"; then echo "wrote $png"; else echo "(gnuplot could not draw $png)"; fi
else
    echo "(no gnuplot here: draw later with  gnuplot -e \"data='$data'\" $script)"
fi

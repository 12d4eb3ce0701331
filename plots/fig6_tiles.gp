# Figure 6: lesson03's tile schedule as an animated GIF, one frame per tile. Data: lesson03_tiles.dat (tile_frames).
# Called with -e "out='FILE.gif'; data='DIR'"; fmt='png' or 'svg' draws one frame (frame=K, default 0).
if (!exists("data")) data = 'plots/data'
if (!exists("fmt")) fmt = 'gif'
f = data.'/lesson03_tiles.dat'
stats f using 1 nooutput
nf = int(STATS_blocks / 2)
stats f using 3 nooutput
xmax = STATS_max
stats f using 4 nooutput
ymin = STATS_min

if (fmt eq 'gif') set terminal gif animate delay 90 loop 0 size 1100,520 font ',12'
if (fmt eq 'png') set terminal pngcairo size 1100,520 font ',12'
if (fmt eq 'svg') set terminal svg size 1100,520 font 'sans,12' background '#ffffff'
if (exists("out")) set output out
unset border; unset tics; unset key
set size ratio -1
set xrange [-0.5:xmax + 0.5]
set yrange [ymin - 4.5:2]
set title "lesson03's tile schedule: which rows of Q, K, V, O are in SRAM (coloured) and which score tiles S_{ij} are done (grey) or current (red)"
first = (fmt eq 'gif') ? 0 : (exists("frame") ? frame : 0)
last = (fmt eq 'gif') ? nf - 1 : first
do for [k = first:last] {
    plot f index 2*k using (($1+$3)/2):(($2+$4)/2):(($3-$1)/2):(($2-$4)/2):5 with boxxyerror fs solid 1.0 border lc rgb '#666666' lc rgb variable, \
         f index 2*k+1 using 1:2:3 with labels left font ',12'
}

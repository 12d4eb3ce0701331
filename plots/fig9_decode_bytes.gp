# Figure 9: HBM bytes per decoded token vs cache length, MHA / GQA / MQA (lesson11). Data: decode_bytes.dat
# (build/rel/plots/decode_bytes: count-only runs of sim/model/decode.c, each held to decode.h's closed form).
load 'plots/common.gp'
f = data.'/decode_bytes.dat'

stats f index 0 using 1 nooutput
Nmax = STATS_max
bw = 3.35e12   # H100 SXM HBM3, bytes/s (NVIDIA data sheet): the right axis is bytes / bandwidth

set logscale x 2
set logscale y 10
set xrange [180:Nmax*1.4]
set xtics (256, 1024, 4096, 16384, 65536, 131072)
set format x '%.0f'
if (!dumb) set format y '10^{%L}'
if (dumb) set format y '%.0e'
set xlabel 'cache length N (tokens)'
set ylabel 'HBM bytes per decoded token (read + written, log scale)'
if (!dumb) set y2label 'time at 3.35 TB/s (H100 SXM), microseconds'
stats f index 0 using 6 nooutput
ymax = STATS_max * 4
stats f index 2 using 6 nooutput
ymin = STATS_min / 2
set yrange [ymin:ymax]
if (!dumb) set logscale y2 10; set y2range [ymin/bw*1e6:ymax/bw*1e6]; set y2tics; set format y2 '%g'; set ytics nomirror
set title "Decoding one token against a KV cache: bytes moved, counted by the simulator (lesson11)\n" . \
          "32 query heads, d = 128, fp16, one sequence; S splits by the rule for 132 SMs; K and V read once per KV head"
set key top left Left reverse font ',11' width -4

plot f index 0 using 1:6 with linespoints pt 7 ps 1.1 lc rgb c_std title 'MHA: 32 KV heads (G = 1)', \
     f index 1 using 1:6 with linespoints pt 5 ps 1.1 lc rgb c_f1 title 'GQA: 8 KV heads (G = 4): a quarter of the bytes', \
     f index 2 using 1:6 with linespoints pt 9 ps 1.3 lc rgb c_f2 title 'MQA: 1 KV head (G = 32)', \
     f index 1 using 1:8 with lines lw 2 dt 2 lc rgb c_f1 title 'GQA with each query head reading its KV head alone (= MHA)', \
     f index 2 using 1:7 with lines lw 1.5 dt 3 lc rgb c_ref title 'MQA: K and V alone, 2·Hkv·N·d·2 bytes (the rest: q, partials, o)'

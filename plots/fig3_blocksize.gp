# Figure 3: the block-size sweep of the FlashAttention paper's Figure 2 (middle). Data: lesson05_blocksize.dat.
load 'plots/common.gp'
f = data.'/lesson05_blocksize.dat'

stats f index 0 every ::0::0 using 1 nooutput
N = STATS_min
stats f index 0 every ::0::0 using 2 nooutput
d = STATS_min
stats f index 0 using ($4 > $5 ? $4 : $5) nooutput
bmin = STATS_min; bmax = STATS_max
stats f index 0 every ::0::0 using 3 nooutput
Mb = STATS_min

set logscale x 2
set xrange [bmin/1.4:bmax*1.4]
set xtics bmin, 2, bmax
set format x '%.0f'
set xlabel 'block size b: the resident block (FlashAttention: Bc, FlashAttention-2: Br; the other min(b, d)), log scale'
set ylabel 'HBM accesses (MB read + written)'
set y2label 'MODELLED runtime (µs) on an A100 roofline: max(memory, compute)'
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set title sprintf("Block size vs HBM accesses and a modelled runtime, N = %d, d = %d, M = %.0f KiB, one head (cf. the FlashAttention paper, Figure 2 middle)\nLarger blocks re-read less; the modelled time falls with the traffic until the arithmetic decides (dotted: memory time alone); b = 2 x the last does not fit M.\nThe runtime is modelled on an A100 roofline: max(bytes / 1.555 TB/s, matmul / 312 T + other FLOPs / 19.5 T + exp / 2.44 T per s), not measured.", N, d, Mb/1024.0)
set key top right Left reverse font ',11' width -2

# The memory term of the model (µs): bytes / 1.555 TB/s.
memt(bytes) = bytes/1555.0/1000.0
big(br, bc) = br > bc ? br : bc
plot f index 0 using (big($4,$5)):($8/1e6) axes x1y1 with linespoints pt 5 ps 1.2 lw 2 lc rgb c_f1 title 'FlashAttention (Alg. 1): HBM accesses', \
     f index 1 using (big($4,$5)):($8/1e6) axes x1y1 with linespoints pt 9 ps 1.4 lw 2 lc rgb c_f2 title 'FlashAttention-2: HBM accesses', \
     f index 0 using (big($4,$5)):17 axes x1y2 with linespoints pt 4 ps 1.2 dt 2 lc rgb c_f1 title 'FlashAttention: modelled runtime (right axis)', \
     f index 1 using (big($4,$5)):17 axes x1y2 with linespoints pt 8 ps 1.4 dt 2 lc rgb c_f2 title 'FlashAttention-2: modelled runtime (right axis)', \
     f index 0 using (big($4,$5)):(memt($8)) axes x1y2 with lines dt 3 lw 1.5 lc rgb c_ref title 'memory time alone, FlashAttention (right axis)'

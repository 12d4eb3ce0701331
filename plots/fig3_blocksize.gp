# Figure 3: the block-size sweep of the FlashAttention paper's Figure 2 (middle). Data: lesson05_blocksize.dat.
load 'plots/common.gp'
f = data.'/lesson05_blocksize.dat'

stats f index 0 every ::0::0 using 1 nooutput
N = STATS_min
stats f index 0 every ::0::0 using 2 nooutput
d = STATS_min
stats f index 0 using 4 nooutput
bmin = STATS_min; bmax = STATS_max

set logscale x 2
set xrange [bmin/1.4:bmax*1.4]
set xtics bmin, 2, bmax
set format x '%.0f'
set xlabel 'block size b = Br = Bc (rows, log scale); M = the SRAM those blocks need'
set ylabel 'HBM accesses (MB read + written)'
set y2label 'MODELLED runtime (µs): bytes / 1.5 TB/s + FLOPs / 312 TFLOP/s + exp() / 2.4 per ns'
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set title sprintf("Block size vs HBM accesses and a modelled runtime, N = %d, d = %d, one head (cf. the FlashAttention paper, Figure 2 middle)\nLarger blocks re-read less; the modelled time falls with the traffic until the arithmetic (dotted: the same model with no HBM traffic) dominates.\nThe runtime is a model of an A100 with no overlap of transfers and arithmetic, not a measurement.", N, d)
set key top right Left reverse font ',11' width -2

# Compute-only part of the model (µs): total minus the transfer term.
comp(bytes, model) = model - bytes/1500.0/1000.0
plot f index 0 using 4:($8/1e6) axes x1y1 with linespoints pt 5 ps 1.2 lw 2 lc rgb c_f1 title 'FlashAttention (Alg. 1): HBM accesses', \
     f index 1 using 4:($8/1e6) axes x1y1 with linespoints pt 9 ps 1.4 lw 2 lc rgb c_f2 title 'FlashAttention-2: HBM accesses', \
     f index 0 using 4:17 axes x1y2 with linespoints pt 4 ps 1.2 dt 2 lc rgb c_f1 title 'FlashAttention: modelled runtime (right axis)', \
     f index 1 using 4:17 axes x1y2 with linespoints pt 8 ps 1.4 dt 2 lc rgb c_f2 title 'FlashAttention-2: modelled runtime (right axis)', \
     f index 0 using 4:(comp($8,$17)) axes x1y2 with lines dt 3 lw 1.5 lc rgb c_ref title 'arithmetic alone, FlashAttention (right axis)'

# Figure 8c: causal masking, tiles per device, contiguous vs zigzag. Data: lesson12_ring_imbalance.dat (ring_data).
load 'plots/common.gp'
f = data.'/lesson12_ring_imbalance.dat'

stats f using 2 nooutput
cmin = STATS_min; cmax = STATS_max; P = STATS_records
stats f using 3 nooutput
zmin = STATS_min; zmax = STATS_max
set style data histograms
set style histogram clustered gap 1.5
set style fill solid 0.85 border -1
set boxwidth 0.9
set xlabel 'device r'
set ylabel 'FlashAttention-2 tiles computed (all steps)'
set yrange [0:*]
set title sprintf("Causal ring attention, P = %d, N = 65536, d = 128: the work each device does\ncontiguous (device r holds chunk r): the last device computes P-1 full chunks and its diagonal, the first only its diagonal, max/min = %.2f\nzigzag (chunks r and 2P-1-r of 2P): every device the same, max/min = %.3f", P, cmax / cmin, zmax / zmin)
set key top left Left reverse font ',11'

plot f using 2:xtic(1) lc rgb c_std title 'contiguous', \
     f using 3 lc rgb c_f2 title 'zigzag'

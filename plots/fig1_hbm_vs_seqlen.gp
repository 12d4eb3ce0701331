# Figure 1: HBM accesses vs sequence length N (Theorem 2, Proposition 3). Data: lesson05_seqlen.dat (./lesson05).
load 'plots/common.gp'
f = data.'/lesson05_seqlen.dat'

# d and M from the data (flash1's first row), the fitted constants from each algorithm's largest N.
stats f index 1 every ::0::0 using 2 nooutput
d = STATS_min
stats f index 1 every ::0::0 using 3 nooutput
Mb = STATS_min
stats f index 0 using 1 nooutput
n = STATS_records; Nmax = STATS_max
stats f index 0 every ::(n-1)::(n-1) using 18 nooutput
c_s = STATS_min
stats f index 1 every ::(n-1)::(n-1) using 18 nooutput
c_1 = STATS_min
stats f index 1 every ::(n-1)::(n-1) using 4 nooutput
br1 = STATS_min
stats f index 1 every ::(n-1)::(n-1) using 5 nooutput
bc1 = STATS_min
stats f index 2 every ::(n-1)::(n-1) using 4 nooutput
br2 = STATS_min
stats f index 2 every ::(n-1)::(n-1) using 5 nooutput
bc2 = STATS_min
stats f index 2 every ::(n-1)::(n-1) using 18 nooutput
c_2 = STATS_min
stats f index 4 every ::(n-1)::(n-1) using 4 nooutput
br2r = STATS_min
stats f index 4 every ::(n-1)::(n-1) using 5 nooutput
bc2r = STATS_min

set logscale xy 2
set logscale y 10
set format x '%.0f'
set xtics (128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
if (!dumb) set format y '10^{%L}'
if (dumb) set format y '%.0e'
set xrange [100:Nmax*1.3]
set xlabel 'sequence length N (tokens)'
set ylabel 'HBM accesses: bytes read + written (log scale)'
stats f index 1 every ::0::0 using ($13/($1*$2+$1*$1)) nooutput
esz = int(STATS_min + 0.5)
t1 = sprintf("Attention forward: HBM traffic counted by the simulator vs N\nd = %d, M = %d KiB SRAM (the A100's per-SM SRAM as the FlashAttention paper quotes it), %d-byte elements (%s), one head", d, Mb/1024, esz, esz == 2 ? 'fp16' : 'fp32')
t2 = sprintf("\nblocks Br×Bc at N = %d, each rule shrunk until S_{ij} fits too: FlashAttention keeps K_j, V_j, so Bc = ⌈M/4d⌉, Br = min(Bc, d): %d×%d;\nFlashAttention-2 keeps Q_i, so the rule is transposed, Br = ⌈M/4d⌉, Bc = min(Br, d): %d×%d (under FlashAttention's rule: %d×%d)", Nmax, br1, bc1, br2, bc2, br2r, bc2r)
set title t1.(dumb ? '' : t2)
set key top left Left reverse font ',11' width -4
set yrange [1e4:1e13]

plot f index 0 using 1:8 with linespoints pt 7 ps 1.1 lc rgb c_std title 'standard attention (Alg. 0): S, P through HBM', \
     f index 1 using 1:8 with linespoints pt 5 ps 1.1 lc rgb c_f1 title 'FlashAttention (Alg. 1)', \
     f index 2 using 1:8 with linespoints pt 9 ps 1.3 lc rgb c_f2 title 'FlashAttention-2 (its own rule: big Br)', \
     f index 3 using 1:8 with linespoints pt 11 ps 1.3 lc rgb c_f2c dt 2 title 'FlashAttention-2, causal (masked tiles skipped)', \
     f index 4 using 1:8 with linespoints pt 8 ps 1.3 lc rgb c_f2 dt 2 title "FlashAttention-2 with FA1's block rule (Br ≤ d): K, V re-read N/d times, Θ(N^2)", \
     f index 0 using 1:($13*c_s) with lines lw 1.5 dt 3 lc rgb c_std title sprintf('Θ(Nd + N^2): %.2f·(Nd + N^2), fitted at N = %d', c_s, Nmax), \
     f index 1 using 1:($14*c_1) with lines lw 1.5 dt 3 lc rgb c_f1 title sprintf('Θ(N^2d^2/M), Theorem 2: %.2f·N^2d^2/M, fitted at N = %d', c_1, Nmax), \
     f index 2 using 1:(dumb ? NaN : $14*c_2) with lines lw 1.5 dt 3 lc rgb c_f2 title (dumb ? '' : sprintf('Θ(N^2d^2/M) for FlashAttention-2: %.2f·N^2d^2/M, fitted at N = %d', c_2, Nmax)), \
     f index 1 using 1:15 with lines lw 3 dt 1 lc rgb c_ref title 'lower bound, Proposition 3: Ω(N^2d^2/M) drawn with constant 1 (valid for d ≤ M ≤ Nd)', \
     f index 1 using 1:(dumb ? NaN : $16) with lines lw 1.5 dt 4 lc rgb '#888888' title (dumb ? '' : 'read Q, K, V and write O once: 4Nd')

# Figure 1: HBM accesses vs sequence length N (Theorem 2, Proposition 3). Data: lesson05_seqlen.dat (./lesson05).
# A two-line title, one legend entry per curve (five algorithms and the lower bound): the constant each Theta hides,
# fitted at the largest N, is in its curve's title rather than drawn as a line over the data.
load 'plots/common.gp'
f = data.'/lesson05_seqlen.dat'

# d, M and the element size from the data (flash1's first row), the fitted constants and blocks at the largest N.
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
stats f index 2 every ::(n-1)::(n-1) using 18 nooutput
c_2 = STATS_min
stats f index 1 every ::(n-1)::(n-1) using 4 nooutput
br1 = STATS_min
stats f index 1 every ::(n-1)::(n-1) using 5 nooutput
bc1 = STATS_min
stats f index 2 every ::(n-1)::(n-1) using 4 nooutput
br2 = STATS_min
stats f index 2 every ::(n-1)::(n-1) using 5 nooutput
bc2 = STATS_min
stats f index 1 every ::0::0 using ($13/($1*$2+$1*$1)) nooutput
esz = int(STATS_min + 0.5)
# Proposition 3 speaks for d <= M <= Nd (M in elements): from N = M/d on.
Nlow = Mb / esz / d

set logscale x 2
set logscale y 10
set format x '%.0f'
set xtics (128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
if (!dumb) set format y '10^{%L}'
if (dumb) set format y '%.0e'
set xrange [100:Nmax*1.3]
set yrange [1e4:1e13]
set xlabel 'sequence length N (tokens)'
if (!dumb) set ylabel 'HBM accesses: bytes read + written (log scale)'
prec = esz == 2 ? 'fp16' : 'fp32'

# The lower bound: every algorithm reads Q, K, V and writes O at least once (4Nd, column 16), and Proposition 3's
# Omega(N^2 d^2 / M), drawn with constant 1, where it holds (column 15, na elsewhere): the larger of the two.
# (strcol first: a "nan" read as a number would make the whole point undefined)
bound(x) = strcol(15) eq 'na' ? column(16) : (column(15) > column(16) ? column(15) : column(16))

if (!dumb) {
    set title sprintf("Attention forward: HBM bytes read + written, counted by the simulator, vs sequence length N\nd = %d, M = %d KiB (the A100's per-SM SRAM), %s, one head; blocks at N = %d: FlashAttention %d×%d, FlashAttention-2 %d×%d", d, Mb/1024, prec, Nmax, br1, bc1, br2, bc2)
    set key top left Left reverse font ',11' width -2
    plot f index 0 using 1:8 with linespoints pt 7 ps 1.1 lc rgb c_std title sprintf('standard attention (Alg. 0: S, P through HBM): %.2f·(Nd + N^2) at N = %d', c_s, Nmax), \
         f index 1 using 1:8 with linespoints pt 5 ps 1.1 lc rgb c_f1 title sprintf('FlashAttention (Alg. 1): %.2f·N^2d^2/M at N = %d (Theorem 2)', c_1, Nmax), \
         f index 2 using 1:8 with linespoints pt 9 ps 1.3 lc rgb c_f2 title sprintf('FlashAttention-2 (its own rule, big Br): %.2f·N^2d^2/M', c_2), \
         f index 3 using 1:8 with linespoints pt 11 ps 1.3 lc rgb c_f2c dt 2 title 'FlashAttention-2, causal (masked tiles skipped)', \
         f index 4 using 1:8 with linespoints pt 8 ps 1.3 lc rgb c_f2 dt 2 title "FlashAttention-2 under FlashAttention's rule (Br ≤ d): K, V re-read N/Br times, Θ(N^2)", \
         f index 1 using 1:(bound(0)) with lines lw 3 dt 1 lc rgb c_ref title sprintf('lower bound: 4Nd (read Q, K, V, write O once), or Proposition 3: N^2d^2/M (constant 1; holds for N ≥ M/d = %d), the larger', Nlow)
} else {
    # 80 columns: a one-line title, the y label in it, a letter per curve, the legend below the plot
    set title sprintf('HBM traffic vs N (d = %d, M = %d KiB, %s)', d, Mb/1024, prec)
    set label 1 'bytes' at screen 0.02, graph 1 offset 0,1   # dumb text cannot turn: the y label sits on top
    set key below Left reverse
    plot f index 0 using 1:8 with linespoints lt 1 pt 'S' title 'S standard attention', \
         f index 1 using 1:8 with linespoints lt 2 pt '1' title '1 FlashAttention', \
         f index 2 using 1:8 with linespoints lt 3 pt '2' title '2 FlashAttention-2', \
         f index 3 using 1:8 with linespoints lt 4 pt 'c' title 'c FlashAttention-2 causal', \
         f index 4 using 1:8 with linespoints lt 5 pt 'r' title "r FA-2 under FA's rule", \
         f index 1 using 1:(bound(0)) with linespoints lt 6 pt 'L' title sprintf('L lower bound (4Nd; Prop. 3 from N = %d)', Nlow)
}

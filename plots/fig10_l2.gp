# Figure 10: what DRAM moves vs what the kernels ask for: the ledger, the L2 model's prediction and Nsight Compute's
# measurement, per algorithm, one forward pass of the CUDA teaching kernels (fp32, d = 64, B = 1, H = 16).
# Data: l2_H100.dat, l2_H200.dat (build/rel/plots/l2_predict --out-dir DATA), the rows of kernel 'all'.
load 'plots/common.gp'
h100 = data.'/l2_H100.dat'
h200 = data.'/l2_H200.dat'
rows(f, algo) = sprintf("< awk '$2 == \"%s\" && $3 == \"all\"' %s", algo, f)
pos(v) = v > 0 ? v / 1e6 : 1/0
c_h100 = '#1f77b4'; c_h200 = '#ff7f0e'

set logscale x 2
set logscale y 10
set xrange [800:20000]
set xtics (1024, 2048, 4096, 8192, 16384)
set format x '%.0f'
if (!dumb) set format y '10^{%L}'
if (dumb) set format y '%.0e'
set key top left Left reverse font ',9' spacing 1.0 samplen 2

set multiplot layout 2,3 title "DRAM bytes of one forward pass: the ledger (what the kernels ask for), the L2 model (lines) and Nsight Compute (points)\nH100 50 MiB and H200 60 MiB of L2; each kernel starts on an empty L2, as ncu runs it; docs/l2.md explains every gap"
do for [a in 'standard flash1 flash2'] {
    set title a.': reads'
    set ylabel 'MB read from DRAM'
    set xlabel ''
    plot rows(h100, a) using 1:(pos($4)) with lines lw 1.5 dt 2 lc rgb c_ref title 'ledger (requests)', \
         rows(h100, a) using 1:(pos($6)) with lines lw 2 lc rgb c_h100 title 'H100 model', \
         rows(h100, a) using 1:(pos($8)) with points pt 7 ps 1.3 lc rgb c_h100 title 'H100 ncu', \
         rows(h200, a) using 1:(pos($6)) with lines lw 2 lc rgb c_h200 title 'H200 model', \
         rows(h200, a) using 1:(pos($8)) with points pt 9 ps 1.3 lc rgb c_h200 title 'H200 ncu'
}
set yrange [0.1:*]   # what a kernel leaves in L2 when it ends never reaches DRAM: writes of a few kB are off the scale
set key bottom right
do for [a in 'standard flash1 flash2'] {
    set title a.': writes'
    set ylabel 'MB written to DRAM'
    set xlabel 'sequence length N'
    plot rows(h100, a) using 1:(pos($5)) with lines lw 1.5 dt 2 lc rgb c_ref title 'ledger (requests)', \
         rows(h100, a) using 1:(pos($7)) with lines lw 2 lc rgb c_h100 title 'H100 model', \
         rows(h100, a) using 1:(pos($9)) with points pt 7 ps 1.3 lc rgb c_h100 title 'H100 ncu', \
         rows(h200, a) using 1:(pos($7)) with lines lw 2 lc rgb c_h200 title 'H200 model', \
         rows(h200, a) using 1:(pos($9)) with points pt 9 ps 1.3 lc rgb c_h200 title 'H200 ncu'
}
unset multiplot

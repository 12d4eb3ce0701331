# Figure 8b: the overlap condition. Data: lesson12_ring_overlap.dat (plots/ring_data); modelled times, not measured.
load 'plots/common.gp'
f = data.'/lesson12_ring_overlap.dat'

hide = 989e12 * 2 / (2 * 450e9)
set logscale x 2
set logscale y 10
set xrange [180:46000]
set xtics (256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
set format x '%.0f'
if (!dumb) set format y '10^{%L}'
if (dumb) set format y '%.0e'
set xlabel 'rows per device n = N / P'
set ylabel 'modelled time (ns, log scale)'
set title sprintf("When the transfer hides: one ring step of P = 8 H100s on NVLink 4 (d = 128, bf16), MODELLED\nA step computes 4 n^2 d FLOPs (989 TFLOP/s) and sends 2 n d elements (450 GB/s): the send hides once n > F e / (2 W) = %.0f rows.\nBelow it the ring waits on its links; above it the ring takes its compute time alone.", hide)
set key top left Left reverse font ',11' width -2
set arrow 1 from hide, graph 0 to hide, graph 1 nohead dt 2 lw 1.5 lc rgb c_ref
set label 1 sprintf(" n = F e / 2W = %.0f", hide) at hide, graph 0.06 left textcolor rgb c_ref

plot f using 1:2 with linespoints pt 7 ps 1.2 lc rgb c_f2 title 'one step: compute (FA2 on n x n, and the merge)', \
     f using 1:3 with linespoints pt 5 ps 1.2 lc rgb c_std title 'one step: send K, V (2 n d elements)', \
     f using 1:4 with lines lw 2.5 lc rgb c_f1 title 'the whole ring, sends overlapped', \
     f using 1:5 with lines lw 1.5 dt 2 lc rgb c_f1 title 'the whole ring, each step sending first', \
     f using 1:6 with lines lw 1.5 dt 3 lc rgb c_ref title 'compute alone (the floor)'

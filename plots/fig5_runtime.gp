# Figure 5: CPU run time of attention vs N: the simulator (standard vs flash) and OpenBLAS. Data: bench_cpu.dat
# (make bench-cpu: one row per implementation, N, d, threads; the columns are named in its header).
load 'plots/common.gp'
f = exists("bench") ? bench : data.'/bench_cpu.dat'
machine = system("sed -n 's/^# machine: //p' ".f)
date = system("sed -n 's/^# date: \\([^;]*\\);.*/\\1/p' ".f)

# One series: the rows of an implementation at d = 64 on one thread (all = 0) or more (all = 1), N up to Nmax.
Nmax = 8192
rows(impl, all) = sprintf("< awk '$1 == \"%s\" && $4 == 64 && ($5 > 1) == %d && $3 <= %d' %s", impl, all, Nmax, f)

set logscale x 2
set logscale y 10
set xrange [1024/1.3:Nmax*1.3]
set xtics 1024, 2, Nmax
set format x '%.0f'
set xlabel 'sequence length N (tokens)'
set ylabel 'ms per forward pass (log scale): median, bars from fastest to slowest'
set title sprintf("CPU run time of attention forward (real arithmetic, fp32, d = 64, one head): a benchmark, %s\n%s\n1 warm-up call, median of 7 to 3 repeats, all in one run (make bench-cpu) after checking each output against double.\nThe simulator counts every tile it moves; OpenBLAS: S = QK^T by sgemm, softmax, O = PV by sgemm, as it configures itself here.", date, machine)
set key top left Left reverse font ',11' width -2

# A warning in red above the plot when the times are suspect: the machine was busy when the benchmark started or
# ended (1-minute load average at least half the CPUs, from the '# date:' and '# machine:' lines bench_cpu writes), or
# flash2 on all threads was slower than on one at some N (other work took the CPUs), or a row's slowest repeat took
# 1.5x its fastest.
ncpu = system("sed -n 's/^# machine: [^,]*, \\([0-9]*\\) logical CPUs.*/\\1/p' ".f)
load = system("sed -n 's/^# date: .*load average \\([0-9.]*\\) [0-9. ]*at the start, \\([0-9.]*\\) .*/\\1 \\2/p' ".f)
busy = (words(load) == 2 && strlen(ncpu) && (word(load, 1) + 0 >= 0.5 * ncpu || word(load, 2) + 0 >= 0.5 * ncpu)) ? sprintf("the machine was busy (load average %s at the start, %s at the end, on %s CPUs)", word(load, 1), word(load, 2), ncpu) : ""
slower = system("awk '$1 == \"flash2\" && $4 == 64 { if ($5 == 1) one[$3] = $6; else many[$3] = $6 } END { for (n in many) if ((n in one) && many[n] > one[n]) { printf \"%s%s\", s, n; s = \", \" } }' ".f)
slower = strlen(slower) ? sprintf("flash2 on all threads was slower than on one at N = %s", slower) : ""
spread = system("awk '/^[a-z]/ && $8 > 1.5 * $7 && !seen[$3]++ { printf \"%s%s\", s, $3; s = \", \" }' ".f)
spread = strlen(spread) ? sprintf("repeats varied by more than 1.5x at N = %s", spread) : ""
warn = busy
warn = strlen(slower) ? (strlen(warn) ? warn."\n" : "").slower : warn
warn = strlen(spread) ? (strlen(warn) ? warn."\n" : "").spread : warn
if (strlen(warn)) set label 9 "WARNING: these times are unreliable, rerun on an idle machine:\n".warn at graph 0.02, graph 0.95 left textcolor rgb '#c00000' font ',12'
if (strlen(warn)) set key bottom right
if (strlen(warn)) print "fig5: WARNING: these times are unreliable:\n  ".warn

plot rows('standard', 0) using 3:6:7:8 with yerrorlines pt 7 ps 1.1 lc rgb c_std title 'standard attention, 1 thread', \
     rows('flash1', 0) using 3:6:7:8 with yerrorlines pt 5 ps 1.1 lc rgb c_f1 title 'FlashAttention (Alg. 1), 1 thread', \
     rows('flash2', 0) using 3:6:7:8 with yerrorlines pt 9 ps 1.3 lc rgb c_f2 title 'FlashAttention-2, 1 thread', \
     rows('flash2', 1) using 3:6:7:8 with yerrorlines pt 11 ps 1.3 dt 2 lc rgb c_f2c title 'FlashAttention-2, all threads (query blocks in parallel)', \
     rows('blas_materialized', 1) using 3:6:7:8 with yerrorlines pt 13 ps 1.1 dt 3 lc rgb c_ref title 'OpenBLAS materialized attention, all threads', \
     rows('blas_flash', 1) using 3:6:7:8 with yerrorlines pt 6 ps 1.1 dt 4 lc rgb c_ref title 'OpenBLAS fused flash loop (64 x 256 blocks), all threads'

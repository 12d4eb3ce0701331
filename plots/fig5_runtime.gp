# Figure 5: CPU run time of the simulator vs N, standard vs flash (a benchmark). Data: runtime.dat (bench_runtime).
load 'plots/common.gp'
f = data.'/runtime.dat'
machine = system("sed -n 's/^# machine: //p' ".f)

stats f index 0 using 1 nooutput
Nmin = STATS_min; Nmax = STATS_max

set logscale x 2
set logscale y 10
set xrange [Nmin/1.3:Nmax*1.3]
set xtics Nmin, 2, Nmax
set format x '%.0f'
set xlabel 'sequence length N (tokens)'
set ylabel 'ms per forward pass (log scale): median, bars from fastest to slowest'
set title sprintf("CPU run time of the simulator's attention forward (real arithmetic, fp32, d = 64, one head): a benchmark\n%s\n1 warm-up call, median of 5 repeats, every algorithm in the same run after checking its output against the double reference.\nThis times the simulator on a CPU, not a GPU kernel: every tile load is counted and converted element by element.", machine)
set key top left Left reverse font ',11' width -2

# A warning in red above the plot when the times are suspect: the machine was busy before the runs (1-minute load
# average at least half the CPUs, from the '# load:' line bench_runtime writes), or flash2 on all threads was slower
# than on one thread at some N (other work took the CPUs), or a point's slowest repeat took 1.5x its fastest.
load = system("sed -n 's/^# load: 1-minute load average \\([0-9.]*\\) before.*, \\([0-9]*\\) CPUs.*/\\1 \\2/p' ".f)
busy = (words(load) == 2 && word(load, 1) + 0 >= 0.5 * word(load, 2)) ? sprintf("the machine was busy before the runs (load average %s on %s CPUs)", word(load, 1), word(load, 2)) : ""
slower = system("awk '/^# algo:/ { a = $3 } /^[0-9]/ { if (a == \"flash2\") one[$1] = $2; else if (a ~ /threads/ && ($1 in one) && $2 > one[$1]) { printf \"%s%s\", s, $1; s = \", \" } }' ".f)
slower = strlen(slower) ? sprintf("flash2 on all threads was slower than on one at N = %s", slower) : ""
spread = system("awk '/^[0-9]/ && $4 > 1.5 * $3 && !seen[$1]++ { printf \"%s%s\", s, $1; s = \", \" }' ".f)
spread = strlen(spread) ? sprintf("repeats varied by more than 1.5x at N = %s", spread) : ""
warn = busy
warn = strlen(slower) ? (strlen(warn) ? warn."\n" : "").slower : warn
warn = strlen(spread) ? (strlen(warn) ? warn."\n" : "").spread : warn
if (strlen(warn)) set label 9 "WARNING: these times are unreliable, rerun on an idle machine:\n".warn at graph 0.02, graph 0.95 left textcolor rgb '#c00000' font ',12'
if (strlen(warn)) set key bottom right
if (strlen(warn)) print "fig5: WARNING: these times are unreliable:\n  ".system("echo '".warn."' | sed 's/^/  /' | tail -c +3")

plot f index 0 using 1:2:3:4 with yerrorlines pt 7 ps 1.1 lc rgb c_std title 'standard attention, 1 thread', \
     f index 1 using 1:2:3:4 with yerrorlines pt 5 ps 1.1 lc rgb c_f1 title 'FlashAttention (Alg. 1), 1 thread', \
     f index 2 using 1:2:3:4 with yerrorlines pt 9 ps 1.3 lc rgb c_f2 title 'FlashAttention-2, 1 thread', \
     f index 3 using 1:2:3:4 with yerrorlines pt 11 ps 1.3 dt 2 lc rgb c_f2c title 'FlashAttention-2, all threads (query blocks in parallel)'

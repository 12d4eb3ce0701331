# common.gp — terminal and style shared by every figure. Called with -e "fmt='png|svg|dumb'; out='FILE'; data='DIR'".
if (!exists("fmt")) fmt = 'png'
if (!exists("data")) data = 'plots/data'
if (fmt eq 'png') set terminal pngcairo size 1280,860 enhanced font ',12' linewidth 1.5
if (fmt eq 'svg') set terminal svg size 1280,860 enhanced font 'sans,12' linewidth 1.5 background '#ffffff'
if (fmt eq 'dumb') set terminal dumb size 79,40 aspect 2,1
if (exists("out")) set output out
dumb = (fmt eq 'dumb')

if (!dumb) set grid xtics ytics mxtics mytics lc rgb '#dddddd' lw 1 dt 1
set border lw 1
set key box opaque samplen 3 spacing 1.2

# One colour per algorithm, the same in every figure.
c_std = '#d62728'; c_f1 = '#1f77b4'; c_f2 = '#2ca02c'; c_f2c = '#9467bd'; c_ref = '#444444'

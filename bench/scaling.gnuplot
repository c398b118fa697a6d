# Draws bench/scaling.png from bench/scaling.dat (written by bench/scaling.sh, which runs this):
#   gnuplot -e "dat='bench/scaling.dat'; out='bench/scaling.png'; build='(a subtitle)'" bench/scaling.gnuplot
# The dashed line is the target: each registry after the first costs 0.3 of the first push.
if (!exists("dat")) dat = 'bench/scaling.dat'
if (!exists("out")) out = 'bench/scaling.png'
if (!exists("build")) build = ''
stats dat using 2 every ::0::0 nooutput
first = STATS_min
set terminal pngcairo size 720,440 font 'sans,10'
set output out
set title sprintf("One image (3 fresh layers) to N registries, 1 tag each\n%s", build)
set xlabel 'registries'
set ylabel 'median time (ms)'
set xrange [0.8:4.2]
set xtics 1
set yrange [0:*]
set grid ytics
set key top left
plot dat using 1:3 with linespoints lw 2 pt 7 title 'docker tag + docker push, per registry', \
     dat using 1:2 with linespoints lw 2 pt 5 title 'docker pushx, one command', \
     first * (1 + 0.3 * (x - 1)) with lines dt 2 lw 1 lc rgb '#555555' title 'target: +0.3 of the first per registry'

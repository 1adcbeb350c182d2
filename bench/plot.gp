# bench/plot.gp - the chart of bench/results/latest.png, drawn by bench/run.sh:
#   gnuplot -e "dir='<data dir>'; out='<png>'" bench/plot.gp
# Data files (written by run.sh from the programs' --data output):
#   request1.dat request2.dat general1.dat general2.dat: "peer" ns(jemalloc build) ns(system build)
#   memory.dat: "peer" after-free after-purge (jemalloc build), the same (system build), MiB
# pngcairo works without X (gnuplot-nox); the plain gd "png" terminal does too, as a fallback.

if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
    set terminal pngcairo size 1800,1900 font "DejaVu Sans,11" noenhanced
} else {
    set terminal png size 1800,1900 noenhanced
}
set output out
set datafile separator "\t"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top left
set xtics rotate by -35 scale 0
set bmargin 9
set lmargin 10
jemalloc_color = "#1f6fb4"
system_color = "#e07b20"

set multiplot layout 3, 2 title "catmem benchmarks: ns per operation (log scale, lower is better); catmem rows on the backend of each build" font ",14"

set logscale y
set ylabel "ns / op"
set title "request workload, 1 thread (op = one object)"
plot dir."/request1.dat" using 2:xtic(1) title "jemalloc-backend build" lc rgb jemalloc_color, \
     "" using 3 title "system-backend build" lc rgb system_color

set title "request workload, 2 threads (ns / op per thread)"
plot dir."/request2.dat" using 2:xtic(1) title "jemalloc-backend build" lc rgb jemalloc_color, \
     "" using 3 title "system-backend build" lc rgb system_color

set title "general workload, 1 thread (op = free + allocate)"
plot dir."/general1.dat" using 2:xtic(1) title "jemalloc-backend build" lc rgb jemalloc_color, \
     "" using 3 title "system-backend build" lc rgb system_color

set title "general workload, 2 threads (ns / op per thread)"
plot dir."/general2.dat" using 2:xtic(1) title "jemalloc-backend build" lc rgb jemalloc_color, \
     "" using 3 title "system-backend build" lc rgb system_color

unset logscale y
set ylabel "RSS MiB"
set key top right
set title "memory workload: RSS after a 200 MiB burst is released, and after the allocator's purge"
plot dir."/memory.dat" using 2:xtic(1) title "after free (jemalloc build)" lc rgb "#9cc3e6", \
     "" using 3 title "after purge (jemalloc build)" lc rgb jemalloc_color, \
     "" using 4 title "after free (system build)" lc rgb "#f5c08f", \
     "" using 5 title "after purge (system build)" lc rgb system_color

unset multiplot

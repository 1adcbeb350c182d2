# bench/plot.gp - the chart of bench/results/latest.png, drawn by bench/run.sh:
#   gnuplot -e "dir='<data dir>'; out='<png>'" bench/plot.gp
# Data files (written by run.sh from the programs' --data output and the callgrind dumps):
#   request1.dat request2.dat general1.dat general2.dat lifetime1.dat empty1.dat:
#     "peer" ns(jemalloc build) ns(system build)
#   cg_request.dat cg_general.dat (optional): "peer" Ir/op(jemalloc build) Ir/op(system build)
#   memory.dat: "peer" after-free after-purge (jemalloc build), the same (system build), MiB
# pngcairo works without X (gnuplot-nox); the plain gd "png" terminal does too, as a fallback.

have_cg = system("test -s '".dir."/cg_request.dat' && echo 1 || echo 0") + 0
rows = have_cg ? 5 : 4
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
    set terminal pngcairo size 1800, 650 * rows font "DejaVu Sans,11" noenhanced
} else {
    set terminal png size 1800, 650 * rows noenhanced
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
set bmargin 10
set lmargin 11
jemalloc_color = "#1f6fb4"
system_color = "#e07b20"
h = 1.0 / rows
# Panel (row r from the top, column c of 2; w = 2: the whole width).
panel(r, c, w) = sprintf("set origin %f, %f; set size %f, %f", (c - 1) * 0.5, 1 - (r + 1) * h + 0.02 * h, w * 0.5, h * 0.96)

set multiplot title "catmem benchmarks (medians; catmem rows run on the catmem backend of each build)" font ",15"

set logscale y
set yrange [1:*]
set ylabel "ns / op (log scale, lower is better)"
eval panel(0, 1, 1)
set title "request workload, 1 thread (op = one object: allocate, touch, share of the release)"
plot dir."/request1.dat" using 2:xtic(1) title "jemalloc-backend build" lc rgb jemalloc_color, \
     "" using 3 title "system-backend build" lc rgb system_color

eval panel(0, 2, 1)
set title "request workload, 2 threads (ns / op per thread)"
plot dir."/request2.dat" using 2:xtic(1) title "jemalloc-backend build" lc rgb jemalloc_color, \
     "" using 3 title "system-backend build" lc rgb system_color

eval panel(1, 1, 1)
set title "general workload, 1 thread (op = free one object + allocate one)"
plot dir."/general1.dat" using 2:xtic(1) title "jemalloc-backend build" lc rgb jemalloc_color, \
     "" using 3 title "system-backend build" lc rgb system_color

eval panel(1, 2, 1)
set title "general workload, 2 threads (ns / op per thread)"
plot dir."/general2.dat" using 2:xtic(1) title "jemalloc-backend build" lc rgb jemalloc_color, \
     "" using 3 title "system-backend build" lc rgb system_color

eval panel(2, 1, 1)
set title "arena lifetimes, 1 thread (op = create, 20 allocations, 5 single frees, release)"
plot dir."/lifetime1.dat" using 2:xtic(1) title "jemalloc-backend build" lc rgb jemalloc_color, \
     "" using 3 title "system-backend build" lc rgb system_color

eval panel(2, 2, 1)
set title "arena lifetimes: an empty arena, created and released (op = one pair)"
plot dir."/empty1.dat" using 2:xtic(1) title "jemalloc-backend build" lc rgb jemalloc_color, \
     "" using 3 title "system-backend build" lc rgb system_color

if (have_cg) {
    set ylabel "instructions / op (log scale)"
    eval panel(3, 1, 1)
    set title "callgrind: request workload, instructions per op (1 thread)"
    plot dir."/cg_request.dat" using 2:xtic(1) title "jemalloc-backend build" lc rgb jemalloc_color, \
         "" using 3 title "system-backend build" lc rgb system_color
    eval panel(3, 2, 1)
    set title "callgrind: general workload, instructions per op (1 thread)"
    plot dir."/cg_general.dat" using 2:xtic(1) title "jemalloc-backend build" lc rgb jemalloc_color, \
         "" using 3 title "system-backend build" lc rgb system_color
}

unset logscale y
set yrange [0:*]
set offsets 0, 0, graph 0.3, 0   # headroom for the key above the tallest bar
set ylabel "RSS MiB"
set key top right
eval panel(rows - 1, 1, 2)
set title "memory workload: RSS once a 200 MiB burst is released, and after the allocator's purge (lower is better)"
plot dir."/memory.dat" using 2:xtic(1) title "after free (jemalloc build)" lc rgb "#9cc3e6", \
     "" using 3 title "after purge (jemalloc build)" lc rgb jemalloc_color, \
     "" using 4 title "after free (system build)" lc rgb "#f5c08f", \
     "" using 5 title "after purge (system build)" lc rgb system_color

unset multiplot

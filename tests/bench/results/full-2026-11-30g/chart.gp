set terminal pngcairo size 1400,1500 noenhanced font ',10'
set output '/work/main/tests/bench/results/full-2026-11-30g/bench.png'
set multiplot layout 3,1
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key outside right top
set grid ytics
set title 'Bulk throughput on loopback (MB/s, median)'
set ylabel 'MB/s'
plot for [i=2:9] '/work/main/tests/bench/results/full-2026-11-30g/chart-throughput.dat' using i:xtic(1) title columnheader(i) lt (i-2+1)
set title 'Proxies relative to rvpn ws (new streams/s; 1/p50 latency for request/response; higher is better)'
set ylabel 'x rvpn ws'
plot for [i=2:8] '/work/main/tests/bench/results/full-2026-11-30g/chart-rates.dat' using i:xtic(1) title columnheader(i) lt (i-2+2)
set title 'WAN: one-stream download (Mbit/s, median)'
set ylabel 'Mbit/s'
plot for [i=2:9] '/work/main/tests/bench/results/full-2026-11-30g/chart-wan.dat' using i:xtic(1) title columnheader(i) lt (i-2+1)
unset multiplot

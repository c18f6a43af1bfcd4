#!/usr/bin/env bash
# Issue 3, acceptance 4: two processes over net_memif. The generator (lcore 0, memif client)
# sends 64-byte UDP frames from FLOWS source ports to a ClusterIP; `k8c dataplane` (lcore 1,
# memif server) DNATs them to the Service's three backends and sends them back over the same
# memif, where the generator counts them. Both figures come from one run: what the generator
# received rewritten, and the data plane's own forwarded-packet counter over the same window.
#
#   bench/dataplane_memif_compare.sh [K8C]   (default build/release/k8c; generator beside it
#                                             in bench/, or $GEN; SECONDS_RUN, FLOWS)
# Needs root (a network namespace holds the data plane's metrics port).
source "$(dirname "$0")/dataplane_bench_lib.sh"

NS=k8c-bmemif-$ID
ip netns add "$NS"; NSES+=("$NS")
ip netns exec "$NS" ip link set lo up
start_api "$NS"
apply_service
SOCK=$WORK/memif.sock
start_dataplane "$NS" "net_memif0,role=server,socket=$SOCK,socket-abstract=no,mac=$DP_MAC"

fwd0=$(metric k8c_dataplane_forwarded_packets_total)
t0=$(date +%s.%N)
run_gen "$NS" "net_memif0,role=client,socket=$SOCK,socket-abstract=no,mac=$GEN_MAC" "$WORK/gen.out"
t1=$(date +%s.%N)
fwd1=$(metric k8c_dataplane_forwarded_packets_total)
util=$(ip netns exec "$NS" curl -s --max-time 5 "http://$METRICS/metrics" |
  awk '$1 ~ /^k8c_dataplane_lcore_utilisation/ { printf "%.0f%%", $2 * 100 }')

sed 's/^/  /' "$WORK/gen.out"
# The counter window includes the generator's start-up and warm-up, so it is an average over
# a longer span than the generator's measured seconds: a lower bound on the forwarding rate.
dp_avg=$(awk -v a="$fwd0" -v b="$fwd1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.0f", (b - a) / (e - s) }')
printf '\n%-58s %s\n' "figure (64-byte UDP, $FLOWS flows, 1 data-plane lcore)" "value"
printf '%-58s %s\n' "generator sent (pps)" "$(field tx_pps "$WORK/gen.out")"
printf '%-58s %s\n' "data plane forwarded, seen by the generator (pps)" "$(field forwarded_pps "$WORK/gen.out")"
printf '%-58s %s\n' "data plane forwarded, its own counter (pps, whole run)" "$dp_avg"
printf '%-58s %s\n' "data plane lcore utilisation (last interval)" "${util:-n/a}"

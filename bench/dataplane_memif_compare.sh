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

run_gen "$NS" "net_memif0,role=client,socket=$SOCK,socket-abstract=no,mac=$GEN_MAC" "$WORK/gen.out" dp_forwarded

grep -v '^measuring' "$WORK/gen.out" | sed 's/^/  /'
printf '\n%-56s %s\n' "64-byte UDP, $FLOWS flows, 1 data-plane lcore" "value"
printf '%-56s %s\n' "generator sent (pps)" "$(field tx_pps "$WORK/gen.out")"
printf '%-56s %s\n' "data plane forwarded, seen by the generator (pps)" "$(field forwarded_pps "$WORK/gen.out")"
printf '%-56s %s\n' "data plane forwarded, its own counter (pps)" "$LB_PPS"
printf '%-56s %s\n' "data plane lcore busy (bursts with packets)" "$LB_BUSY"
# memif pushes back (a full ring refuses frames), so sent equals forwarded either way; the
# lcore's busy share tells which side limits: below ~95% the data plane waited for frames.
awk -v b="${LB_BUSY%\%}" 'BEGIN { printf "%-56s %s\n", "limited by", (b + 0 >= 95 ? "the data plane" : "the generator") }'

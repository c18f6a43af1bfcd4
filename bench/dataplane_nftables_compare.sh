#!/usr/bin/env bash
# Issue 3, acceptance 4: the data plane against the kernel, on one veth topology, with the same
# generator and the same core count.
#
#   gen ns: gen0 ── veth ── dp0 :node ns (k8c server, and the load balancer under test)
#
# The generator (DPDK, net_af_packet on gen0, CPU 0) sends 64-byte UDP frames from FLOWS
# source ports to ClusterIP 10.96.100.10:53. The load balancer DNATs them to one of three
# backends (static neighbours on dp0) and sends them back out of dp0, one-armed; the generator
# counts the frames that come back rewritten. Run 1: `k8c dataplane` on net_af_packet on dp0,
# lcore 1. Run 2: the node namespace's kernel forwards with kube-proxy-style nftables rules for
# the same Service (`numgen random mod 3 vmap` to per-endpoint DNAT chains), dp0 steered by
# RPS to CPU 1. In both runs RPS sends dp0's receive work to CPU 1 and gen0's to CPU 0, so the
# load balancer has CPU 1 and the generator CPU 0 (veth would otherwise do the receive work on
# the sending CPU).
#
#   bench/dataplane_nftables_compare.sh [K8C]   (default build/release/k8c; generator beside it
#                                                in bench/, or $GEN; SECONDS_RUN, FLOWS;
#                                                DP_VDEV=net_af_xdp0,iface=dp0 for AF_XDP)
# Needs root, nft, ethtool.
source "$(dirname "$0")/dataplane_bench_lib.sh"
command -v nft >/dev/null || { echo "nft is required (Debian package nftables)"; exit 1; }
command -v ethtool >/dev/null || { echo "ethtool is required (Debian package ethtool)"; exit 1; }

NODE=k8c-bnode-$ID GENNS=k8c-bgen-$ID
for ns in "$NODE" "$GENNS"; do ip netns add "$ns"; NSES+=("$ns"); ip netns exec "$ns" ip link set lo up; done
ip link add dp0 netns "$NODE" address $DP_MAC type veth peer name gen0 netns "$GENNS" address $GEN_MAC
for side in "$NODE dp0 2" "$GENNS gen0 1"; do
  set -- $side
  # Offloads off keep veth on the plain netif_rx path, where RPS decides the receiving CPU.
  ip netns exec "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 || true
  ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1"
  ip netns exec "$1" sh -c "echo $3 > /sys/class/net/$2/queues/rx-0/rps_cpus"
  ip netns exec "$1" ip link set "$2" up
done
ip netns exec "$NODE" sysctl -qw net.ipv4.ip_forward=0
# A 4096-frame ring on each side (the PMD's default is 512): at these rates a 512-frame ring
# overflows while the polling thread is preempted by the softirq that fills it.
GEN_VDEV=${GEN_VDEV:-net_af_packet0,iface=gen0,qdisc_bypass=1,framecnt=4096}
start_api "$NODE"
apply_service

# --- run 1: k8c dataplane ----------------------------------------------------------------------
DP_VDEV=${DP_VDEV:-net_af_packet0,iface=dp0,qdisc_bypass=1,framecnt=4096}
start_dataplane "$NODE" "$DP_VDEV"
if [[ $DP_VDEV == *af_xdp* ]]; then
  # With an XDP program on dp0, veth receives in its own NAPI, which runs on the sending CPU
  # (the generator's) and ignores RPS; threaded NAPI pinned to CPU 1 puts it back on the load
  # balancer's core. Only the threads that appear now are ours (other dp0s may exist).
  before=" $(pgrep -d ' ' '^napi/dp0-' || true) "
  ip netns exec "$NODE" sh -c 'echo 1 > /sys/class/net/dp0/threaded'
  for p in $(pgrep '^napi/dp0-' || true); do
    [[ $before == *" $p "* ]] || taskset -pc 1 "$p" >/dev/null
  done
fi
run_gen "$GENNS" "$GEN_VDEV" "$WORK/dp.gen" dp_forwarded
DP_LB=$LB_PPS DP_CPU=$CPU1_BUSY DP_BUSY=$LB_BUSY
kill -TERM "$DP_PID"; wait "$DP_PID" 2>/dev/null || true
rm -rf "/var/run/dpdk/$DP_PREFIX"

# --- run 2: the kernel with kube-proxy's nftables rules ------------------------------------------
nsx() { ip netns exec "$NODE" "$@"; }
nsx ip addr add $NODE_IP/24 dev dp0
for i in 0 1 2; do nsx ip neigh replace "${BACKENDS[$i]}" lladdr "${BACKEND_MACS[$i]}" dev dp0 nud permanent; done
for k in net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.dp0.send_redirects=0 \
  net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.dp0.rp_filter=0; do nsx sysctl -qw $k; done
# What kube-proxy's nftables mode (v1.31+) writes for this Service, chain for chain: the
# service-ips verdict map, the service chain's numgen/vmap over endpoint chains, per-endpoint
# DNAT, the filter hooks' new-connection checks, and the masquerading chain. The service chain
# has no mark-for-masquerade rule, as with no cluster CIDR configured: the data plane does not
# SNAT ClusterIP traffic either, so both do DNAT only.
SVC=service-BENCH001-default/bench/udp/dns
EP=(endpoint-EP000001-default/bench/udp/dns__10.99.0.11/5353
  endpoint-EP000002-default/bench/udp/dns__10.99.0.12/5353
  endpoint-EP000003-default/bench/udp/dns__10.99.0.13/5353)
nsx nft -f - <<NFT
table ip kube-proxy {
  comment "rules for kube-proxy"
  set cluster-ips { type ipv4_addr; elements = { $VIP }; }
  map service-ips { type ipv4_addr . inet_proto . inet_service : verdict; elements = { $VIP . udp . 53 : goto $SVC }; }
  map service-nodeports { type inet_proto . inet_service : verdict; }
  map no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict; }
  map firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict; }
  chain filter-prerouting {
    type filter hook prerouting priority dstnat - 10; policy accept;
    ct state new jump firewall-check
  }
  chain filter-forward {
    type filter hook forward priority -110; policy accept;
    ct state new jump service-endpoints-check
    ct state new jump cluster-ips-check
  }
  chain firewall-check {
    ip daddr . meta l4proto . th dport vmap @firewall-ips
  }
  chain service-endpoints-check {
    ip daddr . meta l4proto . th dport vmap @no-endpoint-services
  }
  chain cluster-ips-check {
    ip daddr @cluster-ips reject
  }
  chain mark-for-masquerade {
    meta mark set meta mark or 0x4000
  }
  chain masquerading {
    meta mark & 0x4000 == 0 return
    meta mark set meta mark xor 0x4000
    masquerade fully-random
  }
  chain nat-prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    jump services
  }
  chain nat-postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    jump masquerading
  }
  chain services {
    ip daddr . meta l4proto . th dport vmap @service-ips
    fib daddr type local meta l4proto . th dport vmap @service-nodeports
  }
  chain ${EP[0]} {
    ip saddr ${BACKENDS[0]} jump mark-for-masquerade
    meta l4proto udp dnat to ${BACKENDS[0]}:5353
  }
  chain ${EP[1]} {
    ip saddr ${BACKENDS[1]} jump mark-for-masquerade
    meta l4proto udp dnat to ${BACKENDS[1]}:5353
  }
  chain ${EP[2]} {
    ip saddr ${BACKENDS[2]} jump mark-for-masquerade
    meta l4proto udp dnat to ${BACKENDS[2]}:5353
  }
  chain $SVC {
    numgen random mod 3 vmap { 0 : goto ${EP[0]}, 1 : goto ${EP[1]}, 2 : goto ${EP[2]} }
  }
}
NFT
tx_dp0() { nsx cat /sys/class/net/dp0/statistics/tx_packets; }
run_gen "$GENNS" "$GEN_VDEV" "$WORK/nft.gen" tx_dp0

echo "k8c dataplane ($DP_VDEV, lcore 1):"; grep -v '^measuring' "$WORK/dp.gen" | sed 's/^/  /'
echo "kernel nftables DNAT (dp0 receive steered to CPU 1 by RPS):"; grep -v '^measuring' "$WORK/nft.gen" | sed 's/^/  /'
dp=$(field forwarded_pps "$WORK/dp.gen") kn=$(field forwarded_pps "$WORK/nft.gen")
printf '\n%-44s %14s %14s\n' "64-byte UDP, $FLOWS flows, one core" "k8c dataplane" "nftables"
printf '%-44s %14s %14s\n' "generator sent (pps)" "$(field tx_pps "$WORK/dp.gen")" "$(field tx_pps "$WORK/nft.gen")"
printf '%-44s %14s %14s\n' "forwarded, seen by the generator (pps)" "$dp" "$kn"
pct() { awk -v f="$(field forwarded_packets "$1")" -v t="$(field tx_packets "$1")" 'BEGIN { printf "%.1f%%", t ? 100 * f / t : 0 }'; }
printf '%-44s %14s %14s\n' "forwarded / sent (100%: the generator limits)" "$(pct "$WORK/dp.gen")" "$(pct "$WORK/nft.gen")"
printf '%-44s %14s %14s\n' "forwarded, load balancer's counter (pps)" "$DP_LB" "$LB_PPS"
printf '%-44s %14s %14s\n' "CPU 1 busy (the load balancer's core)" "$DP_CPU" "$CPU1_BUSY"
printf '%-44s %14s %14s\n' "data plane lcore busy (bursts with packets)" "$DP_BUSY" "-"
awk -v a="$dp" -v b="$kn" 'BEGIN { printf "%-44s %14s\n", "ratio k8c / nftables", (b > 0 ? sprintf("%.2fx", a / b) : "n/a") }'

#include "dataplane/pipeline.h"

#include <algorithm>

#include "dataplane/checksum.h"
#include "dataplane/neighbour.h"
#include "dataplane/parse.h"

namespace k8c::dp {

namespace {

inline Verdict drop(LcoreContext& c, DropReason r) {
  c.stats.dropped[static_cast<size_t>(r)].add(1);
  return Verdict::drop(r);
}
inline Verdict pass(LcoreContext& c) {
  c.stats.passed.add(1);
  return Verdict::pass();
}

inline void set_l2(uint8_t* d, const Mac& dst, const Mac& src) {
  std::memcpy(d, dst.data(), 6);
  std::memcpy(d + 6, src.data(), 6);
}

// Addresses the frame to the next hop towards dst (network order). False when that MAC is not
// known yet: the miss is reported (once per run of misses to one address) for the control
// thread to resolve, and the frame is dropped; TCP's retransmission carries the connection on.
inline bool set_next_hop(uint8_t* d, uint32_t dst, const ServiceTable& t, LcoreContext& c) {
  if (!c.neighbours) {
    set_l2(d, t.node().gateway_mac, t.node().mac);
    return true;
  }
  const Mac* mac = c.neighbours->next_hop(dst);
  if (mac) {
    set_l2(d, *mac, t.node().mac);
    return true;
  }
  if (c.neighbour_events && c.neighbour_events->last_miss != dst &&
      c.neighbour_events->ring.push({NeighbourEvent::kMiss, dst, {}}))
    c.neighbour_events->last_miss = dst;
  return false;
}

// Deterministic across lcores, nodes and restarts, so that a flow picked up mid-stream (after
// its conntrack entry aged out, or on another node behind ECMP) lands on the same backend.
inline uint64_t tuple_hash(const FlowKey& k) {
  return mix64(k.addresses() ^ mix64(k.ports()));
}

// The checksum deltas for rewriting `from` into the tuple whose addresses are (src, dst).
inline void nat_deltas(const FlowKey& from, uint32_t src, uint32_t dst, uint16_t sport,
                       uint16_t dport, uint16_t* ip_delta, uint16_t* l4_delta) {
  CsumDelta ip;
  if (from.src != src) ip.replace32(from.src, src);
  if (from.dst != dst) ip.replace32(from.dst, dst);
  CsumDelta l4 = ip;  // the pseudo-header covers the addresses too
  if (from.sport != sport) l4.replace16(from.sport, sport);
  if (from.dport != dport) l4.replace16(from.dport, dport);
  *ip_delta = ip.folded();
  *l4_delta = l4.folded();
}

// Forward: client->frontend becomes (snat or client)->backend. Reply: backend->(snat or
// client) becomes frontend->client. Both are read off the other direction's tuple.
inline void apply_nat(uint8_t* d, const Parsed& p, const Flow& f, bool reply) {
  const FlowKey& to = reply ? f.fwd : f.rev;
  uint8_t* ip = d + p.l3_off;
  uint8_t* l4 = d + p.l4_off;
  store(ip + ip_off::kSrc, to.dst);
  store(ip + ip_off::kDst, to.src);
  store(l4 + l4_off::kSport, to.dport);
  store(l4 + l4_off::kDport, to.sport);
  csum_apply(ip + ip_off::kCsum, reply ? f.rev_ip_delta : f.fwd_ip_delta);
  uint16_t l4d = reply ? f.rev_l4_delta : f.fwd_l4_delta;
  if (p.l4_proto == proto::kTcp)
    csum_apply(l4 + l4_off::kTcpCsum, l4d);
  else
    udp_csum_apply(l4 + l4_off::kUdpCsum, l4d);
}

inline void count(LcoreContext& c, const Flow& f, const ServiceTable& t, uint16_t len) {
  if (f.flags & flow_flag::kOrphan) return;
  unsigned row = c.options.id;
  TrafficCounters& s = t.service_counters(row, t.backend(f.backend).service);
  s.packets.add(1);
  s.bytes.add(len);
  TrafficCounters& b = t.backend_counters(row, f.backend);
  b.packets.add(1);
  b.bytes.add(len);
}

// A publish renumbers services and backends: find this flow's again by what it is. Returns
// false when the flow must end here (a UDP flow whose backend is gone: like kube-proxy
// flushing UDP conntrack entries, the next datagram picks a live backend).
bool revalidate(Flow& f, const ServiceTable& t) {
  f.generation = static_cast<uint32_t>(t.generation());
  const ServiceTable::Frontend* fe = t.lookup(f.fwd.dst, f.fwd.dport, f.fwd.proto);
  int64_t b = fe ? t.find_backend(fe->service, f.rev.src, f.rev.sport) : -1;
  if (b < 0) {
    if (f.fwd.proto == proto::kUdp) return false;
    f.flags |= flow_flag::kOrphan;
    f.flags &= static_cast<uint8_t>(~flow_flag::kDraining);
    return true;
  }
  f.backend = static_cast<uint32_t>(b);
  f.flags &= static_cast<uint8_t>(~(flow_flag::kOrphan | flow_flag::kDraining));
  if (t.backend(f.backend).terminating) f.flags |= flow_flag::kDraining;
  return true;
}

Verdict new_flow(PacketView pkt, const Parsed& p, const FlowKey& key, uint64_t now,
                 const ServiceTable& t, const ServiceTable::Frontend& fe, LcoreContext& c) {
  const ServiceTable::Service& svc = t.service(fe.service);
  bool external = fe.kind != FrontendKind::kClusterIp;
  bool local_only = (external ? svc.external_policy : svc.internal_policy) == TrafficPolicy::kLocal;

  int64_t b = -1;
  if (svc.affinity) {
    uint32_t ip;
    uint16_t port;
    if (c.affinity.find(svc.id, p.src, now, &ip, &port)) {
      b = t.find_backend(fe.service, ip, port);
      if (b >= 0 && !t.eligible(svc, local_only, static_cast<uint32_t>(b))) b = -1;
    }
  }
  if (b < 0) b = t.pick(svc, local_only, tuple_hash(key));
  if (b < 0) {
    bool others = local_only && !svc.cluster_candidates.empty();
    return drop(c, others ? DropReason::kNoLocalBackend : DropReason::kNoBackend);
  }
  const ServiceTable::Backend& be = t.backend(static_cast<uint32_t>(b));

  // externalTrafficPolicy Cluster masquerades so replies come back through us; Local keeps
  // the client address. A pod reaching itself through its Service (hairpin) needs SNAT too,
  // or its reply would go straight to itself from the wrong address.
  bool snat = (external && svc.external_policy == TrafficPolicy::kCluster) || p.src == be.ip;
  FlowKey rev{be.ip, p.src, be.port, p.sport, key.proto, {0, 0, 0}};
  if (snat) {
    rev.dst = t.node_ip();
    auto [lo, hi] = t.snat_range(c.options.id);
    uint32_t span = uint32_t{hi} - lo + 1;
    bool found = false;
    for (uint32_t n = 0; n < span; ++n) {
      uint32_t off = c.snat_cursor++ % span;
      rev.dport = hton16(static_cast<uint16_t>(lo + off));
      if (!c.conntrack.contains(rev)) {
        found = true;
        break;
      }
    }
    if (!found) return drop(c, DropReason::kSnatPortsExhausted);
  }

  Conntrack::InsertError err;
  Flow* f = c.conntrack.insert(key, rev, now, &err);
  if (!f && err == Conntrack::InsertError::kConflict) {
    // The reply tuple belongs to a finished flow: the client reused its port towards another
    // frontend of the same backend (Linux picks ephemeral ports per destination) while the
    // old flow lingers after its FINs. As with a fresh SYN on a finished flow's own tuple, the
    // finished one gives way; a live one keeps it and the new flow is refused.
    Conntrack::Hit old = c.conntrack.lookup(rev, now);
    if (old.flow &&
        (old.flow->state == FlowState::kClosing || old.flow->state == FlowState::kClosed)) {
      c.conntrack.erase(old.flow);
      f = c.conntrack.insert(key, rev, now, &err);
    }
  }
  if (!f)
    return drop(c, err == Conntrack::InsertError::kFull ? DropReason::kConntrackFull
                                                        : DropReason::kTupleConflict);
  if (svc.affinity)
    c.affinity.remember(svc.id, p.src, be.ip, be.port, now + svc.affinity_timeout_ns);

  f->generation = static_cast<uint32_t>(t.generation());
  f->backend = static_cast<uint32_t>(b);
  f->gauge = be.gauge;
  if (c.gauges.get() != &t.gauges()) c.gauges = t.shared_gauges();  // first flow, in practice
  c.gauges->opened(c.options.id, be.gauge);
  f->flags = static_cast<uint8_t>((snat ? flow_flag::kSnat : 0) |
                                  (be.terminating ? flow_flag::kDraining : 0) |
                                  (pkt.from_kernel ? flow_flag::kKernelClient : 0));
  if (key.proto == proto::kUdp)
    f->state = FlowState::kUdp;
  else if (p.tcp_flags & tcp_flag::kRst)
    f->state = FlowState::kClosed;
  else if ((p.tcp_flags & (tcp_flag::kSyn | tcp_flag::kAck)) == tcp_flag::kSyn)
    f->state = FlowState::kSynSent;
  else
    f->state = FlowState::kEstablished;  // picked up mid-stream; Maglev kept its backend
  nat_deltas(key, rev.dst, rev.src, rev.dport, rev.sport, &f->fwd_ip_delta, &f->fwd_l4_delta);
  nat_deltas(rev, key.dst, key.src, key.dport, key.sport, &f->rev_ip_delta, &f->rev_l4_delta);
  c.conntrack.touch(*f, false, p.tcp_flags, now);
  if (be.terminating && be.drain_deadline_ns < f->expires_ns)
    f->expires_ns = std::max(be.drain_deadline_ns, now + 1);

  c.stats.new_flows.add(1);
  t.service_counters(c.options.id, fe.service).flows.add(1);
  t.backend_counters(c.options.id, f->backend).flows.add(1);
  count(c, *f, t, pkt.len);
  apply_nat(pkt.data, p, *f, false);
  // The flow stays even if the frame cannot leave yet: the retransmission finds its backend.
  if (!set_next_hop(pkt.data, be.ip, t, c)) return drop(c, DropReason::kNoNeighbour);
  c.stats.forwarded.add(1);
  return Verdict::forward(t.node().tx_port);
}

Verdict handle_arp(PacketView pkt, const Parsed& p, const ServiceTable& t, LcoreContext& c) {
  uint8_t* a = pkt.data + p.l3_off;
  if (bswap16(load<uint16_t>(a)) != 1 || bswap16(load<uint16_t>(a + 2)) != proto::kEtherIpv4 ||
      a[4] != 6 || a[5] != 4)
    return drop(c, DropReason::kBadArp);
  uint16_t op = bswap16(load<uint16_t>(a + 6));
  if (op != 1 && op != 2) return drop(c, DropReason::kBadArp);
  uint32_t spa = load<uint32_t>(a + 14);
  uint32_t tpa = load<uint32_t>(a + 24);
  // Glean the sender, as a host's ARP cache does; only news is reported, so a steady stream of
  // ARP costs a lookup each.
  if (c.neighbours && c.neighbour_events && spa != 0) {
    Mac sha;
    std::memcpy(sha.data(), a + 8, 6);
    if (!c.neighbours->knows(spa, sha))
      c.neighbour_events->ring.push({NeighbourEvent::kLearned, spa, sha});
  }
  // Only requests for our VIPs (and the node address when no kernel shares the port).
  AddressKind kind = t.address_kind(tpa);
  bool ours = kind == AddressKind::kVip || (kind == AddressKind::kNodeIp && t.node().own_node_ip);
  if (op != 1 || !ours) return pass(c);
  const Mac& mac = t.node().mac;
  std::memcpy(a + 18, a + 8, 10);  // target hw+proto address := sender's
  std::memcpy(a + 8, mac.data(), 6);
  store(a + 14, tpa);
  store<uint16_t>(a + 6, hton16(2));
  std::memcpy(pkt.data, a + 18, 6);
  std::memcpy(pkt.data + 6, mac.data(), 6);
  c.stats.replied.add(1);
  return Verdict::reply();
}

Verdict handle_icmp(PacketView pkt, const Parsed& p, const ServiceTable& t, LcoreContext& c) {
  uint8_t* ip = pkt.data + p.l3_off;
  uint8_t* icmp = pkt.data + p.l4_off;
  if (icmp[0] != 8 || icmp[1] != 0) return drop(c, DropReason::kIcmpUnsupported);
  // Echo reply: same identifier, sequence and payload; only type and addresses change.
  CsumDelta d;
  d.replace16(load<uint16_t>(icmp), 0);
  store<uint16_t>(icmp, 0);
  csum_apply(icmp + 2, d.folded());
  store(ip + ip_off::kSrc, p.dst);
  store(ip + ip_off::kDst, p.src);
  ip[ip_off::kTtl] = 64;
  store<uint16_t>(ip + ip_off::kCsum, 0);
  store<uint16_t>(ip + ip_off::kCsum, csum(ip, p.l4_off - p.l3_off));
  std::memcpy(pkt.data, pkt.data + 6, 6);
  std::memcpy(pkt.data + 6, t.node().mac.data(), 6);
  c.stats.replied.add(1);
  return Verdict::reply();
}

}  // namespace

namespace {

// `hash`, when nonzero, is flow_hash() of the frame's 5-tuple, computed ahead by the burst's
// prefetch pass (0 is a valid hash too: it is then only computed again).
Verdict process_frame(PacketView pkt, uint64_t now, LcoreContext& c, uint64_t hash) {
  c.stats.rx_packets.add(1);
  c.stats.rx_bytes.add(pkt.len);
  Parsed p;
  DropReason r = parse(pkt, p);
  if (r != DropReason::kNone) return drop(c, r);
  const ServiceTable* t = c.table;
  // Before the first table is published nothing is known to be ours.
  if (!t) return pass(c);
  if (p.l3 == L3::kArp) return handle_arp(pkt, p, *t, c);
  if (p.l3 != L3::kIpv4) return pass(c);

  // Established flows never need the address kind, so it is looked up only off that path.
  if (p.fragment || p.ip_options) {
    AddressKind kind = t->address_kind(p.dst);
    // Katran's choice: service traffic with options or fragments is dropped (ports are
    // unreliable, options could carry addresses NAT would not rewrite). The node's own
    // traffic, SNAT replies included, goes to the kernel, which reassembles and handles options.
    if (kind != AddressKind::kVip) return pass(c);
    return drop(c, p.fragment ? DropReason::kFragment : DropReason::kIpOptions);
  }

  if (p.l4_proto == proto::kTcp || p.l4_proto == proto::kUdp) {
    FlowKey key{p.src, p.dst, p.sport, p.dport, p.l4_proto, {0, 0, 0}};
    if (!hash) hash = flow_hash(key);
    Conntrack::Hit h = c.conntrack.lookup(key, hash, now);
    if (h.flow) {
      Flow& f = *h.flow;
      bool fresh_syn = (p.tcp_flags & (tcp_flag::kSyn | tcp_flag::kAck)) == tcp_flag::kSyn;
      bool ended = f.state == FlowState::kClosed || f.state == FlowState::kClosing;
      bool alive = f.generation == static_cast<uint32_t>(t->generation()) || revalidate(f, *t);
      bool drained = alive && (f.flags & flow_flag::kDraining) &&
                     now >= t->backend(f.backend).drain_deadline_ns;
      if (!alive || drained || (!h.reply && fresh_syn && ended)) {
        // The flow is over (or its reuse by a new connection starts one): choose afresh.
        c.conntrack.erase(&f);
        if (h.reply) return pass(c);
      } else {
        c.conntrack.touch(f, h.reply, p.tcp_flags, now);
        if (f.flags & flow_flag::kDraining)
          f.expires_ns = std::min(f.expires_ns, t->backend(f.backend).drain_deadline_ns);
        count(c, f, *t, pkt.len);
        apply_nat(pkt.data, p, f, h.reply);
        if (h.reply && (f.flags & flow_flag::kKernelClient)) {
          // The client is behind the node's kernel (a process or a pod on this node reached the
          // VIP through the exception path's tap, whose MAC is the port's): the answer goes back.
          std::memcpy(pkt.data, t->node().mac.data(), 6);
          c.stats.forwarded.add(1);
          return Verdict::pass();
        }
        // After NAT the destination is the backend (forward) or the client (reply).
        if (!set_next_hop(pkt.data, h.reply ? f.fwd.src : f.rev.src, *t, c))
          return drop(c, DropReason::kNoNeighbour);
        c.stats.forwarded.add(1);
        return Verdict::forward(t->node().tx_port);
      }
    }
    AddressKind kind = t->address_kind(p.dst);
    if (kind == AddressKind::kNone) return pass(c);
    const ServiceTable::Frontend* fe = t->lookup(p.dst, p.dport, p.l4_proto);
    if (!fe) return kind == AddressKind::kVip ? drop(c, DropReason::kNoService) : pass(c);
    return new_flow(pkt, p, key, now, *t, *fe, c);
  }
  AddressKind kind = t->address_kind(p.dst);
  if (kind == AddressKind::kNodeIp && t->node().own_node_ip && p.l4_proto == proto::kIcmp)
    return handle_icmp(pkt, p, *t, c);
  if (kind != AddressKind::kVip) return pass(c);
  if (p.l4_proto == proto::kIcmp) return handle_icmp(pkt, p, *t, c);
  return drop(c, DropReason::kUnknownL4Protocol);
}

// The common frame shape only (untagged IPv4 without options, TCP or UDP) and no validation:
// this feeds prefetches, and process() validates everything itself.
inline bool peek_hash(const PacketView& pkt, uint64_t* hash) {
  constexpr uint16_t kIp = kEthHdrLen, kL4 = kEthHdrLen + kIpv4HdrLen;
  if (pkt.len < kL4 + 4) return false;
  const uint8_t* d = pkt.data;
  if (load<uint16_t>(d + 12) != hton16(proto::kEtherIpv4) || d[kIp] != 0x45) return false;
  uint8_t pr = d[kIp + ip_off::kProto];
  if (pr != proto::kTcp && pr != proto::kUdp) return false;
  FlowKey k{load<uint32_t>(d + kIp + ip_off::kSrc),
            load<uint32_t>(d + kIp + ip_off::kDst),
            load<uint16_t>(d + kL4),
            load<uint16_t>(d + kL4 + 2),
            pr,
            {0, 0, 0}};
  *hash = flow_hash(k);
  return true;
}

}  // namespace

Verdict process(PacketView pkt, uint64_t now, LcoreContext& c) {
  return process_frame(pkt, now, c, 0);
}

void stage_burst(const PacketView* pkts, uint16_t n, BurstStage& s) {
  n = std::min(n, kMaxStagedBurst);
  s.n = n;
  s.slots_requested = s.flows_requested = false;
  for (uint16_t i = 0; i < n; ++i) __builtin_prefetch(pkts[i].data);
  for (uint16_t i = 0; i < n; ++i) s.known[i] = peek_hash(pkts[i], &s.hash[i]);
}

void process_staged(const PacketView* pkts, Verdict* out, uint64_t now_ns, LcoreContext& ctx,
                    const BurstStage& s, BurstStage* next, BurstStage* after) {
  Conntrack& ct = ctx.conntrack;
  const uint16_t m = s.n;
  // What no earlier burst did for this one: its slots all at once, then each flow kAhead
  // frames before its frame (a slot needs about that long to arrive).
  constexpr uint16_t kAhead = 8;
  const bool own_slots = !s.slots_requested, own_flows = !s.flows_requested;
  if (own_slots)
    for (uint16_t i = 0; i < m; ++i)
      if (s.known[i]) ct.prefetch_slot(s.hash[i]);
  if (own_flows)
    for (uint16_t i = 0; i < std::min(kAhead, m); ++i)
      if (s.known[i]) ct.prefetch_flow(s.hash[i]);
  // The bursts behind: `next`'s flows if its slots were requested (else its slots), and
  // `after`'s slots, frame i of each beside frame i of this one.
  const uint16_t nn = next ? next->n : 0, na = after ? after->n : 0;
  const bool next_flows = next && next->slots_requested;
  for (uint16_t i = 0; i < std::max({m, nn, na}); ++i) {
    if (i < na && after->known[i]) ct.prefetch_slot(after->hash[i]);
    if (i < nn && next->known[i]) {
      if (next_flows)
        ct.prefetch_flow(next->hash[i]);
      else
        ct.prefetch_slot(next->hash[i]);
    }
    if (i < m) {
      uint16_t j = static_cast<uint16_t>(i + kAhead);
      if (own_flows && j < m && s.known[j]) ct.prefetch_flow(s.hash[j]);
      out[i] = process_frame(pkts[i], now_ns, ctx, s.known[i] ? s.hash[i] : 0);
    }
  }
  if (next) {
    next->flows_requested = next_flows;
    next->slots_requested = true;
  }
  if (after) after->slots_requested = true;
}

uint16_t BurstQueue::pop(Verdict* out, uint64_t now_ns, LcoreContext& ctx) {
  BurstStage& s = stages_[first_];
  BurstStage* next = held_ > 1 ? &stages_[(first_ + 1) % kDepth] : nullptr;
  BurstStage* after = held_ > 2 ? &stages_[(first_ + 2) % kDepth] : nullptr;
  process_staged(views_[first_], out, now_ns, ctx, s, next, after);
  uint16_t n = s.n;
  s.n = 0;
  first_ = (first_ + 1) % kDepth;
  --held_;
  return n;
}

void process_burst(const PacketView* pkts, Verdict* out, uint16_t n, uint64_t now_ns,
                   LcoreContext& ctx) {
  BurstStage s;
  for (uint16_t base = 0; base < n; base += kMaxStagedBurst) {
    uint16_t m = static_cast<uint16_t>(std::min<int>(kMaxStagedBurst, n - base));
    stage_burst(pkts + base, m, s);
    process_staged(pkts + base, out + base, now_ns, ctx, s, nullptr, nullptr);
  }
}

bool kernel_frame_for_services(const PacketView& pkt, const ServiceTable& t) {
  Parsed p;
  if (parse(pkt, p) != DropReason::kNone) return false;  // the wire's business, as before
  if (p.l3 == L3::kArp) {
    const uint8_t* a = pkt.data + p.l3_off;
    return bswap16(load<uint16_t>(a + 6)) == 1 &&
           t.address_kind(load<uint32_t>(a + 24)) == AddressKind::kVip;
  }
  return p.l3 == L3::kIpv4 && t.address_kind(p.dst) == AddressKind::kVip;
}

uint16_t build_gratuitous_arp(uint8_t* buf, uint16_t cap, const Mac& mac, uint32_t ip) {
  // A gratuitous ARP is a broadcast request for our own address, sent from it.
  return build_arp_request(buf, cap, mac, hton32(ip), hton32(ip));
}

}  // namespace k8c::dp

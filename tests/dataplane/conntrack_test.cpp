#include "dataplane/conntrack.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <unordered_map>
#include <vector>

namespace k8c::dp {
namespace {

FlowKey key(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, uint8_t p = proto::kTcp) {
  return {hton32(src), hton32(dst), hton16(sport), hton16(dport), p, {0, 0, 0}};
}
FlowKey reply_of(const FlowKey& k, uint32_t backend) {
  return {hton32(backend), k.src, hton16(8080), k.sport, k.proto, {0, 0, 0}};
}

TEST(Conntrack, BothDirectionsFindTheFlow) {
  Conntrack ct(16);
  FlowKey f = key(ipv4(10, 0, 0, 1), 40000, ipv4(10, 96, 0, 1), 80);
  FlowKey r = reply_of(f, ipv4(10, 1, 0, 5));
  Flow* flow = ct.insert(f, r, 0, nullptr);
  ASSERT_NE(flow, nullptr);
  flow->expires_ns = 100;
  auto a = ct.lookup(f, 0);
  EXPECT_EQ(a.flow, flow);
  EXPECT_FALSE(a.reply);
  auto b = ct.lookup(r, 0);
  EXPECT_EQ(b.flow, flow);
  EXPECT_TRUE(b.reply);
  EXPECT_EQ(ct.size(), 1u);
}

TEST(Conntrack, ExpiredFlowsDisappearOnLookup) {
  Conntrack ct(16);
  FlowKey f = key(1, 1, 2, 2);
  Flow* flow = ct.insert(f, reply_of(f, 3), 0, nullptr);
  flow->expires_ns = 100;
  EXPECT_NE(ct.lookup(f, 99).flow, nullptr);
  EXPECT_EQ(ct.lookup(f, 100).flow, nullptr);
  EXPECT_EQ(ct.size(), 0u);
  EXPECT_EQ(ct.lookup(reply_of(f, 3), 0).flow, nullptr);
}

TEST(Conntrack, FullAndConflict) {
  Conntrack ct(2);
  Conntrack::InsertError err;
  FlowKey a = key(1, 1, 2, 2), b = key(1, 2, 2, 2), c = key(1, 3, 2, 2);
  Flow* first = ct.insert(a, reply_of(a, 9), 0, &err);
  ASSERT_NE(first, nullptr);
  first->expires_ns = 100;
  EXPECT_EQ(ct.insert(a, reply_of(c, 9), 0, &err), nullptr);
  EXPECT_EQ(err, Conntrack::InsertError::kConflict);
  EXPECT_EQ(ct.insert(c, reply_of(a, 9), 0, &err), nullptr);
  EXPECT_EQ(err, Conntrack::InsertError::kConflict);
  Flow* second = ct.insert(b, reply_of(b, 9), 0, &err);
  ASSERT_NE(second, nullptr);
  second->expires_ns = 100;
  EXPECT_EQ(ct.insert(c, reply_of(c, 9), 0, &err), nullptr);
  EXPECT_EQ(err, Conntrack::InsertError::kFull);
}

TEST(Conntrack, ExpiredHolderOfATupleGivesWay) {
  Conntrack ct(4);
  FlowKey a = key(1, 1, 2, 2), b = key(1, 1, 3, 3);
  ct.insert(a, reply_of(a, 9), 0, nullptr)->expires_ns = 10;
  Conntrack::InsertError err;
  // b's reply tuple equals a's: a conflict while a lives, not once it has expired.
  EXPECT_EQ(ct.insert(b, reply_of(a, 9), 5, &err), nullptr);
  EXPECT_EQ(err, Conntrack::InsertError::kConflict);
  EXPECT_NE(ct.insert(b, reply_of(a, 9), 10, &err), nullptr);
  EXPECT_EQ(ct.size(), 1u);
  EXPECT_EQ(ct.lookup(a, 10).flow, nullptr);
}

TEST(Conntrack, AgingSweepRemovesOnlyExpired) {
  Conntrack ct(64);
  for (uint16_t i = 0; i < 40; ++i) {
    FlowKey f = key(1, i, 2, 2);
    ct.insert(f, reply_of(f, 3), 0, nullptr)->expires_ns = i < 10 ? 50 : 500;
  }
  size_t removed = 0;
  for (int i = 0; i < 8; ++i) removed += ct.expire(100, 8);  // 64 slots in bounded steps
  EXPECT_EQ(removed, 10u);
  EXPECT_EQ(ct.size(), 30u);
  EXPECT_EQ(ct.lookup(key(1, 3, 2, 2), 100).flow, nullptr);
  EXPECT_NE(ct.lookup(key(1, 30, 2, 2), 100).flow, nullptr);
}

// 100 slots and a 1,000 ns pass: the sweep owes one slot per 10 ns of the clock.
std::unique_ptr<Conntrack> expired_table() {
  Timeouts t;
  t.sweep_ns = 1000;
  auto ct = std::make_unique<Conntrack>(100, t);
  for (uint16_t i = 0; i < 100; ++i) {
    FlowKey f = key(1, i, 2, 2);
    ct->insert(f, reply_of(f, 3), 0, nullptr)->expires_ns = 1;
  }
  return ct;
}

TEST(Conntrack, AgingFollowsTheClock) {
  auto table = expired_table();
  Conntrack& ct = *table;
  EXPECT_EQ(ct.age(9, 1000), 0u);     // less than one slot's time
  EXPECT_EQ(ct.age(500, 1000), 50u);  // half a pass: the first half of the slots
  EXPECT_EQ(ct.size(), 50u);
  EXPECT_EQ(ct.age(500, 1000), 0u);  // no time passed, nothing owed
  EXPECT_EQ(ct.age(1000, 1000), 50u);
  EXPECT_EQ(ct.size(), 0u);
}

TEST(Conntrack, AgingAfterAPauseOwesOnePassWithinItsBudget) {
  auto table = expired_table();
  Conntrack& ct = *table;
  // An hour without a call owes one whole pass, not 3.6 million of them, taken 8 slots a call.
  const uint64_t hour = 3600ULL * 1'000'000'000ULL;
  size_t removed = 0;
  int calls = 0;
  while (ct.size() > 0 && calls < 1000) {
    removed += ct.age(hour, 8);
    ++calls;
  }
  EXPECT_EQ(removed, 100u);
  EXPECT_EQ(calls, 13);  // ceil(100 / 8)
  EXPECT_EQ(ct.age(hour, 8), 0u);
}

// The flow prefetch must find a key's flow wherever its slot sits in the probe run, not only
// in the run's first slot. Three keys whose hashes agree in their low 16 bits share their first
// slot in any index of up to 65,536 slots, so the second and third sit further on.
TEST(Conntrack, FlowHintFindsKeysPastTheFirstSlotOfTheirRun) {
  std::unordered_map<uint32_t, std::vector<FlowKey>> by_home;
  std::vector<FlowKey> same;
  for (uint32_t i = 0; same.empty(); ++i) {
    FlowKey f = key(ipv4(10, 0, 0, 0) + i, 1000, 9, 80);
    auto& v = by_home[static_cast<uint32_t>(flow_hash(f)) & 0xffff];
    v.push_back(f);
    if (v.size() == 3) same = v;
  }
  Conntrack ct(16);
  for (const FlowKey& f : same) {
    Flow* flow = ct.insert(f, reply_of(f, 3), 0, nullptr);
    ASSERT_NE(flow, nullptr);
    flow->expires_ns = 100;
  }
  for (const FlowKey& f : same) {
    const Flow* flow = ct.lookup(f, 1).flow;
    ASSERT_NE(flow, nullptr);
    EXPECT_EQ(ct.flow_hint(flow_hash(f)), flow);
  }
}

// Random inserts and erases against a reference map: backward-shift deletion must never lose
// a key or leave a stale one behind.
TEST(Conntrack, ChurnMatchesReference) {
  Conntrack ct(512);
  std::unordered_map<uint32_t, Flow*> live;
  std::mt19937 rng(1);
  for (int step = 0; step < 50000; ++step) {
    uint32_t id = rng() % 2000;
    FlowKey f = key(id, static_cast<uint16_t>(id), 7, 80);
    auto it = live.find(id);
    if (it == live.end()) {
      Flow* fl = ct.insert(f, reply_of(f, 99), 0, nullptr);
      if (live.size() < 512) {
        ASSERT_NE(fl, nullptr);
        fl->expires_ns = UINT64_MAX;
        live[id] = fl;
      } else {
        ASSERT_EQ(fl, nullptr);
      }
    } else {
      ct.erase(it->second);
      live.erase(it);
    }
    if (step % 997 == 0) {
      for (uint32_t q = 0; q < 2000; ++q) {
        FlowKey k = key(q, static_cast<uint16_t>(q), 7, 80);
        bool want = live.count(q) != 0;
        ASSERT_EQ(ct.lookup(k, 0).flow != nullptr, want) << q;
        ASSERT_EQ(ct.lookup(reply_of(k, 99), 0).flow != nullptr, want) << q;
      }
    }
  }
  EXPECT_EQ(ct.size(), live.size());
}

TEST(Conntrack, TcpStateMachineDrivesTimeouts) {
  Timeouts t;
  t.tcp_syn_ns = 10;
  t.tcp_established_ns = 1000;
  t.tcp_closing_ns = 100;
  t.tcp_closed_ns = 5;
  Conntrack ct(4, t);
  FlowKey f = key(1, 1, 2, 2);
  Flow* fl = ct.insert(f, reply_of(f, 3), 0, nullptr);
  fl->state = FlowState::kSynSent;
  ct.touch(*fl, false, tcp_flag::kSyn, 0);
  EXPECT_EQ(fl->expires_ns, 10u);
  ct.touch(*fl, true, tcp_flag::kSyn | tcp_flag::kAck, 1);
  EXPECT_EQ(fl->state, FlowState::kEstablished);
  EXPECT_EQ(fl->expires_ns, 1001u);
  ct.touch(*fl, false, tcp_flag::kAck | tcp_flag::kFin, 2);
  EXPECT_EQ(fl->state, FlowState::kClosing);
  EXPECT_EQ(fl->expires_ns, 102u);
  ct.touch(*fl, true, tcp_flag::kRst, 3);
  EXPECT_EQ(fl->state, FlowState::kClosed);
  EXPECT_EQ(fl->expires_ns, 8u);
}

TEST(Conntrack, UdpTimeoutGrowsOnceAnswered) {
  Timeouts t;
  t.udp_ns = 30;
  t.udp_replied_ns = 300;
  Conntrack ct(4, t);
  FlowKey f = key(1, 1, 2, 53, proto::kUdp);
  Flow* fl = ct.insert(f, reply_of(f, 3), 0, nullptr);
  fl->state = FlowState::kUdp;
  ct.touch(*fl, false, 0, 0);
  EXPECT_EQ(fl->expires_ns, 30u);
  ct.touch(*fl, true, 0, 1);
  EXPECT_EQ(fl->state, FlowState::kUdpReplied);
  EXPECT_EQ(fl->expires_ns, 301u);
}

}  // namespace
}  // namespace k8c::dp

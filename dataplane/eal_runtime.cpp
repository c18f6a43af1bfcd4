#include "dataplane/eal_runtime.h"

#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>
#include <rte_ring.h>

#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "dataplane/mbuf_io.h"
#include "dataplane/steering.h"

namespace k8c::dp {

bool split_args(std::string_view s, std::vector<std::string>* out, std::string* error) {
  out->clear();
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) out->push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '\'') {
      size_t end = s.find('\'', i + 1);
      if (end == std::string_view::npos) {
        *error = "unbalanced ' quote";
        return false;
      }
      word.append(s.substr(i + 1, end - i - 1));
      in_word = true;
      i = end;
    } else if (c == '"') {
      size_t j = i + 1;
      for (; j < s.size() && s[j] != '"'; ++j) {
        if (s[j] == '\\' && j + 1 < s.size() &&
            (s[j + 1] == '"' || s[j + 1] == '\\' || s[j + 1] == '$' || s[j + 1] == '`'))
          ++j;
        word.push_back(s[j]);
      }
      if (j >= s.size()) {
        *error = "unbalanced \" quote";
        return false;
      }
      in_word = true;
      i = j;
    } else if (c == '\\') {
      if (i + 1 >= s.size()) {
        *error = "trailing backslash";
        return false;
      }
      word.push_back(s[++i]);
      in_word = true;
    } else {
      word.push_back(c);
      in_word = true;
    }
  }
  if (in_word) out->push_back(std::move(word));
  return true;
}

namespace {

constexpr uint16_t kBurst = 32;
static_assert(kBurst <= kMaxStagedBurst, "a received burst is staged whole");
constexpr unsigned kPoolCache = 256;
// The tap's rings: kernel traffic is the node's own (ARP, ssh, health checks), a trickle.
constexpr uint16_t kKernelDescriptors = 512;
// Under load the NIC burst comes back full and the tap (a read() system call per poll) is
// polled only every this many iterations; when the NIC is not saturated, every iteration.
constexpr uint64_t kKernelPollEvery = 8;
// Software steering (steering.h): each lcore's handoff ring, and the most lcores it serves.
constexpr unsigned kSteerRing = 1024;
constexpr unsigned kMaxSteerLcores = 16;

// A symmetric Toeplitz key (the 0x6d5a pattern): both directions of a flow hash alike, so a
// reply reaches the lcore whose conntrack table holds the flow, as the issue requires.
uint8_t kSymmetricRssKey[40] = {
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
};

std::string errno_text(int e) {
  return rte_strerror(e < 0 ? -e : e);
}

std::string port_label(uint16_t port) {
  char name[RTE_ETH_NAME_MAX_LEN] = {};
  if (rte_eth_dev_get_name_by_port(port, name) != 0) return std::to_string(port);
  return std::to_string(port) + " (" + name + ")";
}

// The ports the EAL found, for error messages: "0 net_null0, 1 net_ring0" or "none".
std::string port_list() {
  std::string s;
  uint16_t p;
  RTE_ETH_FOREACH_DEV(p) {
    char name[RTE_ETH_NAME_MAX_LEN] = {};
    rte_eth_dev_get_name_by_port(p, name);
    if (!s.empty()) s += ", ";
    s += std::to_string(p) + " " + name;
  }
  return s.empty() ? "none" : s;
}

// The ethdev names of the --vdev arguments (the part before the first comma). A vdev whose
// driver fails to probe does not fail rte_eal_init (DPDK logs it and carries on), so the
// runtime checks each one for a port itself to report it by name.
std::vector<std::string> net_vdevs(const std::vector<std::string>& args) {
  std::vector<std::string> names;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string spec;
    if (args[i].rfind("--vdev=", 0) == 0)
      spec = args[i].substr(7);
    else if (args[i] == "--vdev" && i + 1 < args.size())
      spec = args[i + 1];
    else
      continue;
    spec = spec.substr(0, spec.find(','));
    if (spec.rfind("net_", 0) == 0) names.push_back(spec);
  }
  return names;
}

// rte_eal_init reports why it failed only as text on stderr (getopt's complaint, an EAL log
// line, a driver's message) and as a bare errno. To name the problem in one line, stderr is
// captured into a memfd while it runs, then written out unchanged, and searched.
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    saved_ = dup(STDERR_FILENO);
    fd_ = memfd_create("k8c-eal-stderr", MFD_CLOEXEC);
    if (saved_ < 0 || fd_ < 0 || dup2(fd_, STDERR_FILENO) < 0) restore();
  }
  ~StderrCapture() { restore(); }
  // Restores stderr, replays what was captured to it and returns that text.
  std::string finish() {
    std::fflush(stderr);
    std::string text;
    if (fd_ >= 0) {
      char buf[4096];
      ssize_t n;
      for (off_t off = 0; (n = pread(fd_, buf, sizeof buf, off)) > 0; off += n) text.append(buf, n);
    }
    restore();
    if (!text.empty() && write(STDERR_FILENO, text.data(), text.size()) < 0) {
      // Nothing better to do: the captured text is still returned for the error line.
    }
    return text;
  }

 private:
  void restore() {
    if (saved_ >= 0) {
      dup2(saved_, STDERR_FILENO);
      close(saved_);
      saved_ = -1;
    }
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  int saved_ = -1;
  int fd_ = -1;
};

// The first captured line that reads like the reason for a failure, without the program or
// "EAL: " prefix; empty when there is none.
std::string failure_reason(const std::string& text, std::string_view must_contain = {}) {
  static constexpr std::string_view kMarkers[] = {
      "unrecognized",   "invalid", "Invalid", "requires an argument",
      "not compatible", "Cannot",  "cannot",  "failed",
      "Error",          "error",   "No such", "not allowed"};
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string_view line(text.data() + pos, eol - pos);
    pos = eol + 1;
    if (!must_contain.empty() && line.find(must_contain) == std::string_view::npos) continue;
    bool hit = false;
    for (auto m : kMarkers) hit = hit || line.find(m) != std::string_view::npos;
    if (!hit) continue;
    for (std::string_view prefix : {"k8c-dataplane: ", "EAL: "})
      if (line.substr(0, prefix.size()) == prefix) line.remove_prefix(prefix.size());
    if (!must_contain.empty()) {  // "fn(): net_x0: reason" -> "reason"
      size_t at = line.find(std::string(must_contain) + ": ");
      if (at != std::string_view::npos) line.remove_prefix(at + must_contain.size() + 2);
    }
    return std::string(line);
  }
  return {};
}

// rte_eal_init can run once per process; a second call fails or corrupts EAL state.
bool g_eal_used = false;

}  // namespace

struct EalRuntime::Poller {
  explicit Poller(const LcoreOptions& o) : ctx(o) {}
  LcoreContext ctx;
  Rcu<ServiceTable>* tables = nullptr;
  uint16_t port = 0;
  uint16_t queue = 0;
  unsigned lcore_id = 0;
  Rcu<NeighbourTable>* neighbours = nullptr;
  rte_mempool* pool = nullptr;
  const std::atomic<bool>* stop = nullptr;
  uint64_t duration_tsc = 0;
  uint64_t epoch_tsc = 0;  // the runtime's clock origin, shared by every lcore
  // TSC to nanoseconds as a 32.32 fixed-point multiplier, so the loop converts with one
  // multiply instead of a division.
  uint64_t ns_per_tsc_q32 = 0;
  // The runtime's clock, in nanoseconds since epoch_tsc, at TSC value `tsc`.
  uint64_t now_ns(uint64_t tsc) const {
    return static_cast<uint64_t>(
        (static_cast<unsigned __int128>(tsc - epoch_tsc) * ns_per_tsc_q32) >> 32);
  }
  Counter tx_failed, not_ours, iterations, busy_iterations, busy_cycles, total_cycles;
  Counter to_kernel, from_kernel, steered, idle_sleeps;
  uint64_t idle_sleep_ns = 0;  // RuntimeOptions::idle_sleep_us
  bool idle_yield = false;
  // Frames other lcores received for flows this one owns (multi-queue only; else null).
  rte_ring* inbox = nullptr;
  std::vector<rte_ring*> inboxes;  // every lcore's, by lcore index
  bool kernel = false;             // this lcore owns queue `queue` of the exception path's tap
  uint16_t kport = kNoPort;        // the tap's port id; kNoPort without an exception path
  NeighbourEvents events;
  FrameMailbox mailbox;  // read by this lcore only between bursts
};

// What the kernel sent on the tap. Frames for a Service (the node routes the service CIDR into
// the tap: pipeline.h, kernel_frame_for_services) go through the pipeline, on the lcore owning
// their flow; the rest (the kernel's ARP, ICMP, TCP from the node address) leave by the port as
// they are: the kernel resolved its own next hop. Between bursts, so `frames` may be reused.
void EalRuntime::take_from_kernel(Poller& p, rte_mbuf** frames, uint16_t k, uint64_t tsc) {
  p.from_kernel.add(k);
  const ServiceTable* t = p.tables->current();
  const unsigned lcores = static_cast<unsigned>(p.inboxes.size());
  rte_mbuf* wire[kBurst];
  rte_mbuf* back[kBurst];
  rte_mbuf* mine[kBurst];
  PacketView views[kBurst];
  Verdict verdicts[kBurst];
  uint16_t nwire = 0, nback = 0, nmine = 0;
  for (uint16_t i = 0; i < k; ++i) {
    PacketView v = view_of(frames[i], p.kport);
    if (!t || !kernel_frame_for_services(v, *t)) {
      wire[nwire++] = frames[i];
      continue;
    }
    unsigned owner = lcores > 1 ? flow_owner(v.data, v.len, *t, lcores, p.queue) : p.queue;
    if (owner == p.queue) {
      views[nmine] = v;
      mine[nmine++] = frames[i];
    } else if (rte_ring_mp_enqueue(p.inboxes[owner], frames[i]) == 0) {
      p.steered.add(1);
    } else {
      p.tx_failed.add(1);
      rte_pktmbuf_free(frames[i]);
    }
  }
  if (nmine) {
    p.ctx.table = t;
    p.ctx.neighbours = p.neighbours->current();
    process_burst(views, verdicts, nmine, p.now_ns(tsc), p.ctx);
    for (uint16_t i = 0; i < nmine; ++i) {
      switch (verdicts[i].action) {
        case Action::kForward:
          if (verdicts[i].port == p.port) {
            wire[nwire++] = mine[i];
            break;
          }
          p.not_ours.add(1);
          rte_pktmbuf_free(mine[i]);
          break;
        case Action::kReply:  // an ARP answer for a VIP: back to the kernel that asked
          back[nback++] = mine[i];
          break;
        case Action::kPassToKernel:  // not the pipeline's after all: as the kernel sent it
          wire[nwire++] = mine[i];
          break;
        case Action::kDrop:
          rte_pktmbuf_free(mine[i]);
          break;
      }
    }
  }
  transmit(p.port, p.queue, wire, nwire, p.tx_failed);
  p.to_kernel.add(transmit(p.kport, p.queue, back, nback, p.tx_failed));
}

int EalRuntime::poll_loop(void* arg) {
  Poller& p = *static_cast<Poller*>(arg);
  LcoreContext& ctx = p.ctx;
  // Up to three bursts in flight (pipeline.h, BurstQueue): under load each poll receives one and
  // processes the one received two polls before, while the two between have their flows and
  // their conntrack slots requested. rxb holds each queue slot's mbufs.
  BurstQueue q;
  rte_mbuf* rxb[BurstQueue::kDepth][kBurst];
  rte_mbuf* tx[kBurst];
  rte_mbuf* release[kBurst];
  rte_mbuf* kernel[kBurst];
  Verdict verdicts[kBurst];
  const unsigned reader = p.queue;
  const uint64_t start = rte_rdtsc();
  const uint64_t end = p.duration_tsc ? start + p.duration_tsc : UINT64_MAX;
  ctx.neighbour_events = &p.events;

  p.tables->online(reader);
  p.neighbours->online(reader);
  uint64_t last = start;
  const unsigned lcores = static_cast<unsigned>(p.inboxes.size());
  rte_mbuf* handoff[kMaxSteerLcores][kBurst];
  uint16_t nhandoff[kMaxSteerLcores] = {};
  // Short sleeps must be short: the default 50 us timer slack would stretch a 5 us one tenfold.
  if (p.idle_sleep_ns) prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  for (;;) {
    uint64_t tsc = rte_rdtsc();
    // Stopping: nothing more is received; a held burst is processed first, then the loop ends.
    const bool stopping = p.stop->load(std::memory_order_relaxed) || tsc >= end;
    if (stopping && q.held() == 0) break;
    p.iterations.add(1);
    p.total_cycles.add(tsc - last);
    last = tsc;
    if (!p.mailbox.empty()) {
      // Frames from the control thread (ARP requests): rare, so one mbuf at a time is fine.
      ControlFrame cf;
      while (p.mailbox.pop(&cf)) {
        rte_mbuf* m = rte_pktmbuf_alloc(p.pool);
        if (!m) break;
        char* d = rte_pktmbuf_append(m, cf.len);
        if (!d) {
          rte_pktmbuf_free(m);
          break;
        }
        std::memcpy(d, cf.data, cf.len);
        if (rte_eth_tx_burst(p.port, p.queue, &m, 1) != 1) {
          p.tx_failed.add(1);
          rte_pktmbuf_free(m);
        }
      }
    }
    const unsigned in = q.free_slot();  // q.held() < kDepth here: the last iteration popped
    rte_mbuf** rx = rxb[in];
    const uint16_t nic_n = stopping ? 0 : rte_eth_rx_burst(p.port, p.queue, rx, kBurst);
    uint16_t n = nic_n;
    if (p.inbox && !stopping) {
      // Keep what this lcore owns, hand the rest to its owners, then take what the others
      // handed here, up to a burst.
      const ServiceTable* t = p.tables->current();
      uint16_t keep = 0;
      for (uint16_t i = 0; i < n; ++i) {
        unsigned owner = t ? flow_owner(rte_pktmbuf_mtod(rx[i], const uint8_t*), rx[i]->data_len,
                                        *t, lcores, p.queue)
                           : p.queue;
        if (owner == p.queue)
          rx[keep++] = rx[i];
        else
          handoff[owner][nhandoff[owner]++] = rx[i];
      }
      for (unsigned l = 0; l < lcores; ++l) {
        if (!nhandoff[l]) continue;
        unsigned put = rte_ring_mp_enqueue_burst(p.inboxes[l], reinterpret_cast<void**>(handoff[l]),
                                                 nhandoff[l], nullptr);
        p.steered.add(put);
        if (put < nhandoff[l]) {  // the owner is behind: like a full TX ring
          p.tx_failed.add(nhandoff[l] - put);
          rte_pktmbuf_free_bulk(handoff[l] + put, nhandoff[l] - put);
        }
        nhandoff[l] = 0;
      }
      n = static_cast<uint16_t>(
          keep + rte_ring_sc_dequeue_burst(p.inbox, reinterpret_cast<void**>(rx + keep),
                                           kBurst - keep, nullptr));
    }
    if (n != 0) {
      PacketView* views = q.views(in);
      for (uint16_t i = 0; i < n; ++i) views[i] = view_of(rx[i], p.kport);
      q.push(n);  // hashes the frames and requests their first bytes
    }
    // The oldest burst is processed when the queue is full, or when the poll found nothing (so
    // no frame waits for traffic that may never come).
    if (q.held() == BurstQueue::kDepth || (n == 0 && q.held() != 0)) {
      rte_mbuf** hb = rxb[q.oldest()];
      uint16_t ntx = 0, nrel = 0, nkernel = 0;
      ctx.table = p.tables->current();
      ctx.neighbours = p.neighbours->current();
      const uint64_t now_ns = p.now_ns(tsc);
      const uint16_t hn = q.pop(verdicts, now_ns, ctx);
      for (uint16_t i = 0; i < hn; ++i) {
        const Verdict& v = verdicts[i];
        if (v.action == Action::kReply || (v.action == Action::kForward && v.port == p.port)) {
          tx[ntx++] = hb[i];
        } else if (v.action == Action::kPassToKernel && p.kernel) {
          kernel[nkernel++] = hb[i];
        } else {
          // kPassToKernel without an exception path: frames that are not ours are freed and
          // counted. kForward to a port this runtime does not own cannot be sent either.
          if (v.action != Action::kDrop) p.not_ours.add(1);
          release[nrel++] = hb[i];
        }
      }
      transmit(p.port, p.queue, tx, ntx, p.tx_failed);
      p.to_kernel.add(transmit(p.kport, p.queue, kernel, nkernel, p.tx_failed));
      if (nrel) rte_pktmbuf_free_bulk(release, nrel);
      p.busy_iterations.add(1);
      p.busy_cycles.add(rte_rdtsc() - tsc);
    }
    uint16_t k = 0;
    if (p.kernel && (nic_n < kBurst || p.iterations.get() % kKernelPollEvery == 0)) {
      // What the kernel sends on the tap: see take_from_kernel.
      k = rte_eth_rx_burst(p.kport, p.queue, kernel, kBurst);
      if (k) take_from_kernel(p, kernel, k, tsc);
    }
    // Every turn, idle ones too: flows expire on time when traffic stops.
    maintain(p.now_ns(tsc), ctx);
    ctx.table = nullptr;
    ctx.neighbours = nullptr;
    p.tables->quiescent(reader);  // nothing read from the tables survives this point
    p.neighbours->quiescent(reader);
    if (p.idle_sleep_ns && n == 0 && k == 0) {
      // Idle: give the CPU away for a moment (after the quiescent point, so no RCU writer
      // waits for the sleep). The ring fills meanwhile; the next poll takes a full burst.
      timespec ts{0, static_cast<long>(p.idle_sleep_ns)};
      nanosleep(&ts, nullptr);
      p.idle_sleeps.add(1);
    } else if (p.idle_yield && n == 0 && k == 0) {
      sched_yield();
      p.idle_sleeps.add(1);
    }
  }
  p.tables->offline(reader);
  p.neighbours->offline(reader);
  return 0;
}

bool EalRuntime::poll_neighbour_event(NeighbourEvent* ev) {
  for (auto& p : pollers_)
    if (p->events.ring.pop(ev)) return true;
  return false;
}

bool EalRuntime::send_frame(const ControlFrame& frame) {
  if (pollers_.empty() || frame.len > sizeof frame.data) return false;
  return pollers_[0]->mailbox.push(frame);
}

uint64_t EalRuntime::now_ns() const {
  return static_cast<uint64_t>(
      (static_cast<unsigned __int128>(rte_rdtsc() - epoch_tsc_) * ns_per_tsc_q32_) >> 32);
}

std::vector<LcoreLive> EalRuntime::live() const {
  std::vector<LcoreLive> out;
  for (const auto& p : pollers_)
    out.push_back({p->lcore_id, p->queue, &p->ctx.stats, &p->iterations, &p->busy_iterations,
                   &p->busy_cycles, &p->total_cycles, &p->tx_failed, &p->not_ours,
                   &p->ctx.conntrack, &p->to_kernel, &p->from_kernel, &p->steered});
  return out;
}

EalRuntime::EalRuntime() = default;

EalRuntime::~EalRuntime() {
  shutdown();
}

std::string EalRuntime::port_name() const {
  return port_label(port_);
}

bool EalRuntime::start(const RuntimeOptions& o, std::string* error) {
  if (g_eal_used) {
    *error = "the DPDK EAL can be initialised only once per process";
    return false;
  }
  std::vector<std::string> args;
  std::string split_error;
  if (!split_args(o.eal_args, &args, &split_error)) {
    *error = "--eal: " + split_error + " in \"" + o.eal_args + "\"";
    return false;
  }
  for (const auto& a : args) {
    // EAL's help handler calls exit(0) from inside rte_eal_init, which would end the process
    // with success and no cleanup.
    if (a == "-h" || a == "--help") {
      *error = "--eal: " + a + " is not accepted (see `dpdk-testpmd --help` for EAL options)";
      return false;
    }
  }
  argv_storage_.clear();
  argv_storage_.push_back("k8c-dataplane");
  argv_storage_.insert(argv_storage_.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage_) argv.push_back(a.data());
  argv.push_back(nullptr);

  g_eal_used = true;
  StderrCapture capture;
  int parsed = rte_eal_init(static_cast<int>(argv_storage_.size()), argv.data());
  int init_errno = rte_errno;
  std::string eal_output = capture.finish();
  if (parsed < 0) {
    std::string reason = failure_reason(eal_output);
    *error = "--eal \"" + o.eal_args + "\": " +
             (reason.empty() ? "EAL initialisation failed: " + errno_text(init_errno) : reason);
    return false;
  }
  eal_ready_ = true;
  if (static_cast<size_t>(parsed) + 1 < argv_storage_.size()) {
    // rte_eal_init permutes argv; what follows the options it consumed is what it did not.
    *error = "--eal: unexpected argument '" + std::string(argv[parsed + 1]) + "'";
    shutdown();
    return false;
  }
  for (const auto& name : net_vdevs(args)) {
    uint16_t id;
    if (rte_eth_dev_get_port_by_name(name.c_str(), &id) != 0) {
      std::string reason = failure_reason(eal_output, name);
      *error = "--eal: vdev " + name + " did not start: " +
               (reason.empty() ? "its driver rejected it (see the EAL messages above)" : reason);
      shutdown();
      return false;
    }
  }
  if (!rte_eth_dev_is_valid_port(o.port_id)) {
    *error = "--port-id " + std::to_string(o.port_id) +
             ": no such port (ports found: " + port_list() + ")";
    shutdown();
    return false;
  }
  port_ = o.port_id;
  if (!configure_port(o, error)) {
    shutdown();
    return false;
  }
  return true;
}

bool EalRuntime::configure_port(const RuntimeOptions& o, std::string* error) {
  const std::string label = "port " + port_label(port_);
  rte_eth_dev_info info;
  int rc = rte_eth_dev_info_get(port_, &info);
  if (rc != 0) {
    *error = label + ": cannot read device info: " + errno_text(rc);
    return false;
  }
  // One queue pair per polling lcore: the workers, or the main lcore when there are none.
  unsigned pollers = std::max(1u, rte_lcore_count() - 1);
  unsigned q = std::min<unsigned>({pollers, info.max_rx_queues, info.max_tx_queues});

  rte_eth_conf conf{};
  uint64_t rss_hf =
      (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
  // af_packet's queues are sockets in one kernel fanout group: the kernel spreads frames over
  // all of them, RSS or not, so every one of them needs a polling lcore.
  bool kernel_fanout = info.driver_name && std::string_view(info.driver_name) == "net_af_packet";
  if (kernel_fanout && info.max_rx_queues > q) {
    *error =
        label + ": the kernel spreads frames over its " + std::to_string(info.max_rx_queues) +
        " queues (qpairs), but only " + std::to_string(q) +
        " lcore(s) poll: give the EAL one worker lcore per queue (-l/--lcores) or lower qpairs";
    return false;
  }
  if (q > 1 && rss_hf == 0 && !kernel_fanout) q = 1;  // without RSS, extra queues get nothing
  if (q > 1 && rss_hf) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
    if (info.hash_key_size == sizeof kSymmetricRssKey) {
      conf.rx_adv_conf.rss_conf.rss_key = kSymmetricRssKey;
      conf.rx_adv_conf.rss_conf.rss_key_len = sizeof kSymmetricRssKey;
    }
  }
  rc = rte_eth_dev_configure(port_, q, q, &conf);
  if (rc != 0) {
    *error = label + ": configure with " + std::to_string(q) + " queues failed: " + errno_text(rc);
    return false;
  }
  port_configured_ = true;
  uint16_t rxd = o.rx_descriptors, txd = o.tx_descriptors;
  rc = rte_eth_dev_adjust_nb_rx_tx_desc(port_, &rxd, &txd);
  if (rc != 0) {
    *error = label + ": descriptor counts rejected: " + errno_text(rc);
    return false;
  }

  int socket = rte_eth_dev_socket_id(port_);
  if (socket < 0) socket = static_cast<int>(rte_socket_id());  // vdevs have no NUMA node
  unsigned kernel_mbufs = o.kernel_port.empty() ? 0 : 2u * kKernelDescriptors + kBurst;
  unsigned steer_mbufs = q > 1 ? kSteerRing : 0;
  unsigned mbufs = std::max(
      8191u, q * (rxd + txd + kernel_mbufs + steer_mbufs + 4 * kBurst + kPoolCache) + 1024);
  std::string pool_name = "k8c_mbuf_p" + std::to_string(port_);
  pool_ = rte_pktmbuf_pool_create(pool_name.c_str(), mbufs, kPoolCache, 0,
                                  RTE_MBUF_DEFAULT_BUF_SIZE, socket);
  if (!pool_) {
    *error = label + ": cannot allocate " + std::to_string(mbufs) +
             " mbufs: " + errno_text(rte_errno) + " (raise EAL -m)";
    return false;
  }
  for (uint16_t i = 0; i < q; ++i) {
    rc = rte_eth_rx_queue_setup(port_, i, rxd, static_cast<unsigned>(socket), nullptr, pool_);
    if (rc == 0) rc = rte_eth_tx_queue_setup(port_, i, txd, static_cast<unsigned>(socket), nullptr);
    if (rc != 0) {
      *error = label + ": queue " + std::to_string(i) + " setup failed: " + errno_text(rc);
      return false;
    }
  }
  rc = rte_eth_dev_start(port_);
  if (rc != 0) {
    *error = label + ": cannot start: " + errno_text(rc);
    return false;
  }
  port_started_ = true;
  // Service traffic is addressed to VIPs, not to this port's MAC. Some PMDs cannot do it.
  (void)rte_eth_promiscuous_enable(port_);

  rte_ether_addr mac;
  if (rte_eth_macaddr_get(port_, &mac) == 0) std::copy_n(mac.addr_bytes, 6, node_.mac.begin());
  node_.tx_port = port_;
  node_.lcores = q;
  // SNAT source ports stay below the NodePort range (30000-32767) and the kernel's ephemeral
  // ports (32768-60999): a reply to a masqueraded flow is then never mistaken for a new NodePort
  // connection by the steering (steering.h), nor for a reply to the kernel's own connections
  // from the node address (--kernel-port).
  node_.snat_port_min = 1024;
  node_.snat_port_max = 29999;
  queues_ = static_cast<uint16_t>(q);
  if (!o.kernel_port.empty() && !create_kernel_port(o, queues_, error)) return false;

  std::string build_error;
  auto empty = ServiceTable::build(node_, {}, &build_error);
  if (!empty) {
    *error = "cannot build the initial service table: " + build_error;
    return false;
  }
  tables_ = std::make_unique<Rcu<ServiceTable>>(q);
  tables_->publish(std::move(empty));
  neighbours_ = std::make_unique<Rcu<NeighbourTable>>(q);
  neighbours_->publish(NeighbourTable::build(0, 0, nullptr, {}));
  tsc_hz_ = std::max<uint64_t>(1, rte_get_tsc_hz());
  ns_per_tsc_q32_ =
      static_cast<uint64_t>((static_cast<unsigned __int128>(1'000'000'000) << 32) / tsc_hz_);
  epoch_tsc_ = rte_rdtsc();
  if (q > kMaxSteerLcores) {
    *error = label + ": " + std::to_string(q) + " polling lcores; at most " +
             std::to_string(kMaxSteerLcores) + " are supported";
    return false;
  }
  for (uint16_t i = 0; q > 1 && i < q; ++i) {
    std::string name = "k8c_steer_p" + std::to_string(port_) + "_" + std::to_string(i);
    rte_ring* r = rte_ring_create(name.c_str(), kSteerRing, socket, RING_F_SC_DEQ);
    if (!r) {
      *error = label + ": cannot create steering ring " + std::to_string(i) + ": " +
               errno_text(rte_errno) + " (raise EAL -m)";
      return false;
    }
    inboxes_.push_back(r);
  }
  for (uint16_t i = 0; i < q; ++i) {
    LcoreOptions lo = o.lcore;
    lo.id = i;
    auto p = std::make_unique<Poller>(lo);
    p->tables = tables_.get();
    p->neighbours = neighbours_.get();
    p->pool = pool_;
    p->epoch_tsc = epoch_tsc_;
    p->ns_per_tsc_q32 = ns_per_tsc_q32_;
    p->port = port_;
    p->queue = i;
    p->kernel = kernel_started_ && i < kernel_queues_;
    p->kport = kernel_started_ ? kport_ : kNoPort;
    p->idle_sleep_ns = uint64_t{o.idle_sleep_us} * 1000;
    p->idle_yield = o.idle_yield;
    if (q > 1) {
      p->inbox = inboxes_[i];
      p->inboxes = inboxes_;
    }
    pollers_.push_back(std::move(p));
  }
  return true;
}

bool kernel_port_name_ok(std::string_view name, std::string* why) {
  if (name.empty() || name.size() > 15) {
    *why = "an interface name has 1 to 15 characters";
    return false;
  }
  for (char c : name) {
    // Devargs split on ',' and '='; the kernel refuses '/', ':' is an alias separator.
    if (c <= ' ' || c == ',' || c == '=' || c == '/' || c == ':' || c == 0x7f) {
      *why = "an interface name cannot contain '" + std::string(1, c) + "'";
      return false;
    }
  }
  return true;
}

bool EalRuntime::create_kernel_port(const RuntimeOptions& o, uint16_t queues, std::string* error) {
  const std::string label = "--kernel-port " + o.kernel_port;
  std::string why;
  if (!kernel_port_name_ok(o.kernel_port, &why)) {
    *error = label + ": " + why;
    return false;
  }
  // The tap gets the NIC port's MAC: frames from the wire addressed to the node are addressed
  // to that MAC, and the kernel's own frames leave with it as their source.
  char mac[RTE_ETHER_ADDR_FMT_SIZE];
  rte_ether_addr ea;
  std::copy_n(node_.mac.begin(), 6, ea.addr_bytes);
  rte_ether_format_addr(mac, sizeof mac, &ea);
  kernel_vdev_ = "net_tap_k8c" + std::to_string(port_);
  // rte_dev_probe, not rte_vdev_init: the vdev bus is a driver plugin, not a library we link.
  std::string devargs = kernel_vdev_ + ",iface=" + o.kernel_port + ",mac=" + mac;
  StderrCapture capture;
  int rc = rte_dev_probe(devargs.c_str());
  std::string output = capture.finish();
  if (rc != 0) {
    std::string reason = failure_reason(output);
    *error =
        label + ": cannot create the tap: " +
        (reason.empty() ? errno_text(rc) + " (is /dev/net/tun there, and the name free?)" : reason);
    return false;
  }
  kernel_created_ = true;
  if (rte_eth_dev_get_port_by_name(kernel_vdev_.c_str(), &kport_) != 0) {
    *error = label + ": the tap was created but has no port";
    return false;
  }
  rte_eth_dev_info info;
  rc = rte_eth_dev_info_get(kport_, &info);
  if (rc != 0) {
    *error = label + ": cannot read device info: " + errno_text(rc);
    return false;
  }
  kernel_device_ = info.device;
  uint16_t kq = std::min<uint16_t>({queues, info.max_rx_queues, info.max_tx_queues});
  rte_eth_conf conf{};
  rc = rte_eth_dev_configure(kport_, kq, kq, &conf);
  if (rc != 0) {
    *error = label + ": configure with " + std::to_string(kq) + " queues failed: " + errno_text(rc);
    return false;
  }
  kernel_configured_ = true;
  uint16_t rxd = kKernelDescriptors, txd = kKernelDescriptors;
  (void)rte_eth_dev_adjust_nb_rx_tx_desc(kport_, &rxd, &txd);
  unsigned socket = static_cast<unsigned>(std::max(0, rte_eth_dev_socket_id(port_)));
  for (uint16_t i = 0; i < kq; ++i) {
    rc = rte_eth_rx_queue_setup(kport_, i, rxd, socket, nullptr, pool_);
    if (rc == 0) rc = rte_eth_tx_queue_setup(kport_, i, txd, socket, nullptr);
    if (rc != 0) {
      *error = label + ": queue " + std::to_string(i) + " setup failed: " + errno_text(rc);
      return false;
    }
  }
  rc = rte_eth_dev_start(kport_);  // brings the kernel interface up
  if (rc != 0) {
    *error = label + ": cannot start: " + errno_text(rc);
    return false;
  }
  kernel_started_ = true;
  kernel_queues_ = kq;
  return true;
}

void EalRuntime::run(const std::atomic<bool>& stop, uint64_t duration_ns) {
  if (pollers_.empty()) return;
  const uint64_t duration_tsc =
      static_cast<uint64_t>(static_cast<unsigned __int128>(duration_ns) * tsc_hz_ / 1'000'000'000);
  for (auto& p : pollers_) {
    p->stop = &stop;
    p->duration_tsc = duration_tsc;
  }
  size_t next = 0;
  unsigned lcore;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    if (next == pollers_.size()) break;  // more workers than the port has queues
    pollers_[next]->lcore_id = lcore;
    if (rte_eal_remote_launch(poll_loop, pollers_[next].get(), lcore) == 0) ++next;
  }
  if (next == 0) {  // no workers: the main lcore polls
    pollers_[0]->lcore_id = rte_lcore_id();
    poll_loop(pollers_[0].get());
    next = 1;
  } else {
    // The main lcore has no queue: it waits for the stop without spinning (rte_eal_wait_lcore
    // busy-waits), leaving its CPU to the control threads or to a worker sharing it.
    const uint64_t end = duration_tsc ? rte_rdtsc() + duration_tsc : UINT64_MAX;
    while (!stop.load(std::memory_order_relaxed) && rte_rdtsc() < end) usleep(2000);
  }
  rte_eal_mp_wait_lcore();

  reports_.clear();
  for (size_t i = 0; i < next; ++i) {
    const Poller& p = *pollers_[i];
    const LcoreStats& s = p.ctx.stats;
    reports_.push_back({p.lcore_id, p.queue, s.rx_packets.get(), s.forwarded.get(), s.replied.get(),
                        s.passed.get(), s.total_drops(), p.tx_failed.get(), p.not_ours.get(),
                        p.to_kernel.get(), p.from_kernel.get(), p.steered.get(),
                        p.idle_sleeps.get(), p.iterations.get()});
  }
}

namespace {

// Undoes as much of a port's start-up as happened, once.
void stop_and_close(uint16_t port, bool& started, bool& configured) {
  if (std::exchange(started, false)) rte_eth_dev_stop(port);
  if (std::exchange(configured, false)) rte_eth_dev_close(port);
}

}  // namespace

void EalRuntime::shutdown() {
  stop_and_close(kport_, kernel_started_, kernel_configured_);
  if (kernel_created_) {
    if (kernel_device_) rte_dev_remove(kernel_device_);  // removes the kernel interface
    kernel_device_ = nullptr;
    kernel_created_ = false;
  }
  stop_and_close(port_, port_started_, port_configured_);
  pollers_.clear();
  for (rte_ring* r : inboxes_) {
    // Frames still queued between lcores go back to the pool before it is freed.
    void* m;
    while (rte_ring_sc_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    rte_ring_free(r);
  }
  inboxes_.clear();
  tables_.reset();
  neighbours_.reset();
  if (pool_) {
    rte_mempool_free(pool_);
    pool_ = nullptr;
  }
  if (eal_ready_) {
    rte_eal_cleanup();
    eal_ready_ = false;
  }
}

}  // namespace k8c::dp

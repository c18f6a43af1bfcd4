// The DPDK runtime around the EAL-free packet core: EAL start-up from an argument string, one
// port with one RX/TX queue pair per polling lcore (RSS across them), the mbuf pool, the burst
// loop that feeds pipeline.h's BurstQueue (two bursts held back, so that their conntrack misses
// overlap the bursts before them), and an orderly shutdown.
//
// The kernel exception path (optional, RuntimeOptions::kernel_port): a net_tap port the runtime
// creates, whose kernel side is an interface of that name with the NIC port's MAC, so the
// kernel can take the node address over from the NIC, as DPVS's KNI and VPP's punt-to-tap do.
// Frames the pipeline passes (kPassToKernel: ARP, ICMP and non-Service traffic for the node
// address) go to the tap; frames the kernel sends on it go out of the NIC port unchanged, but
// for those to a Service (pipeline.h, kernel_frame_for_services), which the pipeline takes. Each
// polling lcore owns one queue pair of the tap as it does of the NIC port.
//
// Everything that can fail does so in start(), before any lcore polls, and reports one line
// naming the problem; the loop itself cannot fail, allocate or throw.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/neighbour.h"
#include "dataplane/pipeline.h"
#include "dataplane/rcu.h"
#include "dataplane/service_table.h"

struct rte_mbuf;

struct rte_mempool;
struct rte_ring;
struct rte_device;

namespace k8c::dp {

// Splits an argument string the way a POSIX shell splits words, without running one (so no
// expansion or command substitution can happen): blanks separate words, '...' is literal,
// "..." honours \" \\ \$ \` escapes, and a backslash outside quotes escapes the next character.
// Returns false and sets *error on an unbalanced quote or a trailing backslash.
bool split_args(std::string_view s, std::vector<std::string>* out, std::string* error);

// Whether `name` can be the exception path's kernel interface (1..15 characters, none that the
// kernel or DPDK's devargs would take apart); *why says what is wrong.
bool kernel_port_name_ok(std::string_view name, std::string* why);

struct RuntimeOptions {
  std::string eal_args;  // passed through to rte_eal_init, after the program name
  uint16_t port_id = 0;
  uint16_t rx_descriptors = 1024;
  uint16_t tx_descriptors = 1024;
  // Kernel interface name of the exception path's tap; empty: no exception path (frames for
  // the kernel are freed and counted as not_ours).
  std::string kernel_port;
  // 0: the lcores busy-poll. N: an lcore whose poll found nothing (no frame from the port,
  // another lcore or the kernel) sleeps N microseconds, leaving the CPU to what shares it: on a
  // veth, the kernel's receive work that fills the very ring the lcore polls.
  uint32_t idle_sleep_us = 0;
  // With idle_sleep_us == 0: an lcore whose poll found nothing calls sched_yield(), which runs
  // whatever else is runnable on its CPU (ksoftirqd) and returns at once when nothing is.
  bool idle_yield = false;
  LcoreOptions lcore;  // template for every polling lcore; id is filled in per lcore
};

// What one polling lcore did, read after the loop stopped.
struct LcoreReport {
  unsigned lcore_id = 0;
  uint16_t queue = 0;
  uint64_t rx = 0, forwarded = 0, replied = 0, passed = 0, dropped = 0;
  uint64_t tx_failed = 0;    // accepted for transmit but refused by a full TX ring
  uint64_t not_ours = 0;     // kPassToKernel frames freed: there is no exception path
  uint64_t to_kernel = 0;    // kPassToKernel frames handed to the exception path
  uint64_t from_kernel = 0;  // frames the kernel sent on the exception path, sent out of the port
  uint64_t steered = 0;      // frames handed to the lcore owning their flow (multi-queue)
  uint64_t idle_sleeps = 0;  // sleeps taken with RuntimeOptions::idle_sleep_us
  uint64_t iterations = 0;   // loop iterations, polled-empty ones included
};

// What one polling lcore is doing, readable while it runs (the metrics thread's view). Every
// field has one writer, the lcore.
struct LcoreLive {
  unsigned lcore_id = 0;
  uint16_t queue = 0;
  const LcoreStats* stats = nullptr;
  const Counter* iterations = nullptr;
  const Counter* busy_iterations = nullptr;  // iterations that received frames
  const Counter* busy_cycles = nullptr;      // TSC cycles spent on those
  const Counter* total_cycles = nullptr;     // TSC cycles since the loop started
  const Counter* tx_failed = nullptr;
  const Counter* not_ours = nullptr;
  const Conntrack* conntrack = nullptr;  // size() only: a racy but harmless read
  const Counter* to_kernel = nullptr;    // exception path, both ways (zero without one)
  const Counter* from_kernel = nullptr;
  const Counter* steered = nullptr;  // frames handed to the lcore owning their flow
};

class EalRuntime {
 public:
  EalRuntime();  // out of line: Poller is complete only in the .cpp
  ~EalRuntime();
  EalRuntime(const EalRuntime&) = delete;
  EalRuntime& operator=(const EalRuntime&) = delete;

  // Initialises the EAL (once per process: DPDK cannot re-initialise), configures and starts
  // the port and publishes `initial` as the first service table. On failure everything already
  // set up is torn down again and *error holds one line naming the problem.
  bool start(const RuntimeOptions& options, std::string* error);

  // Launches the polling loops and blocks until `stop` becomes true (a signal handler may set
  // it) or duration_ns passes (0 = no limit). Each loop checks both itself, so no thread has to
  // wake the others. The calling thread must be the EAL main lcore: it polls a queue itself
  // only when the EAL gave it no worker lcores, and otherwise waits for the workers.
  void run(const std::atomic<bool>& stop, uint64_t duration_ns);

  // Stops and closes the port, frees the pool and cleans up the EAL. Idempotent.
  void shutdown();

  // The table every lcore reads; the control thread publishes new snapshots here.
  Rcu<ServiceTable>& tables() { return *tables_; }
  // Next hops, published the same way (apart, so a learned MAC costs no Maglev rebuild).
  Rcu<NeighbourTable>& neighbours() { return *neighbours_; }
  // Control-thread side of the neighbour channels: drains what the lcores gleaned or missed,
  // and queues a frame (an ARP request) for lcore 0 to send. False: nothing / mailbox full.
  bool poll_neighbour_event(NeighbourEvent* ev);
  bool send_frame(const ControlFrame& frame);
  // The data-plane clock the lcores stamp flows with, in ns since start(); any thread.
  uint64_t now_ns() const;
  // Live per-lcore counters; valid from start() to shutdown().
  std::vector<LcoreLive> live() const;
  uint64_t tsc_hz() const { return tsc_hz_; }
  const NodeConfig& node() const { return node_; }
  uint16_t queues() const { return queues_; }
  std::string port_name() const;
  // The exception path's tap port, when RuntimeOptions::kernel_port asked for one.
  bool has_kernel_port() const { return kernel_started_; }
  uint16_t kernel_port_id() const { return kport_; }
  const std::vector<LcoreReport>& reports() const { return reports_; }

 private:
  struct Poller;
  static int poll_loop(void* arg);
  static void take_from_kernel(Poller& p, rte_mbuf** frames, uint16_t k, uint64_t tsc);
  bool configure_port(const RuntimeOptions& o, std::string* error);
  bool create_kernel_port(const RuntimeOptions& o, uint16_t queues, std::string* error);

  std::vector<std::string> argv_storage_;  // EAL may keep pointers into argv
  bool eal_ready_ = false;
  bool port_started_ = false;
  bool port_configured_ = false;
  uint16_t port_ = 0;
  uint16_t queues_ = 0;
  bool kernel_created_ = false;  // the tap vdev exists (rte_vdev_uninit on shutdown)
  bool kernel_configured_ = false;
  bool kernel_started_ = false;
  uint16_t kport_ = 0;
  uint16_t kernel_queues_ = 0;
  std::string kernel_vdev_;
  rte_device* kernel_device_ = nullptr;
  rte_mempool* pool_ = nullptr;
  NodeConfig node_;
  std::unique_ptr<Rcu<ServiceTable>> tables_;
  std::unique_ptr<Rcu<NeighbourTable>> neighbours_;
  uint64_t epoch_tsc_ = 0;
  uint64_t tsc_hz_ = 1;
  uint64_t ns_per_tsc_q32_ = 0;
  std::vector<std::unique_ptr<Poller>> pollers_;
  std::vector<rte_ring*> inboxes_;  // steering rings, one per lcore when there are several
  std::vector<LcoreReport> reports_;
};

}  // namespace k8c::dp

// The proxy's coroutines: a lazy Task<T>, detached roots (spawn), and a completion token that
// lets a coroutine co_await any Asio asynchronous operation, all allocating from a per-thread
// recycling pool, so a warm request allocates nothing.
//
// Why not asio::awaitable: Boost 1.74's awaitable allocates a coroutine frame for every
// asynchronous operation and for every nested awaitable call, and its per-thread cache
// (thread_info_base) holds one block per purpose, so a request with a few nested calls and
// four I/O operations cost about 8 heap allocations. Asio has no hook for the frame allocator.
//
//   Task<bool> f() { error_code ec; size_t n = co_await sock.async_read_some(buf, ec_token(ec)); }
//   spawn(f_returning_task_void());   // runs at once until its first wait; frees itself at the end
//
// Rules. Everything runs on one thread (the worker's io_context); a Task is awaited exactly once,
// by the coroutine that called it. An asynchronous operation's handler owns the chain it would
// resume: if the io_context is destroyed with the operation pending, the handler is destroyed
// without being called and destroys the chain from its root (freeing what the frames hold, such
// as the connection), as asio::awaitable does. Exceptions escaping a Task rethrow in the
// awaiting coroutine; escaping a root, they propagate out of io_context::run().
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/system/error_code.hpp>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace k8c::ingress::coro {

// Per-thread free lists of blocks in power-of-two classes from 64 B to 16 KiB; larger blocks go
// straight to operator new. A class keeps at most 1 MiB of free blocks. A block may be freed on
// another thread than the one that allocated it (it joins that thread's lists).
void* pool_allocate(std::size_t size);
void pool_deallocate(void* p, std::size_t size) noexcept;

template <class T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() noexcept = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(pool_allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { pool_deallocate(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const PoolAllocator<U>&) const noexcept {
    return true;
  }
};

struct PromiseBase {
  std::coroutine_handle<> continuation;  // who awaits this Task (none for a root)
  std::coroutine_handle<> root;          // the spawned coroutine at the bottom of the chain
  std::exception_ptr error;

  static void* operator new(std::size_t n) { return pool_allocate(n); }
  static void operator delete(void* p, std::size_t n) noexcept { pool_deallocate(p, n); }
};

template <class T = void>
class [[nodiscard]] Task;

namespace detail {

template <class T>
struct TaskPromiseValue : PromiseBase {
  static_assert(std::is_default_constructible_v<T>);
  T value{};
  void return_value(T v) { value = std::move(v); }
  T take() { return std::move(value); }
};
template <>
struct TaskPromiseValue<void> : PromiseBase {
  void return_void() noexcept {}
  void take() noexcept {}
};

}  // namespace detail

template <class T>
class [[nodiscard]] Task {
 public:
  struct promise_type : detail::TaskPromiseValue<T> {
    Task get_return_object() noexcept {
      return Task(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    struct Final {
      bool await_ready() noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
        return h.promise().continuation;  // symmetric transfer: no stack growth
      }
      void await_resume() noexcept {}
    };
    Final final_suspend() noexcept { return {}; }
    void unhandled_exception() noexcept { this->error = std::current_exception(); }
  };

  Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Task& operator=(Task&&) = delete;
  ~Task() {
    if (h_) h_.destroy();
  }

  bool await_ready() const noexcept { return false; }
  template <class P>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<P> parent) noexcept {
    h_.promise().continuation = parent;
    h_.promise().root = parent.promise().root;
    return h_;
  }
  T await_resume() {
    if (h_.promise().error) std::rethrow_exception(h_.promise().error);
    return h_.promise().take();
  }

 private:
  explicit Task(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
  std::coroutine_handle<promise_type> h_;
};

namespace detail {

struct Detached {
  struct promise_type : PromiseBase {
    promise_type() noexcept { root = std::coroutine_handle<promise_type>::from_promise(*this); }
    Detached get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() { throw; }
  };
};

inline Detached run_detached(Task<void> t) {
  co_await std::move(t);
}

}  // namespace detail

// Starts `t` now, on the calling thread, as the root of its own chain; it frees itself when done.
inline void spawn(Task<void> t) {
  detail::run_detached(std::move(t));
}

// ---- awaiting Asio operations ----

// The completion token: the operation's error goes to *ec, its value (if any) is the result of
// the co_await. Never throws for I/O errors.
struct AwaitToken {
  boost::system::error_code* ec;
};
inline AwaitToken ec_token(boost::system::error_code& ec) {
  return {&ec};
}

namespace detail {

template <class... Values>
struct OpResult {
  void take() noexcept {}
};
template <class V>
struct OpResult<V> {
  std::optional<V> value;  // optional: some values (accepted sockets) have no default state
  V take() { return std::move(*value); }
};

template <class Init, class Args, class... Values>
class OpAwaiter : OpResult<Values...> {
 public:
  // The handler Asio stores with the operation. It owns the chain it would resume: destroyed
  // uncalled (io_context shutdown), it destroys the chain's root.
  class Handler {
   public:
    using allocator_type = PoolAllocator<void>;
    Handler(OpAwaiter* a, std::coroutine_handle<> h, std::coroutine_handle<> root) noexcept
        : a_(a), h_(h), root_(root) {}
    Handler(Handler&& o) noexcept : a_(o.a_), h_(std::exchange(o.h_, {})), root_(o.root_) {}
    Handler(const Handler&) = delete;
    Handler& operator=(const Handler&) = delete;
    ~Handler() {
      if (h_) root_.destroy();
    }
    allocator_type get_allocator() const noexcept { return {}; }
    void operator()(boost::system::error_code ec, Values... v) {
      a_->ec_ = ec;
      if constexpr (sizeof...(Values) == 1) a_->value.emplace(std::move(v)...);
      std::exchange(h_, {}).resume();
    }

   private:
    OpAwaiter* a_;
    std::coroutine_handle<> h_;
    std::coroutine_handle<> root_;
  };

  OpAwaiter(Init&& init, boost::system::error_code* ec, Args&& args)
      : init_(std::move(init)), args_(std::move(args)), ec_out_(ec) {}

  bool await_ready() const noexcept { return false; }
  template <class P>
  void await_suspend(std::coroutine_handle<P> h) {
    std::apply(
        [&](auto&... a) { std::move(init_)(Handler(this, h, h.promise().root), std::move(a)...); },
        args_);
  }
  auto await_resume() {
    *ec_out_ = ec_;
    return this->take();
  }

 private:
  Init init_;
  Args args_;
  boost::system::error_code* ec_out_;
  boost::system::error_code ec_;
};

}  // namespace detail

}  // namespace k8c::ingress::coro

namespace boost::asio {

template <class... Values>
class async_result<k8c::ingress::coro::AwaitToken, void(boost::system::error_code, Values...)> {
 public:
  template <class Init, class... Args>
  static auto initiate(Init&& init, k8c::ingress::coro::AwaitToken token, Args&&... args) {
    using Awaiter =
        k8c::ingress::coro::detail::OpAwaiter<std::decay_t<Init>, std::tuple<std::decay_t<Args>...>,
                                              std::decay_t<Values>...>;
    std::tuple<std::decay_t<Args>...> copied(std::forward<Args>(args)...);
    return Awaiter(std::decay_t<Init>(std::forward<Init>(init)), token.ec, std::move(copied));
  }
};

}  // namespace boost::asio

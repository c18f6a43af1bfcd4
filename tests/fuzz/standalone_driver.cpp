// A libFuzzer stand-in for compilers without -fsanitize=fuzzer (gcc): runs the target over a
// deterministic pseudo-random corpus, so a CI failure reproduces exactly from its iteration
// number. Inputs are the target's seeds as given, random byte strings, and seeds mutated the
// way libFuzzer's basic mutators do (bit flips, byte sets, interesting 16-bit values,
// truncation, extension, splices). Usage: driver [iterations] [seed].
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
std::vector<std::vector<uint8_t>> k8c_fuzz_seeds();

namespace {

struct Rng {
  uint64_t s;
  uint64_t next() {  // xorshift64*
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545f4914f6cdd1dULL;
  }
  size_t below(size_t n) { return n ? next() % n : 0; }
};

void mutate(std::vector<uint8_t>& in, const std::vector<std::vector<uint8_t>>& seeds, Rng& rng) {
  static const uint16_t kInteresting[] = {0,      1,      0x7f,   0x80,   0xff,   0x100,  0x7fff,
                                          0x8000, 0xffff, 0x0800, 0x0806, 0x8100, 0x4500, 0x0014};
  size_t rounds = 1 + rng.below(4);
  for (size_t r = 0; r < rounds; ++r) {
    switch (rng.below(7)) {
      case 0:
        if (!in.empty()) in[rng.below(in.size())] ^= static_cast<uint8_t>(1u << rng.below(8));
        break;
      case 1:
        if (!in.empty()) in[rng.below(in.size())] = static_cast<uint8_t>(rng.next());
        break;
      case 2:
        if (in.size() >= 2) {
          size_t at = rng.below(in.size() - 1);
          uint16_t v = kInteresting[rng.below(std::size(kInteresting))];
          in[at] = static_cast<uint8_t>(v >> 8);
          in[at + 1] = static_cast<uint8_t>(v);
        }
        break;
      case 3:
        in.resize(rng.below(in.size() + 1));
        break;
      case 4:
        for (size_t n = rng.below(16); n > 0; --n) in.push_back(static_cast<uint8_t>(rng.next()));
        break;
      case 5: {  // splice another seed's tail
        const auto& other = seeds[rng.below(seeds.size())];
        if (other.empty()) break;
        size_t cut = rng.below(in.size() + 1), from = rng.below(other.size());
        in.resize(cut);
        in.insert(in.end(), other.begin() + static_cast<long>(from), other.end());
        break;
      }
      default:  // the control byte: checksum repair on or off, clock advance
        if (!in.empty()) in[0] = static_cast<uint8_t>(rng.next());
        break;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t iterations = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200000;
  Rng rng{argc > 2 ? std::strtoull(argv[2], nullptr, 10) | 1 : 0x9e3779b97f4a7c15ULL};
  auto seeds = k8c_fuzz_seeds();
  for (const auto& s : seeds) LLVMFuzzerTestOneInput(s.data(), s.size());
  std::vector<uint8_t> in;
  for (uint64_t i = 0; i < iterations; ++i) {
    if (i % 4 == 0 || seeds.empty()) {
      in.resize(rng.below(128));
      for (auto& b : in) b = static_cast<uint8_t>(rng.next());
    } else {
      in = seeds[rng.below(seeds.size())];
      mutate(in, seeds, rng);
    }
    LLVMFuzzerTestOneInput(in.data(), in.size());
  }
  std::printf("ran %llu inputs (+%zu seeds)\n", static_cast<unsigned long long>(iterations),
              seeds.size());
  return 0;
}

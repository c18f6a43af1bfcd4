#include "control/api/protobuf.h"

#include "common/base64.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace k8c::api::proto {

namespace {

// Kubernetes objects nest about fifteen messages deep; the bound only stops hostile input from
// exhausting the stack.
constexpr int kMaxDepth = 64;

enum Wire : uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

struct Failure {
  std::string message;
};

// A cursor over one message's bytes; every read checks bounds and throws Failure.
class Reader {
 public:
  Reader(std::string_view data, const std::string& where) : data_(data), where_(where) {}
  bool done() const { return pos_ >= data_.size(); }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) fail("truncated varint");
      auto b = static_cast<uint8_t>(data_[pos_++]);
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("varint longer than 10 bytes");
  }

  std::string_view bytes() {
    uint64_t n = varint();
    if (n > data_.size() - pos_)
      fail("length " + std::to_string(n) + " runs past the end of the message (" +
           std::to_string(data_.size() - pos_) + " bytes left)");
    std::string_view v = data_.substr(pos_, n);
    pos_ += n;
    return v;
  }

  // Skips one value; true when it is a zero varint or empty bytes.
  bool skip(uint32_t wire) {
    switch (wire) {
      case kVarint: return varint() == 0;
      case kLen: return bytes().empty();
      case kFixed64: advance(8); return false;
      case kFixed32: advance(4); return false;
      default: fail("unsupported wire type " + std::to_string(wire));
    }
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw Failure{"protobuf: " + what + " at byte " + std::to_string(pos_) + " of " + where_};
  }

 private:
  void advance(size_t n) {
    if (n > data_.size() - pos_) fail("truncated fixed-width value");
    pos_ += n;
  }

  std::string_view data_;
  size_t pos_ = 0;
  const std::string& where_;
};

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<uint8_t>(s[i]);
    size_t extra = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 4;
    if (extra == 4 || extra >= s.size() - i) return false;
    uint32_t cp = extra ? c & (0x3f >> extra) : c;
    for (size_t k = 1; k <= extra; ++k) {
      auto d = static_cast<uint8_t>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = cp << 6 | (d & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

// Go's time.Time JSON form in UTC: RFC 3339, whole seconds or (MicroTime) six fractional digits.
std::string rfc3339(int64_t seconds, int64_t nanos, bool micro, const std::string& path) {
  // Years 0001-9999, the range RFC 3339 can write.
  if (seconds < -62135596800LL || seconds > 253402300799LL || nanos < 0 || nanos > 999999999)
    throw Failure{"protobuf: time out of range (seconds " + std::to_string(seconds) +
                  ", nanos " + std::to_string(nanos) + ") in " + path};
  time_t t = static_cast<time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string s(buf, n);
  if (micro) {
    std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(nanos / 1000));
    s += buf;
  }
  return s + "Z";
}

class Decoder {
 public:
  std::vector<std::string> unknown;

  // Decodes `data` as message `index` into `out` (an object), whose JSON path is `path`.
  void message(std::string_view data, int index, Json& out, const std::string& path, int depth) {
    const PMessage& m = messages()[index];
    std::string where = std::string(m.name) + (path.empty() ? "" : " (" + path + ")");
    if (depth > kMaxDepth)
      throw Failure{"protobuf: messages nested deeper than " + std::to_string(kMaxDepth) +
                    " at " + where};
    Reader r(data, where);
    std::span<const PField> fields(m.fields, m.count);
    while (!r.done()) {
      uint64_t key = r.varint();
      uint64_t number = key >> 3;
      auto wire = static_cast<uint32_t>(key & 7);
      if (number == 0 || number > 0x1fffffff) r.fail("invalid field number " + std::to_string(number));
      auto it = std::lower_bound(fields.begin(), fields.end(), number,
                                 [](const PField& f, uint64_t n) { return f.number < n; });
      if (it == fields.end() || it->number != number) {
        // A newer client writes its new non-pointer fields even when unset; like the zeros
        // of known fields (see field()) those mean nothing, so only set values are reported.
        if (r.skip(wire)) continue;
        unknown.push_back("field " + std::to_string(number) + " of " + m.name +
                          (path.empty() ? "" : " at " + path));
        continue;
      }
      field(r, *it, wire, out, path, depth);
    }
  }

 private:
  static bool is_varint(PKind k) {
    return k == PKind::int32 || k == PKind::int64 || k == PKind::boolean;
  }

  static Json scalar(PKind k, uint64_t v) {
    switch (k) {
      case PKind::int32: return static_cast<int32_t>(static_cast<uint32_t>(v));
      case PKind::int64: return static_cast<int64_t>(v);
      default: return v != 0;
    }
  }

  static std::string child(const std::string& path, const char* name) {
    return path.empty() ? std::string(name) : path + "." + name;
  }

  void field(Reader& r, const PField& f, uint32_t wire, Json& out, const std::string& path,
             int depth) {
    std::string name = child(path, f.json);
    bool repeated = f.flags & kRepeated;
    bool varint = is_varint(f.kind) && !(f.flags & kMap);
    // Repeated numbers may come packed in one length-delimited field.
    bool packed = varint && repeated && wire == kLen;
    uint32_t expected = varint ? kVarint : kLen;
    if (wire != expected && !packed)
      r.fail("wire type " + std::to_string(wire) + " for field " + std::to_string(f.number) +
             " (" + name + "), expected " + std::to_string(expected));

    if (f.flags & kMap) {
      Json& obj = out[f.json];
      if (!obj.is_object()) obj = Json::object();
      auto [k, v] = map_entry(r.bytes(), f, name, depth);
      obj[k] = std::move(v);
      return;
    }
    if (packed) {
      std::string_view body = r.bytes();
      Reader p(body, name);
      Json& arr = array(out, f.json);
      while (!p.done()) arr.push_back(scalar(f.kind, p.varint()));
      return;
    }
    Json v;
    if (varint) {
      v = scalar(f.kind, r.varint());
    } else if (f.flags & kInline) {
      message(r.bytes(), f.message, out, path, depth + 1);
      return;
    } else {
      std::string index = repeated ? "[" + std::to_string(array(out, f.json).size()) + "]" : "";
      v = value(r, f.kind, f.message, name + index, depth);
    }
    if (repeated) {
      array(out, f.json).push_back(std::move(v));
      return;
    }
    // Go's encoder writes non-pointer fields even at their zero value, where JSON's omitempty
    // leaves them out; a zero here must not turn into e.g. `"type": ""`, which defaulting would
    // then skip. Pointer fields are written only when set, so their zero is meaningful.
    bool zero = (v.is_string() && v.get_ref<const std::string&>().empty() &&
                 (f.kind == PKind::string || f.kind == PKind::bytes)) ||
                (v.is_number() && v == 0 && varint) || (v.is_boolean() && !v.get<bool>());
    if (zero && !(f.flags & kPointer)) {
      out.erase(f.json);
      return;
    }
    out[f.json] = std::move(v);
  }

  static Json& array(Json& out, const char* key) {
    Json& a = out[key];
    if (!a.is_array()) a = Json::array();
    return a;
  }

  // One length-delimited value of kind `k`.
  Json value(Reader& r, PKind k, int msg, const std::string& path, int depth) {
    std::string_view b = r.bytes();
    switch (k) {
      case PKind::string:
        if (!valid_utf8(b)) r.fail("invalid UTF-8 in string field " + path);
        return std::string(b);
      case PKind::bytes:
        return base64_encode(b);
      case PKind::message: {
        Json obj = Json::object();
        message(b, msg, obj, path, depth + 1);
        return obj;
      }
      case PKind::time:
      case PKind::micro_time:
        return time(b, k == PKind::micro_time, path);
      case PKind::int_or_string:
        return int_or_string(b, path);
      case PKind::quantity:
        return quantity(b, path);
      case PKind::raw_json:
        return raw_json(b, path);
      default:
        r.fail("internal: kind of " + path);
    }
  }

  std::pair<std::string, Json> map_entry(std::string_view data, const PField& f,
                                         const std::string& path, int depth) {
    std::string where = "map entry of " + path;
    Reader r(data, where);
    std::string key;
    Json v;
    bool have_value = false;
    while (!r.done()) {
      uint64_t tag = r.varint();
      auto wire = static_cast<uint32_t>(tag & 7);
      uint64_t number = tag >> 3;
      bool vint = is_varint(f.kind);
      if (number == 1) {
        if (wire != kLen) r.fail("wire type " + std::to_string(wire) + " for a map key");
        std::string_view k = r.bytes();
        if (!valid_utf8(k)) r.fail("invalid UTF-8 in map key");
        key = std::string(k);
      } else if (number == 2) {
        if (wire != (vint ? kVarint : kLen))
          r.fail("wire type " + std::to_string(wire) + " for a map value");
        v = vint ? scalar(f.kind, r.varint()) : value(r, f.kind, f.message, path + "." + key, depth);
        have_value = true;
      } else {
        r.skip(wire);
      }
    }
    if (!have_value) {
      // An absent value is the type's zero value.
      switch (f.kind) {
        case PKind::string: case PKind::bytes: case PKind::quantity: v = ""; break;
        case PKind::int32: case PKind::int64: v = 0; break;
        case PKind::boolean: v = false; break;
        case PKind::message: v = Json::object(); break;
        default: v = nullptr;
      }
    }
    return {std::move(key), std::move(v)};
  }

  // Reads the fields of a small special message into numbered slots.
  template <typename F>
  static void each(std::string_view data, const std::string& where, F&& on_field) {
    Reader r(data, where);
    while (!r.done()) {
      uint64_t tag = r.varint();
      on_field(r, tag >> 3, static_cast<uint32_t>(tag & 7));
    }
  }

  static void expect(Reader& r, uint32_t wire, uint32_t want, uint64_t number) {
    if (wire != want)
      r.fail("wire type " + std::to_string(wire) + " for field " + std::to_string(number) +
             ", expected " + std::to_string(want));
  }

  static Json time(std::string_view data, bool micro, const std::string& path) {
    // Go writes the zero time as an empty message; its JSON is null.
    if (data.empty()) return nullptr;
    int64_t seconds = 0, nanos = 0;
    each(data, "time " + path, [&](Reader& r, uint64_t n, uint32_t wire) {
      if (n == 1) { expect(r, wire, kVarint, n); seconds = static_cast<int64_t>(r.varint()); }
      else if (n == 2) { expect(r, wire, kVarint, n); nanos = static_cast<int32_t>(r.varint()); }
      else r.skip(wire);
    });
    return rfc3339(seconds, nanos, micro, path);
  }

  static Json int_or_string(std::string_view data, const std::string& path) {
    int64_t type = 0;
    int32_t i = 0;
    std::string s;
    each(data, "IntOrString " + path, [&](Reader& r, uint64_t n, uint32_t wire) {
      if (n == 1) { expect(r, wire, kVarint, n); type = static_cast<int64_t>(r.varint()); }
      else if (n == 2) { expect(r, wire, kVarint, n); i = static_cast<int32_t>(r.varint()); }
      else if (n == 3) {
        expect(r, wire, kLen, n);
        std::string_view v = r.bytes();
        if (!valid_utf8(v)) r.fail("invalid UTF-8");
        s = std::string(v);
      } else r.skip(wire);
    });
    if (type == 1) return s;
    return i;
  }

  static Json quantity(std::string_view data, const std::string& path) {
    std::string s;
    each(data, "Quantity " + path, [&](Reader& r, uint64_t n, uint32_t wire) {
      if (n != 1) {
        r.skip(wire);
        return;
      }
      expect(r, wire, kLen, n);
      std::string_view v = r.bytes();
      if (!valid_utf8(v)) r.fail("invalid UTF-8");
      s = std::string(v);
    });
    return s;
  }

  static Json raw_json(std::string_view data, const std::string& path) {
    std::string_view raw;
    each(data, "raw object " + path, [&](Reader& r, uint64_t n, uint32_t wire) {
      if (n != 1) {
        r.skip(wire);
        return;
      }
      expect(r, wire, kLen, n);
      raw = r.bytes();
    });
    if (raw.empty()) return nullptr;
    std::string why;
    auto v = parse_json(raw, &why);
    if (!v) throw Failure{"protobuf: " + path + " holds bytes that are not JSON: " + why};
    return std::move(*v);
  }
};

}  // namespace

std::optional<Decoded> decode(std::string_view body, std::string* error) {
  static constexpr std::string_view kMagic{"k8s\0", 4};
  try {
    if (body.substr(0, 4) != kMagic)
      throw Failure{"protobuf: the body does not start with the magic \"k8s\\x00\""};
    std::string where = "runtime.Unknown";
    Reader r(body.substr(4), where);
    std::string api_version, kind, encoding, content_type;
    std::string_view raw;
    bool have_raw = false;
    auto text = [&](Reader& rr) {
      std::string_view v = rr.bytes();
      if (!valid_utf8(v)) rr.fail("invalid UTF-8");
      return std::string(v);
    };
    while (!r.done()) {
      uint64_t tag = r.varint();
      uint64_t n = tag >> 3;
      auto wire = static_cast<uint32_t>(tag & 7);
      if (n >= 1 && n <= 4 && wire != kLen)
        r.fail("wire type " + std::to_string(wire) + " for field " + std::to_string(n));
      if (n == 1) {
        std::string tw = "runtime.TypeMeta";
        Reader t(r.bytes(), tw);
        while (!t.done()) {
          uint64_t tt = t.varint();
          auto tw2 = static_cast<uint32_t>(tt & 7);
          if ((tt >> 3) == 1 || (tt >> 3) == 2) {
            if (tw2 != kLen) t.fail("wire type " + std::to_string(tw2));
            ((tt >> 3) == 1 ? api_version : kind) = text(t);
          } else {
            t.skip(tw2);
          }
        }
      } else if (n == 2) {
        raw = r.bytes();
        have_raw = true;
      } else if (n == 3) {
        encoding = text(r);
      } else if (n == 4) {
        content_type = text(r);
      } else {
        r.skip(wire);
      }
    }
    if (!encoding.empty())
      throw Failure{"protobuf: content encoding \"" + encoding + "\" is not supported"};
    if (!content_type.empty() && content_type != kMediaType)
      throw Failure{"protobuf: embedded content type \"" + content_type + "\" is not supported"};
    if (kind.empty() || api_version.empty())
      throw Failure{"protobuf: the object's apiVersion and kind are missing"};
    if (!have_raw) throw Failure{"protobuf: the object's bytes (runtime.Unknown raw) are missing"};
    const PRoot* root = nullptr;
    for (const PRoot& x : roots())
      if (api_version == x.api_version && kind == x.kind) root = &x;
    if (!root)
      throw Failure{"protobuf: no protobuf decoding for " + api_version + ", Kind=" + kind};
    Decoder d;
    Decoded out{Json::object(), {}};
    d.message(raw, root->message, out.object, "", 0);
    out.object["apiVersion"] = api_version;
    out.object["kind"] = kind;
    out.unknown = std::move(d.unknown);
    return out;
  } catch (const Failure& f) {
    if (error) *error = f.message;
    return std::nullopt;
  }
}

}  // namespace k8c::api::proto

#include "log/kafka_record.h"

#include <cstdint>
#include <limits>

#include "core/numbers.h"

namespace firstcome::kafka {

namespace {

constexpr std::string_view kVersion1 = "1";
constexpr std::string_view kVersion2 = "2";
constexpr std::size_t kMaxFields = 8;

}  // namespace

std::string EncodeKey(const Issuance& i) {
  std::string key = i.event_id;
  key.push_back('\0');
  key += i.user_id;
  return key;
}

std::string EncodeValue(const Issuance& i) {
  const bool v1 = i.incarnation == 0 && i.kind == RecordKind::kIssue;
  std::string v;
  v.reserve(i.event_id.size() + i.user_id.size() + 72);
  v += v1 ? kVersion1 : kVersion2;
  v += '|';
  v += i.event_id;
  v += '|';
  v += i.user_id;
  v += '|';
  v += std::to_string(i.seq);
  v += '|';
  v += std::to_string(i.user_seq);
  v += '|';
  v += std::to_string(i.issued_at);
  if (!v1) {
    v += '|';
    v += std::to_string(i.incarnation);
    v += i.kind == RecordKind::kRevoke ? "|r" : "|i";
  }
  return v;
}

std::optional<Issuance> DecodeValue(std::string_view v) {
  std::string_view fields[kMaxFields];
  std::size_t n = 0;
  bool whole = false;  // every field was read (nothing left after the last)
  while (n < kMaxFields && !whole) {
    std::size_t bar = v.find('|');
    fields[n++] = v.substr(0, bar);
    whole = bar == std::string_view::npos;
    if (!whole) v.remove_prefix(bar + 1);
  }
  const std::size_t expected = fields[0] == kVersion1 ? 6 : fields[0] == kVersion2 ? 8 : 0;
  if (expected == 0 || n != expected || !whole) return std::nullopt;
  Issuance i;
  if (expected == 8) {
    const std::optional<std::int64_t> incarnation = ParseInt64(fields[6]);
    if (!incarnation || *incarnation < 0) return std::nullopt;
    i.incarnation = *incarnation;
    if (fields[7] == "i") {
      i.kind = RecordKind::kIssue;
    } else if (fields[7] == "r") {
      i.kind = RecordKind::kRevoke;
    } else {
      return std::nullopt;
    }
  }
  i.event_id = std::string(fields[1]);
  i.user_id = std::string(fields[2]);
  if (!IsValidId(i.event_id) || !IsValidId(i.user_id)) return std::nullopt;
  const std::optional<std::int64_t> seq = ParseInt64(fields[3]);
  const std::optional<std::int64_t> user_seq = ParseInt64(fields[4]);
  const std::optional<std::int64_t> issued_at = ParseInt64(fields[5]);
  if (!seq || !user_seq || !issued_at || *seq < 1 || *user_seq < 1 ||
      *user_seq > std::numeric_limits<std::int32_t>::max()) {
    return std::nullopt;
  }
  i.seq = *seq;
  i.user_seq = static_cast<std::int32_t>(*user_seq);
  i.issued_at = *issued_at;
  i.coupon_id = CouponId(i.event_id, i.seq);
  return i;
}

std::optional<Issuance> DecodeMessage(const rd_kafka_message_t* m) {
  if (m->payload == nullptr) return std::nullopt;
  return DecodeValue(std::string_view(static_cast<const char*>(m->payload), m->len));
}

bool KeyHasEvent(const rd_kafka_message_t* m, std::string_view event_id) {
  if (m->key == nullptr || m->key_len <= event_id.size()) return false;
  std::string_view key(static_cast<const char*>(m->key), m->key_len);
  return key.substr(0, event_id.size()) == event_id && key[event_id.size()] == '\0';
}

}  // namespace firstcome::kafka

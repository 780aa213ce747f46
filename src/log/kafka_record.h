// How an Issuance is stored as a Kafka message: the record codec of KafkaLog.
// Internal to src/log: only the Kafka log's files include it.
//
// Record format (small, text, readable with any Kafka tool):
//   key   = event_id '\0' user_id        (same key → same partition → order;
//                                         a revocation is keyed like the
//                                         issuance it takes back, so it comes
//                                         after it)
//   value, version 1 = "1|event_id|user_id|seq|user_seq|issued_at"
//          (an issue record of incarnation 0: events made before
//          incarnations and revocations existed)
//   value, version 2 = "2|event_id|user_id|seq|user_seq|issued_at|incarnation|kind"
//          (kind "i" issue, "r" revoke)
// EncodeValue writes version 1 whenever it says everything (an issue of
// incarnation 0), else version 2; readers take both. coupon_id is not
// stored: it is CouponId(event_id, seq). Ids never contain '|' (IsValidId),
// and a record that does not parse is skipped by its reader, never fatal.
//
// Invariants: DecodeMessage(m) of a message whose key and value came from
// EncodeKey(i) and EncodeValue(i) gives i back (coupon_id recomputed); it
// gives nullopt for anything else that is not a valid record of either
// version (valid ids, seq >= 1, 1 <= user_seq <= INT32_MAX, incarnation >= 0,
// integers in range).
#pragma once

#include <librdkafka/rdkafka.h>

#include <optional>
#include <string>
#include <string_view>

#include "core/event.h"

namespace firstcome::kafka {

std::string EncodeKey(const Issuance& i);
std::string EncodeValue(const Issuance& i);

std::optional<Issuance> DecodeValue(std::string_view value);
// The message's value decoded; nullopt when it has none or it does not parse.
std::optional<Issuance> DecodeMessage(const rd_kafka_message_t* m);

// Whether the message's key is one of `event_id` (cheap: no value decoded).
bool KeyHasEvent(const rd_kafka_message_t* m, std::string_view event_id);

}  // namespace firstcome::kafka

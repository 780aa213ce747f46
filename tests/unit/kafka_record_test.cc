// The Kafka record codec (src/log/kafka_record.h) without a broker: version 1
// records (what older processes wrote) still decode, records that say more
// (an incarnation, a revocation) are written as version 2 and decode back to
// the same values, and anything malformed decodes to nothing.
#include "log/kafka_record.h"

#include <gtest/gtest.h>

#include <string>

#include "support/fixtures.h"

namespace firstcome::kafka {
namespace {

bool Same(const Issuance& a, const Issuance& b) {
  return a.event_id == b.event_id && a.user_id == b.user_id && a.seq == b.seq &&
         a.user_seq == b.user_seq && a.coupon_id == b.coupon_id && a.issued_at == b.issued_at &&
         a.incarnation == b.incarnation && a.kind == b.kind;
}

TEST(KafkaRecordTest, LegacyIssuesStayVersion1) {
  Issuance i = test::MakeIssuance("ev", "u-1", 12, 2);
  const std::string v = EncodeValue(i);
  EXPECT_EQ(v.substr(0, 2), "1|");
  auto back = DecodeValue(v);
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(Same(*back, i));
  auto old = DecodeValue("1|ev|u-1|3|1|1700000000000");
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->incarnation, 0);
  EXPECT_EQ(old->kind, RecordKind::kIssue);
  EXPECT_EQ(old->coupon_id, "ev-3");
}

TEST(KafkaRecordTest, IncarnationsAndRevocationsAreVersion2) {
  Issuance i = test::MakeIssuance("ev", "u-1", 12, 2);
  i.incarnation = 4503599627370495;
  for (RecordKind kind : {RecordKind::kIssue, RecordKind::kRevoke}) {
    i.kind = kind;
    const std::string v = EncodeValue(i);
    EXPECT_EQ(v.substr(0, 2), "2|") << v;
    auto back = DecodeValue(v);
    ASSERT_TRUE(back.has_value()) << v;
    EXPECT_TRUE(Same(*back, i)) << v;
  }
  Issuance revoke0 = test::MakeIssuance("ev", "u-1", 12);
  revoke0.kind = RecordKind::kRevoke;  // of a legacy event: still needs version 2
  EXPECT_EQ(EncodeValue(revoke0).substr(0, 2), "2|");
  EXPECT_EQ(DecodeValue(EncodeValue(revoke0))->kind, RecordKind::kRevoke);
  EXPECT_EQ(EncodeKey(revoke0), EncodeKey(test::MakeIssuance("ev", "u-1", 12)))
      << "keyed like the issuance: same partition, after it";
}

TEST(KafkaRecordTest, MalformedRecordsDecodeToNothing) {
  for (const char* v :
       {"", "2", "3|ev|u|1|1|5|1|i", "2|ev|u|1|1|5|1", "2|ev|u|1|1|5|1|x", "2|ev|u|1|1|5|-1|i",
        "2|ev|u|1|1|5|1|i|extra", "1|ev|u|1|1|5|1|i", "2|ev|u|0|1|5|1|i", "2|e v|u|1|1|5|1|i",
        "2|ev|u|1|1|5|one|i", "1|ev|u|1|1"}) {
    EXPECT_FALSE(DecodeValue(v).has_value()) << v;
  }
}

}  // namespace
}  // namespace firstcome::kafka

#include "store/mysql_schema.h"

namespace firstcome::mysql {

namespace {

constexpr std::size_t kMaxErrorBytes = 2000;

}  // namespace

const std::array<const char*, 5> kSchema = {
    "CREATE TABLE IF NOT EXISTS events ("
    " id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
    " name VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,"
    " total BIGINT NOT NULL,"
    " per_user INT NOT NULL,"
    " starts_at BIGINT NULL,"
    " ends_at BIGINT NULL,"
    " created_at BIGINT NOT NULL,"
    " closed TINYINT NOT NULL DEFAULT 0,"
    " incarnation BIGINT NOT NULL DEFAULT 0,"
    " version BIGINT NOT NULL DEFAULT 1,"
    " PRIMARY KEY (id)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    // The primary key is the UNIQUE(event_id, seq) of the contract; being the
    // clustered index it also makes ScanCoupons a sequential read.
    "CREATE TABLE IF NOT EXISTS coupons ("
    " event_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
    " seq BIGINT NOT NULL,"
    " user_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
    " user_seq INT NOT NULL,"
    " coupon_id VARCHAR(96) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
    " issued_at BIGINT NOT NULL,"
    " persisted_at BIGINT NOT NULL,"
    " PRIMARY KEY (event_id, seq),"
    " UNIQUE KEY coupons_user_slot (event_id, user_id, user_seq)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS failed_events ("
    " id BIGINT NOT NULL AUTO_INCREMENT,"
    " event_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
    " seq BIGINT NOT NULL,"
    " user_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
    " user_seq INT NOT NULL,"
    " coupon_id VARCHAR(96) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
    " issued_at BIGINT NOT NULL,"
    " error TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,"
    " attempts INT NOT NULL DEFAULT 0,"
    " next_attempt_at BIGINT NOT NULL,"
    " dead TINYINT NOT NULL DEFAULT 0,"
    " created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL,"
    " incarnation BIGINT NOT NULL DEFAULT 0,"
    " PRIMARY KEY (id),"
    " UNIQUE KEY failed_events_seq (event_id, seq),"
    " KEY failed_events_due (dead, next_attempt_at),"
    " KEY failed_events_user (event_id, user_id)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS revocations ("
    " event_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
    " seq BIGINT NOT NULL,"
    " user_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
    " user_seq INT NOT NULL,"
    " issued_at BIGINT NOT NULL,"
    " revoked_at BIGINT NOT NULL,"
    " PRIMARY KEY (event_id, seq, user_id, user_seq, issued_at)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS events_generation ("
    " one TINYINT NOT NULL,"
    " generation BIGINT NOT NULL,"
    " PRIMARY KEY (one)"
    ") ENGINE=InnoDB",
};

Status MigrateSchema(MysqlConnection& c) {
  for (const char* ddl : kSchema) {
    if (Status s = c.Exec(ddl); !s.ok()) return s;
  }
  // Tables made before events could be closed, changed or deleted.
  struct Column {
    const char* table;
    const char* name;
    const char* declaration;
  };
  static constexpr Column kAdded[] = {
      {"events", "closed", "TINYINT NOT NULL DEFAULT 0"},
      {"events", "incarnation", "BIGINT NOT NULL DEFAULT 0"},
      {"events", "version", "BIGINT NOT NULL DEFAULT 1"},
      {"failed_events", "incarnation", "BIGINT NOT NULL DEFAULT 0"},
  };
  static constexpr ColumnType kCount[] = {ColumnType::kInt};
  for (const Column& col : kAdded) {
    Params p;
    p.Str(col.table).Str(col.name);
    auto found = c.Query(
        "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND "
        "TABLE_NAME = ? AND COLUMN_NAME = ?",
        p, kCount);
    if (!found.ok()) return found.status();
    if (found->front()[0].i > 0) continue;
    const std::string alter =
        std::string("ALTER TABLE ") + col.table + " ADD COLUMN " + col.name + " " + col.declaration;
    if (Status s = c.Exec(alter); !s.ok()) return s;
  }
  return c.Exec("INSERT IGNORE INTO events_generation (one, generation) VALUES (1, 0)");
}

std::string InsertSql(std::size_t rows) {
  std::string sql =
      "INSERT INTO coupons (event_id, seq, user_id, user_seq, coupon_id, issued_at, "
      "persisted_at) VALUES ";
  for (std::size_t i = 0; i < rows; ++i) sql += i == 0 ? "(?,?,?,?,?,?,?)" : ",(?,?,?,?,?,?,?)";
  // A no-op update: a duplicate affects 0 rows instead of failing the batch.
  sql += " ON DUPLICATE KEY UPDATE seq = seq";
  return sql;
}

Event EventFromRow(const Row& r) {
  Event e;
  e.id = r[0].s;
  e.name = r[1].s;
  e.total = r[2].i;
  e.per_user = static_cast<std::int32_t>(r[3].i);
  if (!r[4].null) e.starts_at = r[4].i;
  if (!r[5].null) e.ends_at = r[5].i;
  e.created_at = r[6].i;
  e.closed = r[7].i != 0;
  e.incarnation = r[8].i;
  e.version = r[9].i;
  return e;
}

FailedEvent FailedFromRow(const Row& r) {
  FailedEvent f;
  f.id = r[0].i;
  f.issuance.event_id = r[1].s;
  f.issuance.user_id = r[2].s;
  f.issuance.seq = r[3].i;
  f.issuance.user_seq = static_cast<std::int32_t>(r[4].i);
  f.issuance.coupon_id = r[5].s;
  f.issuance.issued_at = r[6].i;
  f.error = r[7].s;
  f.attempts = static_cast<std::int32_t>(r[8].i);
  f.next_attempt_at = r[9].i;
  f.dead = r[10].i != 0;
  f.issuance.incarnation = r[11].i;
  return f;
}

// Error texts come from anywhere (a trigger's message, the server).
std::string ErrorText(std::string_view in) {
  std::string out;
  std::size_t i = 0;
  while (i < in.size() && out.size() < kMaxErrorBytes) {
    auto c = static_cast<unsigned char>(in[i]);
    std::size_t len = c < 0x80           ? 1
                      : (c >> 5) == 0x6  ? 2
                      : (c >> 4) == 0xE  ? 3
                      : (c >> 3) == 0x1E ? 4
                                         : 0;
    bool valid = len > 0 && i + len <= in.size();
    for (std::size_t k = 1; valid && k < len; ++k) {
      valid = (static_cast<unsigned char>(in[i + k]) & 0xC0) == 0x80;
    }
    if (!valid) {
      out += '?';
      ++i;
      continue;
    }
    if (out.size() + len > kMaxErrorBytes) break;
    out.append(in.substr(i, len));
    i += len;
  }
  return out;
}

void BindCoupon(Params& p, const Issuance& c, UnixMillis now) {
  p.Str(c.event_id)
      .Int(c.seq)
      .Str(c.user_id)
      .Int(c.user_seq)
      .Str(c.coupon_id)
      .Int(c.issued_at)
      .Int(now);
}

BulkParams CouponColumns(std::span<const Issuance> coupons, UnixMillis now) {
  const std::size_t n = coupons.size();
  std::vector<std::string_view> event_id(n), user_id(n), coupon_id(n);
  std::vector<std::int64_t> seq(n), user_seq(n), issued_at(n);
  for (std::size_t i = 0; i < n; ++i) {
    const Issuance& c = coupons[i];
    event_id[i] = c.event_id;
    seq[i] = c.seq;
    user_id[i] = c.user_id;
    user_seq[i] = c.user_seq;
    coupon_id[i] = c.coupon_id;
    issued_at[i] = c.issued_at;
  }
  BulkParams p(n);
  p.Strs(event_id).Ints(std::move(seq)).Strs(user_id).Ints(std::move(user_seq));
  p.Strs(coupon_id).Ints(std::move(issued_at)).Ints(std::vector<std::int64_t>(n, now));
  return p;
}

}  // namespace firstcome::mysql

// The libmariadb plumbing under MysqlStore: one connection with its cache of
// prepared statements (MysqlConnection), bound parameters and fetched rows, and
// a bounded pool that hands each connection to one thread at a time
// (MysqlPool). Private to src/store: only mysql_store.cc includes it.
//
// Invariants: every statement with parameters goes through mysql_stmt_*; a
// connection that saw a connection-level error (server gone, lost, timeout,
// shutdown) is marked broken and is never used again: the pool closes it and
// opens a new one for the next caller. Every network call is bounded by the
// connect/read/write timeouts set when the connection is opened.
#pragma once

#include <mysql.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"

namespace firstcome::mysql {

struct Endpoint {
  std::string host;
  unsigned int port = 3306;
  std::string user;
  std::string password;
  std::string database;
  std::chrono::milliseconds timeout{3000};
};

// mysql://user[:password]@host[:port]/database, user and password may be
// %-encoded.
Result<Endpoint> ParseMysqlUrl(std::string_view url);

// Parameters for one execution of a prepared statement. String values are not
// copied: the caller keeps them alive until the statement has run.
class Params {
 public:
  Params& Int(std::int64_t value);
  Params& OptionalInt(std::optional<std::int64_t> value);
  Params& Str(std::string_view value);
  std::size_t size() const { return binds_.size(); }
  MYSQL_BIND* data() { return binds_.data(); }

 private:
  std::deque<std::int64_t> ints_;  // deque: the binds point into it
  std::vector<MYSQL_BIND> binds_;
};

// Parameters for one bulk execution of a single-row statement (MariaDB's
// array binding, STMT_ATTR_ARRAY_SIZE): one column of values per parameter,
// `rows` values in each. The server runs the statement for every row as one
// statement: an error in any row undoes every row of it, as with a multi-row
// INSERT. String values are not copied: the caller keeps them alive until
// the statement has run.
class BulkParams {
 public:
  explicit BulkParams(std::size_t rows) : rows_(rows) {}
  // Each column must hold `rows` values.
  BulkParams& Ints(std::vector<std::int64_t> column);
  BulkParams& Strs(std::span<const std::string_view> column);
  std::size_t rows() const { return rows_; }
  std::size_t size() const { return binds_.size(); }
  MYSQL_BIND* data() { return binds_.data(); }

 private:
  std::size_t rows_;
  // deques: the binds point into their elements' buffers.
  std::deque<std::vector<std::int64_t>> ints_;
  std::deque<std::vector<char*>> strs_;
  std::deque<std::vector<unsigned long>> lengths_;
  std::vector<MYSQL_BIND> binds_;
};

enum class ColumnType { kInt, kStr };

// One fetched value; `null` for SQL NULL.
struct Cell {
  bool null = false;
  std::int64_t i = 0;
  std::string s;
};
using Row = std::vector<Cell>;

// Not thread-safe, and needs no lock: the pool lends it to one thread at a
// time (a Lease).
class MysqlConnection {
 public:
  static Result<std::unique_ptr<MysqlConnection>> Open(const Endpoint& endpoint);
  ~MysqlConnection();
  MysqlConnection(const MysqlConnection&) = delete;
  MysqlConnection& operator=(const MysqlConnection&) = delete;

  // A statement without parameters (DDL, START TRANSACTION).
  Status Exec(std::string_view sql);
  // A prepared statement; the number of affected rows.
  Result<std::uint64_t> Execute(const std::string& sql, Params& params);
  // A prepared single-row statement run for every row of `params` in one
  // round trip (only when SupportsBulk()); the affected rows of all of them.
  Result<std::uint64_t> ExecuteBulk(const std::string& sql, BulkParams& params);
  // The server takes bulk executions (MariaDB 10.2 and later; not MySQL).
  bool SupportsBulk() const { return bulk_; }
  // A prepared SELECT whose result columns have the given types.
  Result<std::vector<Row>> Query(const std::string& sql, Params& params,
                                 std::span<const ColumnType> columns);
  Status Commit();
  Status Rollback();
  Status Ping();

  bool broken() const { return broken_; }
  // The server/client error number of the last failed call (0 after success).
  unsigned int last_errno() const { return last_errno_; }
  // The last Execute/Query failed because of the rows it touched (a trigger's
  // SIGNAL, a value that does not fit, a constraint), not because of the
  // server or the connection: the statement was rolled back, the transaction
  // and the connection are still usable.
  bool record_error() const { return record_error_; }

 private:
  explicit MysqlConnection(MYSQL* mysql) : mysql_(mysql) {}
  Result<MYSQL_STMT*> Prepare(const std::string& sql);
  // Binds and executes; `rows` > 0: a bulk execution of that many rows.
  Result<MYSQL_STMT*> Run(const std::string& sql, MYSQL_BIND* binds, std::size_t count,
                          unsigned int rows);
  Status Fail(unsigned int code, const char* message, std::string_view what);

  MYSQL* mysql_;
  std::unordered_map<std::string, MYSQL_STMT*> statements_;
  bool broken_ = false;
  bool bulk_ = false;
  unsigned int last_errno_ = 0;
  bool record_error_ = false;
};

// Rolls the transaction back unless it was committed. A broken connection is
// left alone: the server rolls back when the session ends.
class TransactionGuard {
 public:
  explicit TransactionGuard(MysqlConnection& conn) : conn_(conn) {}
  ~TransactionGuard() {
    // Best effort: a rollback that fails on the connection marks it broken,
    // the pool drops it and the server rolls back when the session ends.
    if (!done_ && !conn_.broken()) (void)conn_.Rollback();
  }
  Status Commit() {
    done_ = true;
    return conn_.Commit();
  }

 private:
  MysqlConnection& conn_;
  bool done_ = false;
};

// A fixed number of connection slots, opened lazily. Acquire waits at most the
// endpoint's timeout for a free slot. Thread-safe: Acquire and the Leases'
// release may run concurrently on any threads (under mu_).
class MysqlPool {
 public:
  MysqlPool(Endpoint endpoint, int size);
  ~MysqlPool();

  class Lease {
   public:
    Lease(MysqlPool* pool, std::size_t slot, std::unique_ptr<MysqlConnection> conn);
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    MysqlConnection* operator->() { return conn_.get(); }
    MysqlConnection& operator*() { return *conn_; }

   private:
    MysqlPool* pool_;
    std::size_t slot_;
    std::unique_ptr<MysqlConnection> conn_;
  };

  Result<Lease> Acquire();
  const Endpoint& endpoint() const { return endpoint_; }

 private:
  struct Slot {
    std::unique_ptr<MysqlConnection> conn;
    std::uint64_t generation = 0;  // pool generation when conn was opened
    bool busy = false;
  };
  void Release(std::size_t slot, std::unique_ptr<MysqlConnection> conn);

  const Endpoint endpoint_;
  std::mutex mu_;
  std::condition_variable free_cv_;  // Acquire: a slot was released
  // guarded by mu_; a busy slot's connection is out on a Lease (not in conn)
  std::vector<Slot> slots_;
  // Bumped when any connection breaks. Why: when the server restarts, every
  // idle connection is dead too; retiring connections older than the last
  // break means one failed call per outage instead of one per pooled
  // connection. Guarded by mu_.
  std::uint64_t generation_ = 0;
};

}  // namespace firstcome::mysql

// See mysql_connection.h.
#include "store/mysql_connection.h"

#include <errmsg.h>
#include <mysqld_error.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "core/durations.h"

namespace firstcome::mysql {

namespace {

std::once_flag library_once;

// Errors after which the connection cannot be trusted: the client library's
// own errors (socket, protocol, timeouts) and the server telling us it is
// going away or killed our session.
bool IsConnectionError(unsigned int code) {
  if (code >= CR_MIN_ERROR && code <= CR_MAX_ERROR) return true;
  if (code >= 5000 && code < 6000) return true;  // Connector/C's own range (CR_ERR_NET_*)
  switch (code) {
    case ER_CON_COUNT_ERROR:
    case ER_SERVER_SHUTDOWN:
    case ER_NET_READ_ERROR:
    case ER_NET_READ_INTERRUPTED:
    case ER_NET_WRITE_INTERRUPTED:
    case ER_QUERY_INTERRUPTED:
    case ER_CONNECTION_KILLED:
    case ER_STATEMENT_TIMEOUT:
    case ER_UNKNOWN_STMT_HANDLER:
    case ER_NEED_REPREPARE:
      return true;
    default:
      return false;
  }
}

// Errors that say "try again" while the connection stays fine. InnoDB has
// rolled the whole transaction back for these.
bool IsTransientError(unsigned int code) {
  return code == ER_LOCK_DEADLOCK || code == ER_LOCK_WAIT_TIMEOUT;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> PercentDecode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return std::nullopt;
    int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

MYSQL_BIND EmptyBind() {
  MYSQL_BIND b;
  std::memset(&b, 0, sizeof b);
  return b;
}

// Errors one record can cause (a trigger's SIGNAL, a value that does not
// fit, a constraint): the record is refused, the connection stays usable.
bool IsRecordError(unsigned int code) {
  switch (code) {
    case ER_SIGNAL_EXCEPTION:
    case ER_DUP_ENTRY:
    case ER_BAD_NULL_ERROR:
    case ER_DATA_TOO_LONG:
    case ER_WARN_DATA_OUT_OF_RANGE:
    case ER_TRUNCATED_WRONG_VALUE:
    case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD:
    case ER_DATA_OUT_OF_RANGE:
    case ER_CONSTRAINT_FAILED:
    case ER_NO_REFERENCED_ROW_2:
    case ER_CANNOT_CONVERT_CHARACTER:
      return true;
    default:
      return false;
  }
}

}  // namespace

Result<Endpoint> ParseMysqlUrl(std::string_view url) {
  constexpr std::string_view kScheme = "mysql://";
  auto bad = [&](const char* why) {
    // The URL may hold a password: say what is wrong, not the URL.
    return Status::Invalid(std::string("mysql url (mysql://user:pass@host:port/db): ") + why);
  };
  if (url.substr(0, kScheme.size()) != kScheme) return bad("must start with mysql://");
  std::string_view rest = url.substr(kScheme.size());
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) return bad("no /database");
  std::string_view authority = rest.substr(0, slash);
  std::string_view database = rest.substr(slash + 1);
  if (auto q = database.find('?'); q != std::string_view::npos) return bad("no options allowed");
  if (database.empty()) return bad("empty database");

  Endpoint e;
  auto at = authority.rfind('@');
  if (at == std::string_view::npos) return bad("no user@");
  std::string_view userinfo = authority.substr(0, at);
  std::string_view hostport = authority.substr(at + 1);
  auto colon = userinfo.find(':');
  auto user = PercentDecode(userinfo.substr(0, colon));
  auto pass = PercentDecode(colon == std::string_view::npos ? std::string_view()
                                                            : userinfo.substr(colon + 1));
  if (!user || !pass || user->empty()) return bad("bad user or password");
  e.user = *user;
  e.password = *pass;

  auto pc = hostport.rfind(':');
  std::string_view host = hostport.substr(0, pc);
  if (pc != std::string_view::npos) {
    std::string_view port = hostport.substr(pc + 1);
    if (port.empty() || port.size() > 5) return bad("bad port");
    unsigned int p = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return bad("bad port");
      p = p * 10 + static_cast<unsigned int>(c - '0');
    }
    if (p == 0 || p > 65535) return bad("bad port");
    e.port = p;
  }
  if (host.empty()) return bad("empty host");
  e.host = std::string(host);
  auto db = PercentDecode(database);
  if (!db) return bad("bad database");
  e.database = *db;
  return e;
}

Params& Params::Int(std::int64_t value) {
  ints_.push_back(value);
  MYSQL_BIND b = EmptyBind();
  b.buffer_type = MYSQL_TYPE_LONGLONG;
  b.buffer = &ints_.back();
  binds_.push_back(b);
  return *this;
}

Params& Params::OptionalInt(std::optional<std::int64_t> value) {
  if (value) return Int(*value);
  MYSQL_BIND b = EmptyBind();
  b.buffer_type = MYSQL_TYPE_NULL;
  binds_.push_back(b);
  return *this;
}

Params& Params::Str(std::string_view value) {
  MYSQL_BIND b = EmptyBind();
  b.buffer_type = MYSQL_TYPE_STRING;
  // The API takes a non-const buffer for input and output alike; input
  // buffers are only read. With length == nullptr, buffer_length is the length.
  b.buffer = const_cast<char*>(value.data());
  b.buffer_length = value.size();
  binds_.push_back(b);
  return *this;
}

BulkParams& BulkParams::Ints(std::vector<std::int64_t> column) {
  std::vector<std::int64_t>& values = ints_.emplace_back(std::move(column));
  MYSQL_BIND b = EmptyBind();
  b.buffer_type = MYSQL_TYPE_LONGLONG;
  b.buffer = values.data();
  binds_.push_back(b);
  return *this;
}

BulkParams& BulkParams::Strs(std::span<const std::string_view> column) {
  std::vector<char*>& pointers = strs_.emplace_back();
  std::vector<unsigned long>& lengths = lengths_.emplace_back();
  pointers.reserve(column.size());
  lengths.reserve(column.size());
  for (std::string_view v : column) {
    // Input buffers are only read (see Params::Str).
    pointers.push_back(const_cast<char*>(v.data()));
    lengths.push_back(v.size());
  }
  MYSQL_BIND b = EmptyBind();
  b.buffer_type = MYSQL_TYPE_STRING;
  b.buffer = pointers.data();  // an array of buffers, one per row
  b.length = lengths.data();   // and their lengths
  binds_.push_back(b);
  return *this;
}

Result<std::unique_ptr<MysqlConnection>> MysqlConnection::Open(const Endpoint& e) {
  std::call_once(library_once, [] { mysql_library_init(0, nullptr, nullptr); });
  MYSQL* m = mysql_init(nullptr);
  if (m == nullptr) return Status::Internal("mysql: out of memory");
  // The client timeouts have a granularity of one second; round up (and 0
  // would mean no timeout at all).
  unsigned int seconds = static_cast<unsigned int>(std::max(1, TimeoutSeconds(e.timeout)));
  unsigned int protocol = MYSQL_PROTOCOL_TCP;  // never fall back to a local socket
  my_bool reconnect = 0;  // a silent reconnect would lose the transaction and statements
  mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &seconds);
  mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &seconds);
  mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &seconds);
  mysql_options(m, MYSQL_OPT_PROTOCOL, &protocol);
  mysql_options(m, MYSQL_OPT_RECONNECT, &reconnect);
  mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  if (mysql_real_connect(m, e.host.c_str(), e.user.c_str(), e.password.c_str(), e.database.c_str(),
                         e.port, nullptr, 0) == nullptr) {
    Status s = Status::Unavailable("mysql: cannot connect to " + e.host + ":" +
                                   std::to_string(e.port) + ": " + mysql_error(m));
    mysql_close(m);
    return s;
  }
  std::unique_ptr<MysqlConnection> conn(new MysqlConnection(m));
  unsigned long extended = 0;  // the MariaDB capabilities above bit 32
  conn->bulk_ =
      !(m->server_capabilities & CLIENT_MYSQL) &&
      mariadb_get_infov(m, MARIADB_CONNECTION_EXTENDED_SERVER_CAPABILITIES, &extended) == 0 &&
      (extended & (MARIADB_CLIENT_STMT_BULK_OPERATIONS >> 32)) != 0;
  // READ COMMITTED: no gap locks between consumers inserting neighbouring
  // seqs, and reads after an INSERT see rows other transactions committed.
  // Strict mode: a value that does not fit is an error, never truncated.
  // The lock wait ends (as a transient error) before the client read
  // timeout would declare the whole connection dead.
  if (Status s = conn->Exec("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"); !s.ok()) {
    return s;
  }
  if (Status s = conn->Exec("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION', "
                            "SESSION innodb_lock_wait_timeout = " +
                            std::to_string(std::max(1u, seconds - 1)));
      !s.ok()) {
    return s;
  }
  return conn;
}

MysqlConnection::~MysqlConnection() {
  for (auto& [sql, stmt] : statements_) mysql_stmt_close(stmt);
  mysql_close(mysql_);
}

Status MysqlConnection::Fail(unsigned int code, const char* message, std::string_view what) {
  last_errno_ = code;
  record_error_ = false;
  std::string text =
      "mysql: " + std::string(what) + ": " + message + " (error " + std::to_string(code) + ")";
  if (IsConnectionError(code)) {
    broken_ = true;
    return Status::Unavailable(std::move(text));
  }
  if (IsTransientError(code)) return Status::Unavailable(std::move(text));
  return Status::Internal(std::move(text));
}

Status MysqlConnection::Exec(std::string_view sql) {
  last_errno_ = 0;
  record_error_ = false;
  if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) {
    return Fail(mysql_errno(mysql_), mysql_error(mysql_), "query");
  }
  // Nothing here returns rows, but a result must be consumed to keep the
  // protocol in sync.
  if (MYSQL_RES* res = mysql_store_result(mysql_)) mysql_free_result(res);
  return Status::Ok();
}

Result<MYSQL_STMT*> MysqlConnection::Prepare(const std::string& sql) {
  if (auto it = statements_.find(sql); it != statements_.end()) return it->second;
  MYSQL_STMT* stmt = mysql_stmt_init(mysql_);
  if (stmt == nullptr) return Fail(mysql_errno(mysql_), mysql_error(mysql_), "prepare");
  if (mysql_stmt_prepare(stmt, sql.data(), sql.size()) != 0) {
    Status s = Fail(mysql_stmt_errno(stmt), mysql_stmt_error(stmt), "prepare");
    mysql_stmt_close(stmt);
    return s;
  }
  statements_.emplace(sql, stmt);
  return stmt;
}

Result<MYSQL_STMT*> MysqlConnection::Run(const std::string& sql, MYSQL_BIND* binds,
                                         std::size_t count, unsigned int rows) {
  last_errno_ = 0;
  record_error_ = false;
  auto prepared = Prepare(sql);
  if (!prepared.ok()) return prepared.status();
  MYSQL_STMT* stmt = *prepared;
  if (mysql_stmt_param_count(stmt) != count) {
    return Status::Internal("mysql: statement expects " +
                            std::to_string(mysql_stmt_param_count(stmt)) + " parameters, got " +
                            std::to_string(count));
  }
  // Set on every run: a cached statement used for a bulk execution once is
  // a single execution again the next time.
  if (mysql_stmt_attr_set(stmt, STMT_ATTR_ARRAY_SIZE, &rows) != 0) {
    return Fail(mysql_stmt_errno(stmt), mysql_stmt_error(stmt), "array size");
  }
  if (count > 0 && mysql_stmt_bind_param(stmt, binds) != 0) {
    return Fail(mysql_stmt_errno(stmt), mysql_stmt_error(stmt), "bind");
  }
  if (mysql_stmt_execute(stmt) != 0) {
    unsigned int code = mysql_stmt_errno(stmt);
    std::string_view state = mysql_stmt_sqlstate(stmt);
    Status s = Fail(code, mysql_stmt_error(stmt), "execute");
    // SQLSTATE classes 22 (data), 23 (constraint), 44 (check option) and 45
    // (a trigger's SIGNAL) refuse this statement's rows whatever error number
    // the server or the trigger chose.
    std::string_view cls = state.substr(0, 2);
    record_error_ = !broken_ && (IsRecordError(code) || cls == "22" || cls == "23" || cls == "44" ||
                                 cls == "45");
    return s;
  }
  return stmt;
}

Result<std::uint64_t> MysqlConnection::Execute(const std::string& sql, Params& params) {
  auto stmt = Run(sql, params.data(), params.size(), 0);
  if (!stmt.ok()) return stmt.status();
  return static_cast<std::uint64_t>(mysql_stmt_affected_rows(*stmt));
}

Result<std::uint64_t> MysqlConnection::ExecuteBulk(const std::string& sql, BulkParams& params) {
  if (!bulk_) return Status::Internal("mysql: the server takes no bulk executions");
  if (params.rows() == 0) return std::uint64_t{0};
  auto stmt = Run(sql, params.data(), params.size(), static_cast<unsigned int>(params.rows()));
  if (!stmt.ok()) return stmt.status();
  return static_cast<std::uint64_t>(mysql_stmt_affected_rows(*stmt));
}

Result<std::vector<Row>> MysqlConnection::Query(const std::string& sql, Params& params,
                                                std::span<const ColumnType> columns) {
  auto ran = Run(sql, params.data(), params.size(), 0);
  if (!ran.ok()) return ran.status();
  MYSQL_STMT* stmt = *ran;
  if (mysql_stmt_field_count(stmt) != columns.size()) {
    mysql_stmt_free_result(stmt);
    return Status::Internal("mysql: query returns " + std::to_string(mysql_stmt_field_count(stmt)) +
                            " columns, expected " + std::to_string(columns.size()));
  }
  struct Buffer {
    std::int64_t i = 0;
    char s[256];
    unsigned long length = 0;
    my_bool is_null = 0;
    my_bool error = 0;
  };
  std::vector<Buffer> buffers(columns.size());
  std::vector<MYSQL_BIND> binds(columns.size(), EmptyBind());
  for (std::size_t c = 0; c < columns.size(); ++c) {
    if (columns[c] == ColumnType::kInt) {
      binds[c].buffer_type = MYSQL_TYPE_LONGLONG;
      binds[c].buffer = &buffers[c].i;
    } else {
      binds[c].buffer_type = MYSQL_TYPE_STRING;
      binds[c].buffer = buffers[c].s;
      binds[c].buffer_length = sizeof buffers[c].s;
    }
    binds[c].length = &buffers[c].length;
    binds[c].is_null = &buffers[c].is_null;
    binds[c].error = &buffers[c].error;
  }
  auto fail = [&](const char* what) {
    Status s = Fail(mysql_stmt_errno(stmt), mysql_stmt_error(stmt), what);
    mysql_stmt_free_result(stmt);
    return s;
  };
  if (mysql_stmt_bind_result(stmt, binds.data()) != 0) return fail("bind result");
  // Buffer the whole result: the caller may run another statement on this
  // connection before it looks at the rows.
  if (mysql_stmt_store_result(stmt) != 0) return fail("fetch");
  std::vector<Row> rows;
  for (;;) {
    int rc = mysql_stmt_fetch(stmt);
    if (rc == MYSQL_NO_DATA) break;
    if (rc != 0 && rc != MYSQL_DATA_TRUNCATED) return fail("fetch");
    Row row(columns.size());
    for (std::size_t c = 0; c < columns.size(); ++c) {
      Buffer& b = buffers[c];
      if (b.is_null) {
        row[c].null = true;
      } else if (columns[c] == ColumnType::kInt) {
        row[c].i = b.i;
      } else if (b.length <= sizeof b.s) {
        row[c].s.assign(b.s, b.length);
      } else {
        // Longer than the inline buffer (long error texts): fetch it whole.
        row[c].s.resize(b.length);
        MYSQL_BIND whole = EmptyBind();
        whole.buffer_type = MYSQL_TYPE_STRING;
        whole.buffer = row[c].s.data();
        whole.buffer_length = b.length;
        if (mysql_stmt_fetch_column(stmt, &whole, static_cast<unsigned int>(c), 0) != 0) {
          return fail("fetch column");
        }
      }
    }
    rows.push_back(std::move(row));
  }
  mysql_stmt_free_result(stmt);
  return rows;
}

Status MysqlConnection::Commit() {
  last_errno_ = 0;
  record_error_ = false;
  if (mysql_commit(mysql_) != 0) return Fail(mysql_errno(mysql_), mysql_error(mysql_), "commit");
  return Status::Ok();
}

Status MysqlConnection::Rollback() {
  last_errno_ = 0;
  record_error_ = false;
  if (mysql_rollback(mysql_) != 0) {
    return Fail(mysql_errno(mysql_), mysql_error(mysql_), "rollback");
  }
  return Status::Ok();
}

Status MysqlConnection::Ping() {
  last_errno_ = 0;
  record_error_ = false;
  if (mysql_ping(mysql_) != 0) return Fail(mysql_errno(mysql_), mysql_error(mysql_), "ping");
  return Status::Ok();
}

MysqlPool::MysqlPool(Endpoint endpoint, int size)
    : endpoint_(std::move(endpoint)), slots_(static_cast<std::size_t>(std::max(1, size))) {}

MysqlPool::~MysqlPool() = default;

MysqlPool::Lease::Lease(MysqlPool* pool, std::size_t slot, std::unique_ptr<MysqlConnection> conn)
    : pool_(pool), slot_(slot), conn_(std::move(conn)) {}

MysqlPool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      slot_(other.slot_),
      conn_(std::move(other.conn_)) {}

MysqlPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->Release(slot_, std::move(conn_));
}

Result<MysqlPool::Lease> MysqlPool::Acquire() {
  std::size_t slot = 0;
  std::unique_ptr<MysqlConnection> conn;
  std::uint64_t generation = 0;
  {
    std::unique_lock lock(mu_);
    auto free_slot = [&] {
      // Prefer an open, current connection over opening a new one.
      std::optional<std::size_t> any;
      for (std::size_t i = 0; i < slots_.size(); ++i) {
        if (slots_[i].busy) continue;
        if (slots_[i].conn && slots_[i].generation == generation_) return std::optional(i);
        if (!any) any = i;
      }
      return any;
    };
    std::optional<std::size_t> found;
    if (!free_cv_.wait_for(lock, endpoint_.timeout,
                           [&] { return (found = free_slot()).has_value(); })) {
      return Status::Unavailable("mysql: all " + std::to_string(slots_.size()) +
                                 " connections busy for " +
                                 std::to_string(endpoint_.timeout.count()) + " ms");
    }
    slot = *found;
    slots_[slot].busy = true;
    conn = std::move(slots_[slot].conn);
    if (conn && slots_[slot].generation != generation_) conn.reset();  // from before a break
    generation = generation_;
    if (!conn) slots_[slot].generation = generation;
  }
  if (!conn) {
    // Opened outside the lock: a connect may take up to the timeout.
    auto opened = MysqlConnection::Open(endpoint_);
    if (!opened.ok()) {
      Release(slot, nullptr);
      return opened.status();
    }
    conn = std::move(opened).value();
  }
  return Lease(this, slot, std::move(conn));
}

void MysqlPool::Release(std::size_t slot, std::unique_ptr<MysqlConnection> conn) {
  std::unique_ptr<MysqlConnection> retired;
  {
    std::lock_guard lock(mu_);
    if (conn && conn->broken()) {
      ++generation_;
      retired = std::move(conn);
    }
    slots_[slot].conn = std::move(conn);
    slots_[slot].busy = false;
  }
  free_cv_.notify_one();
  // `retired` closes here, outside the lock (mysql_close may touch the socket).
}

}  // namespace firstcome::mysql

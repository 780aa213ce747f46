// SqliteLog (see sqlite_log.h): the embedded Log on one SQLite file.
//
// Schema:
//   records(pos INTEGER PRIMARY KEY, event_id, user_id, seq, user_seq, issued_at,
//           incarnation, kind)  (kind 0 issue, 1 revoke; both columns added to
//           files made by older versions, where every row is an issue of 0)
//     pos is the log position: rows are only ever appended in pos order, never
//     updated or deleted, so positions of committed rows are dense (a rolled
//     back transaction leaves no gap: SQLite hands out max(pos)+1 again).
//   cursors(grp TEXT PRIMARY KEY, pos): the committed position of each reader
//   group, in the same file so that it survives restarts with the records.
//
// Threads: Append only queues (bounded by max_pending). One writer thread owns
// the writer connection: it takes everything queued (up to max_batch), writes
// it in ONE transaction, commits (with synchronous=FULL in WAL mode that is one
// fsync of the WAL), and only then calls every callback with ok. A batch that
// cannot be committed is rolled back and every callback hears
// Unavailable/kNotPersisted. Records are written in arrival order by one
// thread, so records of one (event, user) keep their order.
// Readers, Scan and ScanAll use connections of their own; WAL lets them read
// while the writer writes, in this process or another (`firstcome audit`).
#include "log/sqlite_log.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "core/thread_name.h"
#include "sqlite/sqlite_connection.h"

namespace firstcome {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Readers poll the file at this interval when no in-process commit woke them
// (appends made by another process).
constexpr milliseconds kReaderPollInterval{20};
constexpr milliseconds kHealthProbeBusyTimeout{200};

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS records(
  pos INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  user_seq INTEGER NOT NULL,
  issued_at INTEGER NOT NULL,
  incarnation INTEGER NOT NULL DEFAULT 0,
  kind INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS cursors(
  grp TEXT PRIMARY KEY,
  pos INTEGER NOT NULL);
)sql";

constexpr char kRecordColumns[] = "event_id, user_id, seq, user_seq, issued_at, incarnation, kind";

// The log's connections: errors read "sqlite log: ...".
class Connection : public SqliteConnection {
 public:
  Connection() : SqliteConnection("sqlite log") {}
};

class Statement {
 public:
  Statement() = default;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }

  Status Prepare(Connection& c, const std::string& sql) {
    sqlite3_finalize(stmt_);
    stmt_ = nullptr;
    int rc =
        sqlite3_prepare_v3(c.get(), sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
    if (rc != SQLITE_OK) return c.Error("prepare", rc);
    return Status::Ok();
  }
  sqlite3_stmt* get() const { return stmt_; }
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

std::string Text(sqlite3_stmt* s, int col) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
  return p != nullptr ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, col)))
                      : std::string();
}

// Columns in kRecordColumns order starting at `first`.
Issuance RecordAt(sqlite3_stmt* s, int first) {
  Issuance i;
  i.event_id = Text(s, first);
  i.user_id = Text(s, first + 1);
  i.seq = sqlite3_column_int64(s, first + 2);
  i.user_seq = static_cast<std::int32_t>(sqlite3_column_int64(s, first + 3));
  i.issued_at = sqlite3_column_int64(s, first + 4);
  i.incarnation = sqlite3_column_int64(s, first + 5);
  i.kind = sqlite3_column_int64(s, first + 6) == 1 ? RecordKind::kRevoke : RecordKind::kIssue;
  i.coupon_id = CouponId(i.event_id, i.seq);
  return i;
}

// Wakes readers of this process when the writer committed.
class CommitSignal {
 public:
  void Notify() {
    {
      std::lock_guard lock(mu_);
      ++generation_;
    }
    cv_.notify_all();
  }
  std::uint64_t generation() {
    std::lock_guard lock(mu_);
    return generation_;
  }
  // Waits until the generation moves past `seen` or `until`.
  void WaitPast(std::uint64_t seen, Clock::time_point until) {
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, until, [&] { return generation_ != seen; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t generation_ = 0;  // guarded by mu_
};

class SqliteLogReader final : public LogReader {
 public:
  SqliteLogReader(std::string group, std::shared_ptr<CommitSignal> signal)
      : group_(std::move(group)), signal_(std::move(signal)) {}

  Status Open(const SqliteLogOptions& options) {
    if (Status s = db_.Open(options.path, options.busy_timeout); !s.ok()) return s;
    if (Status s = poll_.Prepare(db_, std::string("SELECT pos, ") + kRecordColumns +
                                          " FROM records WHERE pos > ? ORDER BY pos LIMIT ?");
        !s.ok()) {
      return s;
    }
    if (Status s = save_.Prepare(db_,
                                 "INSERT INTO cursors(grp, pos) VALUES(?, ?) "
                                 "ON CONFLICT(grp) DO UPDATE SET pos = excluded.pos");
        !s.ok()) {
      return s;
    }
    if (Status s = max_.Prepare(db_, "SELECT coalesce(max(pos), 0) FROM records"); !s.ok()) {
      return s;
    }
    Statement load;
    if (Status s = load.Prepare(db_, "SELECT pos FROM cursors WHERE grp = ?"); !s.ok()) return s;
    sqlite3_bind_text(load.get(), 1, group_.data(), static_cast<int>(group_.size()), SQLITE_STATIC);
    int rc = sqlite3_step(load.get());
    if (rc == SQLITE_ROW) {
      committed_ = sqlite3_column_int64(load.get(), 0);
    } else if (rc != SQLITE_DONE) {
      return db_.Error("load cursor", rc);
    }
    read_ = committed_;
    return Status::Ok();
  }

  Result<std::vector<Issuance>> Poll(std::size_t max_records,
                                     std::chrono::milliseconds wait) override {
    std::vector<Issuance> out;
    if (max_records == 0) return out;
    const Clock::time_point deadline = Clock::now() + std::max(wait, milliseconds(0));
    for (;;) {
      // Read the generation first: a commit after it wakes the wait below.
      const std::uint64_t seen = signal_->generation();
      if (Status s = ReadAfter(read_, max_records, &out); !s.ok()) return s;
      if (!out.empty()) return out;
      const Clock::time_point now = Clock::now();
      if (now >= deadline) return out;
      signal_->WaitPast(seen, std::min(deadline, now + kReaderPollInterval));
    }
  }

  Status Commit() override {
    if (read_ == committed_) return Status::Ok();
    Status s = Save(read_);
    if (s.ok()) committed_ = read_;
    return s;
  }

  Status Rewind() override {
    read_ = committed_;
    return Status::Ok();
  }

  std::int64_t Lag() override {
    // Positions are dense (see the top), so the lag is a subtraction.
    int rc = sqlite3_step(max_.get());
    std::int64_t lag = -1;
    if (rc == SQLITE_ROW)
      lag = std::max<std::int64_t>(0, sqlite3_column_int64(max_.get(), 0) - committed_);
    max_.Reset();
    return lag;
  }

 private:
  Status ReadAfter(std::int64_t after, std::size_t max_records, std::vector<Issuance>* out) {
    sqlite3_stmt* s = poll_.get();
    sqlite3_bind_int64(s, 1, after);
    sqlite3_bind_int64(s, 2,
                       static_cast<sqlite3_int64>(std::min<std::size_t>(max_records, 1 << 30)));
    int rc;
    std::int64_t last = after;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      last = sqlite3_column_int64(s, 0);
      out->push_back(RecordAt(s, 1));
    }
    poll_.Reset();
    if (rc != SQLITE_DONE) {
      out->clear();
      return db_.Error("poll", rc);
    }
    read_ = last;
    return Status::Ok();
  }

  Status Save(std::int64_t pos) {
    sqlite3_stmt* s = save_.get();
    sqlite3_bind_text(s, 1, group_.data(), static_cast<int>(group_.size()), SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, pos);
    int rc = sqlite3_step(s);
    save_.Reset();
    if (rc != SQLITE_DONE) return db_.Error("commit cursor of " + group_, rc);
    return Status::Ok();
  }

  // No lock: a reader is used by one thread at a time (log.h) and shares only
  // signal_, which guards itself.
  std::string group_;
  std::shared_ptr<CommitSignal> signal_;
  Connection db_;
  Statement poll_, save_, max_;
  std::int64_t committed_ = 0;  // persisted in cursors
  std::int64_t read_ = 0;       // last position returned by Poll
};

class SqliteLog final : public Log {
 public:
  explicit SqliteLog(SqliteLogOptions options)
      : options_(std::move(options)), signal_(std::make_shared<CommitSignal>()) {}

  ~SqliteLog() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    work_cv_.notify_all();
    checkpoint_cv_.notify_all();
    if (writer_.joinable()) writer_.join();
    if (checkpointer_.joinable()) checkpointer_.join();
  }

  Status Open() {
    if (Status s = db_.Open(options_.path, options_.busy_timeout); !s.ok()) return s;
    if (Status s = db_.Exec("PRAGMA journal_mode=WAL"); !s.ok()) return s;
    if (Status s = db_.Exec(kSchema); !s.ok()) return s;
    for (const char* column : {"incarnation", "kind"}) {
      if (Status s = db_.AddColumnIfMissing("records", column, "INTEGER NOT NULL DEFAULT 0");
          !s.ok()) {
        return s;
      }
    }
    if (Status s = insert_.Prepare(db_, std::string("INSERT INTO records(") + kRecordColumns +
                                            ") VALUES(?, ?, ?, ?, ?, ?, ?)");
        !s.ok()) {
      return s;
    }
    // Checkpoints run on their own connection and thread (PASSIVE: they never
    // block the writer). Left to SQLite's auto-checkpoint, every ~1000 pages
    // one COMMIT would also copy the WAL into the database, and every
    // admission waiting on that group commit would wait for the copy too.
    // The writer still checkpoints by itself past 10,000 pages (~40 MiB): a
    // bound on the WAL should the checkpointer fall behind.
    if (Status s = db_.Exec("PRAGMA wal_autocheckpoint=10000"); !s.ok()) return s;
    if (Status s = db_.Exec("PRAGMA journal_size_limit=67108864"); !s.ok()) return s;
    if (Status s = checkpoint_db_.Open(options_.path, options_.busy_timeout); !s.ok()) return s;
    writer_ = std::thread([this] { WriterLoop(); });
    checkpointer_ = std::thread([this] { CheckpointLoop(); });
    return Status::Ok();
  }

  void Append(const Issuance& issuance, AppendCallback done) override {
    bool closing;
    {
      std::lock_guard lock(mu_);
      closing = stopping_;
      if (!closing && pending_ < options_.max_pending) {
        queue_.push_back(Pending{issuance, std::move(done)});
        ++pending_;
        // The writer only sleeps on an empty queue.
        if (queue_.size() == 1) work_cv_.notify_one();
        return;
      }
    }
    done(AppendResult{Status::Unavailable(closing ? "sqlite log: closing"
                                                  : "sqlite log: too many appends pending"),
                      AppendFailure::kNotPersisted});
  }

  Status Flush(std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mu_);
    if (!idle_cv_.wait_for(lock, timeout, [this] { return pending_ == 0; })) {
      return Status::Unavailable("sqlite log: flush timed out with " + std::to_string(pending_) +
                                 " appends pending");
    }
    return Status::Ok();
  }

  Status Scan(std::string_view event_id,
              const std::function<void(const Issuance&)>& visit) override {
    return ScanWhere(" WHERE event_id = ?1", event_id, visit);
  }

  Status ScanAll(const std::function<void(const Issuance&)>& visit) override {
    return ScanWhere("", {}, visit);
  }

  Result<std::unique_ptr<LogReader>> OpenReader(const std::string& group) override {
    if (group.empty()) return Status::Invalid("sqlite log: reader group must not be empty");
    auto reader = std::make_unique<SqliteLogReader>(group, signal_);
    if (Status s = reader->Open(options_); !s.ok()) return s;
    return std::unique_ptr<LogReader>(std::move(reader));
  }

  Status Health() override {
    if (healthy_.load()) return Status::Ok();
    // The last batch failed: find out whether a write could succeed now
    // (someone may still hold the database locked).
    std::lock_guard lock(probe_mu_);
    Connection probe;
    if (Status s = probe.Open(options_.path, kHealthProbeBusyTimeout); !s.ok()) return s;
    if (Status s = probe.Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
    // Best effort: the probe connection closes on return, which rolls back.
    (void)probe.Exec("ROLLBACK");
    healthy_.store(true);
    return Status::Ok();
  }

 private:
  struct Pending {
    Issuance issuance;
    AppendCallback done;
  };

  void WriterLoop() {
    NameThisThread("fc-log-writer");
    std::vector<Pending> batch;
    for (;;) {
      // Worth waiting for: appends arrive concurrently, but not so fast that
      // the queue fills during a commit anyway.
      const bool busy = batch.size() >= options_.commit_delay_after &&
                        batch.size() < options_.commit_delay_before;
      batch.clear();
      if (busy && options_.commit_delay.count() > 0) {
        std::this_thread::sleep_for(options_.commit_delay);
      }
      {
        std::unique_lock lock(mu_);
        work_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        // On stop, what is queued is still written: those callers wait for
        // an answer, and a durable one is the better answer.
        if (queue_.empty()) return;
        const std::size_t n = std::min(queue_.size(), std::max<std::size_t>(1, options_.max_batch));
        for (std::size_t i = 0; i < n; ++i) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      Status written = WriteBatch(batch);
      healthy_.store(written.ok());
      if (written.ok()) signal_->Notify();
      const AppendResult result{written, AppendFailure::kNotPersisted};
      for (Pending& p : batch) p.done(result);
      {
        std::lock_guard lock(mu_);
        pending_ -= batch.size();
      }
      idle_cv_.notify_all();
    }
  }

  void CheckpointLoop() {
    NameThisThread("fc-log-ckpt");
    std::unique_lock lock(mu_);
    while (!stopping_) {
      checkpoint_cv_.wait_for(lock, kCheckpointEvery);
      if (stopping_) break;
      lock.unlock();
      int rc = sqlite3_wal_checkpoint_v2(checkpoint_db_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                         nullptr, nullptr);
      if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        spdlog::warn("sqlite log: checkpoint failed: {}", sqlite3_errstr(rc));
      }
      lock.lock();
    }
  }

  Status WriteBatch(const std::vector<Pending>& batch) {
    if (Status s = db_.BeginImmediate(); !s.ok()) return s;
    sqlite3_stmt* s = insert_.get();
    for (const Pending& p : batch) {
      const Issuance& i = p.issuance;
      sqlite3_bind_text(s, 1, i.event_id.data(), static_cast<int>(i.event_id.size()),
                        SQLITE_STATIC);
      sqlite3_bind_text(s, 2, i.user_id.data(), static_cast<int>(i.user_id.size()), SQLITE_STATIC);
      sqlite3_bind_int64(s, 3, i.seq);
      sqlite3_bind_int64(s, 4, i.user_seq);
      sqlite3_bind_int64(s, 5, i.issued_at);
      sqlite3_bind_int64(s, 6, i.incarnation);
      sqlite3_bind_int64(s, 7, i.kind == RecordKind::kRevoke ? 1 : 0);
      int rc = sqlite3_step(s);
      sqlite3_reset(s);
      if (rc != SQLITE_DONE) {
        Status err = db_.Error("append", rc);
        db_.Rollback();
        return err;
      }
    }
    if (Status c = db_.Commit(); !c.ok()) {
      db_.Rollback();
      return c;
    }
    if (options_.on_commit) options_.on_commit(batch.size());
    return Status::Ok();
  }

  // Opens a connection per scan so scans never wait for the writer's lock.
  Status ScanWhere(const char* where, std::string_view event_id,
                   const std::function<void(const Issuance&)>& visit) {
    Connection c;
    if (Status s = c.Open(options_.path, options_.busy_timeout); !s.ok()) return s;
    Statement st;
    if (Status s = st.Prepare(
            c, std::string("SELECT ") + kRecordColumns + " FROM records" + where + " ORDER BY pos");
        !s.ok()) {
      return s;
    }
    if (*where != '\0') {
      sqlite3_bind_text(st.get(), 1, event_id.data(), static_cast<int>(event_id.size()),
                        SQLITE_STATIC);
    }
    int rc;
    while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) visit(RecordAt(st.get(), 0));
    if (rc != SQLITE_DONE) return c.Error("scan", rc);
    return Status::Ok();
  }

  const SqliteLogOptions options_;
  std::shared_ptr<CommitSignal> signal_;
  Connection db_;     // the writer's; used only by the writer thread after Open
  Statement insert_;  // on db_: writer thread only
  std::thread writer_;
  static constexpr milliseconds kCheckpointEvery{100};
  Connection checkpoint_db_;  // the checkpointer's; checkpointer thread only
  std::thread checkpointer_;
  std::atomic<bool> healthy_{true};  // did the last batch commit
  std::mutex probe_mu_;              // one Health probe at a time (guards no member)

  std::mutex mu_;
  std::condition_variable work_cv_;        // writer: something queued or stopping
  std::condition_variable idle_cv_;        // Flush: pending_ dropped
  std::condition_variable checkpoint_cv_;  // checkpointer: stopping
  std::deque<Pending> queue_;              // guarded by mu_
  std::size_t pending_ = 0;                // guarded by mu_; queued + being written
  bool stopping_ = false;                  // guarded by mu_
};

}  // namespace

Result<std::unique_ptr<Log>> OpenSqliteLog(const SqliteLogOptions& options) {
  if (options.path.empty()) return Status::Invalid("sqlite log: path is empty");
  if (options.max_batch < 1) return Status::Invalid("sqlite log: max_batch must be >= 1");
  if (options.max_pending < 1) return Status::Invalid("sqlite log: max_pending must be >= 1");
  auto log = std::make_unique<SqliteLog>(options);
  if (Status s = log->Open(); !s.ok()) return s;
  return std::unique_ptr<Log>(std::move(log));
}

}  // namespace firstcome

#include "log/kafka_client.h"

#include <spdlog/spdlog.h>

#include <cstddef>

#include "core/durations.h"

namespace firstcome::kafka {

namespace {

using std::chrono::milliseconds;

Status Set(rd_kafka_conf_t* conf, const char* key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key, value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    return Status::Invalid(std::string("kafka: ") + key + "=" + value + ": " + err);
  }
  return Status::Ok();
}

// librdkafka prints to stderr by default; route it through our logger.
// Its warnings (syslog level 4: a consumer past max.poll.interval.ms, an
// offset reset) are warnings here too: they can explain a redelivery or a
// skipped record after the fact.
void LogToSpdlog(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  if (level <= 4) {
    spdlog::warn("kafka {}: {}", fac, buf);
  } else if (level <= 5) {
    spdlog::info("kafka {}: {}", fac, buf);
  } else {
    spdlog::debug("kafka {}: {}", fac, buf);
  }
}

}  // namespace

Status SetAll(rd_kafka_conf_t* conf,
              std::initializer_list<std::pair<const char*, std::string>> settings) {
  for (const auto& [key, value] : settings) {
    if (Status s = Set(conf, key, value); !s.ok()) return s;
  }
  return Status::Ok();
}

Result<rd_kafka_t*> NewHandle(rd_kafka_type_t type, ConfPtr conf) {
  rd_kafka_conf_set_log_cb(conf.get(), LogToSpdlog);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof err);
  if (rk == nullptr) return Status::Invalid(std::string("kafka: ") + err);
  conf.release();  // owned by rk now
  return rk;
}

Result<MetadataPtr> TopicMetadata(rd_kafka_t* rk, rd_kafka_topic_t* topic, milliseconds timeout) {
  const rd_kafka_metadata_t* raw = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, topic, &raw, TimeoutMillis(timeout));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Unavailable(std::string("kafka: metadata: ") + rd_kafka_err2str(err));
  }
  MetadataPtr md(raw);
  if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR ||
      md->topics[0].partition_cnt < 1) {
    return Status::Unavailable(std::string("kafka: topic not ready: ") +
                               rd_kafka_err2str(md->topic_cnt == 1
                                                    ? md->topics[0].err
                                                    : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
  }
  return md;
}

Status CreateTopic(rd_kafka_t* rk, const std::string& topic, int partitions, milliseconds timeout) {
  char err[512];
  // Replication -1: the brokers' default.replication.factor (1 on the single
  // broker of `scripts/services up`, 3 with min.insync.replicas 2 on `--ha`),
  // so the cluster, not each client, decides how many copies a record has.
  rd_kafka_NewTopic_t* new_topic =
      rd_kafka_NewTopic_new(topic.c_str(), partitions, -1, err, sizeof err);
  if (new_topic == nullptr) return Status::Invalid(std::string("kafka: topic: ") + err);
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout(opts, TimeoutMillis(timeout), err, sizeof err);
  rd_kafka_AdminOptions_set_operation_timeout(opts, TimeoutMillis(timeout), err, sizeof err);
  QueuePtr queue(rd_kafka_queue_new(rk));
  rd_kafka_CreateTopics(rk, &new_topic, 1, opts, queue.get());
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_NewTopic_destroy(new_topic);

  // Why a margin: the request's own timeout fires first and says what happened.
  EventPtr ev(rd_kafka_queue_poll(queue.get(), TimeoutMillis(timeout + milliseconds(1000))));
  if (!ev) return Status::Unavailable("kafka: topic creation timed out");
  if (rd_kafka_event_error(ev.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Unavailable(std::string("kafka: create topic: ") +
                               rd_kafka_event_error_string(ev.get()));
  }
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(ev.get());
  std::size_t n = 0;
  const rd_kafka_topic_result_t** results =
      result ? rd_kafka_CreateTopics_result_topics(result, &n) : nullptr;
  for (std::size_t k = 0; k < n; ++k) {
    rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[k]);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      const char* msg = rd_kafka_topic_result_error_string(results[k]);
      return Status::Unavailable(std::string("kafka: create topic: ") +
                                 (msg ? msg : rd_kafka_err2str(e)));
    }
  }
  return Status::Ok();
}

}  // namespace firstcome::kafka

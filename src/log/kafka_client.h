// The librdkafka plumbing under KafkaLog and its reader: owning pointers for
// the library's handles, configuration, client creation (logging through
// spdlog), and the two metadata requests the log needs (is the topic there,
// create it). Internal to src/log: only the Kafka log's files include it.
//
// Invariants: every handle returned is owned by exactly one smart pointer or
// by the rd_kafka_t it was given to; every call here that talks to a broker
// is bounded by the timeout it is given.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>

#include "core/status.h"

namespace firstcome::kafka {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
struct EventDeleter {
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};
using EventPtr = std::unique_ptr<rd_kafka_event_t, EventDeleter>;
struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using ListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* m) const { rd_kafka_metadata_destroy(m); }
};
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;
struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

// Sets every key=value; Invalid (naming the setting) at the first one refused.
Status SetAll(rd_kafka_conf_t* conf,
              std::initializer_list<std::pair<const char*, std::string>> settings);

// A new producer or consumer owning `conf`; librdkafka's log goes to spdlog.
Result<rd_kafka_t*> NewHandle(rd_kafka_type_t type, ConfPtr conf);

// The topic's metadata; ok only when a broker answered and the topic has
// partitions. Blocks at most `timeout`.
Result<MetadataPtr> TopicMetadata(rd_kafka_t* rk, rd_kafka_topic_t* topic,
                                  std::chrono::milliseconds timeout);

// Creates the topic (replication factor 1); ok when it exists already.
Status CreateTopic(rd_kafka_t* rk, const std::string& topic, int partitions,
                   std::chrono::milliseconds timeout);

}  // namespace firstcome::kafka

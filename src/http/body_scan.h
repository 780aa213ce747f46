// BodyScan: the Boost.JSON SAX handler that checks a request body in one
// pass (json_codec.cc, the only user). Internal to the http library.
#pragma once

#include <boost/json/basic_parser.hpp>
#include <boost/json/kind.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace firstcome::http {

// A SAX pass over a body: the root's kind, the first key an object names
// twice, and the root object's user_id. Why duplicate keys are refused:
// Boost.JSON keeps the last of duplicate keys, a proxy or WAF in front may
// keep the first, and then the two read one body two ways (say, two different
// user_ids). ParseObject runs it after the DOM parse; the issue body (the hot
// path) is checked by this pass alone, without a DOM. Keys of the open
// objects are kept in one flat list, each object's part starting at
// `starts_`; the handler keeps its capacity across calls (thread_local
// parsers), so a warm thread allocates nothing.
class BodyScan {
 public:
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  // The root's kind (kind::object when it is one); null until a value came.
  boost::json::kind root = boost::json::kind::null;
  bool root_seen = false;
  std::string duplicate;  // the first key named twice
  bool has_duplicate = false;
  // user_id of the root object: present, its kind, and the string value.
  bool user_id_seen = false;
  boost::json::kind user_id_kind = boost::json::kind::null;
  std::string user_id;

  void Reset() {
    root = boost::json::kind::null;
    root_seen = false;
    duplicate.clear();
    has_duplicate = false;
    user_id_seen = false;
    user_id_kind = boost::json::kind::null;
    user_id.clear();
    key_count_ = 0;
    starts_.clear();
    partial_.clear();
    depth_ = 0;
    in_user_id_ = false;
  }

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_array_begin(boost::system::error_code&) {
    Value(boost::json::kind::array);
    ++depth_;
    return true;
  }
  bool on_array_end(std::size_t, boost::system::error_code&) {
    --depth_;
    return true;
  }
  bool on_object_begin(boost::system::error_code&) {
    Value(boost::json::kind::object);
    ++depth_;
    starts_.push_back(key_count_);
    return true;
  }
  bool on_object_end(std::size_t, boost::system::error_code&) {
    --depth_;
    key_count_ = starts_.back();
    starts_.pop_back();
    return true;
  }
  bool on_string_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    if (in_user_id_) user_id.append(s.data(), s.size());
    return true;
  }
  bool on_string(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    if (in_user_id_) user_id.append(s.data(), s.size());
    Value(boost::json::kind::string);
    return true;
  }
  bool on_key_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    partial_.append(s.data(), s.size());
    return true;
  }
  bool on_key(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    partial_.append(s.data(), s.size());
    if (!has_duplicate) {
      for (std::size_t i = starts_.back(); i < key_count_; ++i) {
        if (keys_[i] == partial_) {
          // Remembered, not stopped at: a syntax error later in the body
          // still wins, as it does in ParseObject.
          duplicate = partial_;
          has_duplicate = true;
          break;
        }
      }
    }
    // The open objects' keys are keys_[0, key_count_): the strings past it
    // are kept for their capacity.
    if (key_count_ < keys_.size()) {
      keys_[key_count_].assign(partial_);
    } else {
      keys_.push_back(partial_);
    }
    ++key_count_;
    in_user_id_ = depth_ == 1 && partial_ == "user_id";
    if (in_user_id_) {
      user_id_seen = true;
      user_id.clear();
    }
    partial_.clear();
    return true;
  }
  bool on_number_part(boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_int64(std::int64_t, boost::json::string_view, boost::system::error_code&) {
    return Value(boost::json::kind::int64);
  }
  bool on_uint64(std::uint64_t, boost::json::string_view, boost::system::error_code&) {
    return Value(boost::json::kind::uint64);
  }
  bool on_double(double, boost::json::string_view, boost::system::error_code&) {
    return Value(boost::json::kind::double_);
  }
  bool on_bool(bool, boost::system::error_code&) { return Value(boost::json::kind::bool_); }
  bool on_null(boost::system::error_code&) { return Value(boost::json::kind::null); }
  bool on_comment_part(boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(boost::json::string_view, boost::system::error_code&) { return true; }

 private:
  // A value begins at the current depth.
  bool Value(boost::json::kind k) {
    if (depth_ == 0 && !root_seen) {
      root = k;
      root_seen = true;
    }
    if (in_user_id_ && depth_ == 1) {
      user_id_kind = k;
      in_user_id_ = false;
    }
    return true;
  }

  std::vector<std::string> keys_;
  std::size_t key_count_ = 0;
  std::vector<std::size_t> starts_;
  std::string partial_;
  int depth_ = 0;
  bool in_user_id_ = false;
};

}  // namespace firstcome::http

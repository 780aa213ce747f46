#include "http/json_codec.h"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <charconv>
#include <cstdint>

#include "http/body_scan.h"

namespace firstcome::http {

namespace json = boost::json;
using namespace std::string_view_literals;

namespace {

const char* KindName(json::kind k) {
  switch (k) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
      return "an integer";
    case json::kind::double_:
      return "a fractional number";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "an array";
    case json::kind::object:
      return "an object";
  }
  return "a value";
}

const char* KindName(const json::value& v) { return KindName(v.kind()); }

// Builds "\"field\" <rest...>" without operator+ chains (why: GCC 12 warns
// falsely about them under -O3, and warnings are errors here).
template <class... Parts>
Status FieldError(std::string_view field, const Parts&... parts) {
  std::string msg = "\"";
  msg.append(field);
  msg += "\" ";
  (msg.append(parts), ...);
  return Status::Invalid(std::move(msg));
}

Status WrongType(std::string_view field, const char* want, const json::value& got) {
  std::string msg = "\"";
  msg.append(field);
  msg += "\" must be ";
  msg += want;
  msg += ", not ";
  msg += KindName(got);
  return Status::Invalid(std::move(msg));
}

// An integer field in [lo, hi]. Only JSON integers count: 1.0, 1e3, "5" and
// true are refused (why: a client sending them has a bug we should show).
Status ReadInteger(const json::object& o, std::string_view field, std::int64_t lo, std::int64_t hi,
                   std::int64_t* out) {
  const json::value& v = o.at(field);
  std::int64_t n;
  if (v.is_int64()) {
    n = v.get_int64();
  } else if (v.is_uint64()) {  // above int64 max: certainly out of range
    return FieldError(field, "must be between ", std::to_string(lo), " and ", std::to_string(hi));
  } else if (v.is_double()) {
    return FieldError(field, "must be an integer between ", std::to_string(lo), " and ",
                      std::to_string(hi), " (fractional or exponent numbers are not accepted)");
  } else {
    return WrongType(field, "an integer", v);
  }
  if (n < lo || n > hi) {
    return FieldError(field, "must be between ", std::to_string(lo), " and ", std::to_string(hi),
                      ", got ", std::to_string(n));
  }
  *out = n;
  return Status::Ok();
}

// An optional RFC 3339 time: absent or null means none.
Status ReadTime(const json::object& o, std::string_view field, std::optional<UnixMillis>* out) {
  const json::value* v = o.if_contains(field);
  if (v == nullptr || v->is_null()) return Status::Ok();
  if (!v->is_string()) return WrongType(field, "an RFC 3339 time string or null", *v);
  auto t = ParseRfc3339(std::string_view(v->get_string()));
  if (!t.ok()) {
    return FieldError(field, "is not a valid time: ", t.status().message());
  }
  *out = *t;
  return Status::Ok();
}

constexpr std::size_t kMaxDepth = 16;

Status DuplicateKeyError(const std::string& key) {
  // The key is echoed when it is short printable ASCII (no cut UTF-8).
  const bool plain = key.size() <= kMaxIdLength && std::all_of(key.begin(), key.end(), [](char c) {
                       return c >= 0x20 && c < 0x7f;
                     });
  return Status::Invalid(plain ? "the body names \"" + key + "\" more than once"
                               : std::string("the body names a key more than once"));
}

// ok unless an object of `body` names a key twice. Malformed JSON is left to
// the real parse, which says what is wrong with it.
Status CheckNoDuplicateKeys(std::string_view body) {
  json::parse_options opts;
  opts.max_depth = kMaxDepth;
  json::basic_parser<BodyScan> parser(opts);
  BodyScan& check = parser.handler();
  check.Reset();
  boost::system::error_code ec;
  parser.write_some(false, body.data(), body.size(), ec);
  if (check.has_duplicate) return DuplicateKeyError(check.duplicate);
  return Status::Ok();
}

Status ParseObject(std::string_view body, json::value& out, json::storage_ptr sp) {
  if (body.empty()) return Status::Invalid("the body must be a JSON object; it is empty");
  boost::system::error_code ec;
  json::parse_options opts;
  opts.max_depth = kMaxDepth;
  out = json::parse(body, ec, std::move(sp), opts);
  if (ec) return Status::Invalid("the body is not valid JSON: " + ec.message());
  if (!out.is_object()) {
    return Status::Invalid(std::string("the body must be a JSON object, not ") + KindName(out));
  }
  return CheckNoDuplicateKeys(body);
}

void AppendInt(std::string& out, std::int64_t n) {
  std::array<char, 24> buf;
  auto r = std::to_chars(buf.data(), buf.data() + buf.size(), n);
  out.append(buf.data(), r.ptr);
}

void AppendTimeOrNull(std::string& out, const std::optional<UnixMillis>& t) {
  if (!t) {
    out += "null";
    return;
  }
  out += '"';
  out += FormatRfc3339(*t);
  out += '"';
}

std::string_view DefaultDetail(IssueStatus s) {
  switch (s) {
    case IssueStatus::kIssued:
      return "";
    case IssueStatus::kAlreadyIssued:
      return "you already hold the coupons this event allows";
    case IssueStatus::kSoldOut:
      return "none left";
    case IssueStatus::kNotOpen:
      return "the event is not open";
    case IssueStatus::kUnavailable:
      return "could not be made durable; nothing was taken; safe to retry";
  }
  return "";
}

}  // namespace

Result<Event> ParseCreateEvent(std::string_view body) {
  json::value root;
  if (Status s = ParseObject(body, root, {}); !s.ok()) return s;
  const json::object& o = root.get_object();
  for (const auto& kv : o) {
    std::string_view k = kv.key();
    if (k != "id" && k != "total" && k != "per_user" && k != "name" && k != "starts_at" &&
        k != "ends_at") {
      return FieldError(k, "is not a known field (known: id, total, per_user, name, starts_at, ",
                        "ends_at)");
    }
  }
  Event e;
  const json::value* id = o.if_contains("id");
  if (id == nullptr) return Status::Invalid("\"id\" is missing");
  if (!id->is_string()) return WrongType("id", "a string", *id);
  e.id = std::string(id->get_string());
  if (Status s = CheckId("\"id\"", e.id); !s.ok()) return s;
  if (!o.contains("total")) return Status::Invalid("\"total\" is missing");
  std::int64_t total = 0;
  if (Status s = ReadInteger(o, "total", 1, kMaxTotal, &total); !s.ok()) return s;
  e.total = total;
  if (o.contains("per_user")) {
    std::int64_t per_user = 1;
    if (Status s = ReadInteger(o, "per_user", 1, kMaxPerUser, &per_user); !s.ok()) return s;
    e.per_user = static_cast<std::int32_t>(per_user);
  }
  if (const json::value* name = o.if_contains("name"); name != nullptr && !name->is_null()) {
    if (!name->is_string()) return WrongType("name", "a string", *name);
    e.name = std::string(name->get_string());
  }
  if (Status s = ReadTime(o, "starts_at", &e.starts_at); !s.ok()) return s;
  if (Status s = ReadTime(o, "ends_at", &e.ends_at); !s.ok()) return s;
  if (Status s = ValidateEvent(e); !s.ok()) return s;
  return e;
}

Result<EventPatch> ParseEventPatch(std::string_view body) {
  json::value root;
  if (Status s = ParseObject(body, root, {}); !s.ok()) return s;
  const json::object& o = root.get_object();
  for (const auto& kv : o) {
    std::string_view k = kv.key();
    if (k != "total" && k != "name" && k != "starts_at" && k != "ends_at") {
      return FieldError(k, "cannot be changed (known: total, name, starts_at, ends_at)");
    }
  }
  EventPatch patch;
  if (o.contains("total")) {
    std::int64_t total = 0;
    if (Status s = ReadInteger(o, "total", 1, kMaxTotal, &total); !s.ok()) return s;
    patch.total = total;
  }
  if (const json::value* name = o.if_contains("name")) {
    if (!name->is_null() && !name->is_string()) {
      return WrongType("name", "a string or null", *name);
    }
    patch.name = name->is_null() ? std::string() : std::string(name->get_string());
    if (patch.name->size() > 200) return Status::Invalid("\"name\" must be at most 200 bytes");
  }
  for (auto [field, out] :
       {std::pair{"starts_at", &patch.starts_at}, std::pair{"ends_at", &patch.ends_at}}) {
    if (!o.contains(field)) continue;
    std::optional<UnixMillis> t;
    if (Status s = ReadTime(o, field, &t); !s.ok()) return s;
    *out = t;
  }
  return patch;
}

Status ParseEmptyBody(std::string_view body) {
  if (body.empty()) return Status::Ok();
  json::value root;
  if (Status s = ParseObject(body, root, {}); !s.ok()) return s;
  if (!root.get_object().empty()) {
    return Status::Invalid("this call takes no input: send an empty body or {}");
  }
  return Status::Ok();
}

Status ParseIssueBody(std::string_view body, std::string* user_id, bool user_id_required) {
  user_id->clear();
  if (body.empty() && !user_id_required) return Status::Ok();
  if (body.empty()) return Status::Invalid("the body must be a JSON object; it is empty");
  thread_local json::basic_parser<BodyScan> parser([] {
    json::parse_options opts;
    opts.max_depth = kMaxDepth;
    return opts;
  }());
  parser.reset();
  BodyScan& h = parser.handler();
  h.Reset();
  boost::system::error_code ec;
  const std::size_t n = parser.write_some(false, body.data(), body.size(), ec);
  // As json::parser::write: input left after the value is an error too.
  if (!ec && n < body.size()) ec = json::error::extra_data;
  if (ec) return Status::Invalid("the body is not valid JSON: " + ec.message());
  if (h.root != json::kind::object) {
    return Status::Invalid(std::string("the body must be a JSON object, not ") + KindName(h.root));
  }
  if (h.has_duplicate) return DuplicateKeyError(h.duplicate);
  if (!h.user_id_seen) {
    return user_id_required ? Status::Invalid("\"user_id\" is missing") : Status::Ok();
  }
  if (h.user_id_kind != json::kind::string) {
    std::string msg = "\"user_id\" must be a string, not ";
    msg += KindName(h.user_id_kind);
    return Status::Invalid(std::move(msg));
  }
  if (Status s = CheckId("\"user_id\"", h.user_id); !s.ok()) return s;
  user_id->assign(h.user_id);
  return Status::Ok();
}

namespace {

// The bytes a JSON string must escape: control characters, '"' and '\\'.
constexpr std::array<bool, 256> kJsonEscaped = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 256; ++c) table[c] = c < 0x20 || c == '"' || c == '\\';
  return table;
}();

}  // namespace

void AppendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  // Runs of characters that need no escape are appended whole (ids are all
  // of one run: one append instead of one per character).
  std::size_t run = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (!kJsonEscaped[c]) continue;  // UTF-8 passes through unchanged
    out.append(text.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xf];
    }
  }
  out.append(text.data() + run, text.size() - run);
  out += '"';
}

void AppendEventView(std::string& out, const EventView& v) {
  const Event& e = v.event;
  out += "{\"id\":";
  AppendJsonString(out, e.id);
  out += ",\"name\":";
  AppendJsonString(out, e.name);
  out += ",\"total\":";
  AppendInt(out, e.total);
  out += ",\"per_user\":";
  AppendInt(out, e.per_user);
  out += ",\"starts_at\":";
  AppendTimeOrNull(out, e.starts_at);
  out += ",\"ends_at\":";
  AppendTimeOrNull(out, e.ends_at);
  out += ",\"issued\":";
  AppendInt(out, v.issued);
  out += ",\"remaining\":";
  AppendInt(out, v.remaining);
  out += ",\"persisted\":";
  AppendInt(out, v.persisted);
  out += ",\"failed\":";
  AppendInt(out, v.failed);
  out += ",\"dead\":";
  AppendInt(out, v.dead);
  out += ",\"state\":";
  AppendJsonString(out, v.state);
  out += ",\"created_at\":";
  AppendTimeOrNull(out, e.created_at > 0 ? std::optional<UnixMillis>(e.created_at) : std::nullopt);
  out += '}';
}

void AppendEventList(std::string& out, const std::vector<EventView>& views) {
  out += '[';
  for (std::size_t i = 0; i < views.size(); ++i) {
    if (i > 0) out += ',';
    AppendEventView(out, views[i]);
  }
  out += ']';
}

void AppendCoupons(std::string& out, const std::vector<CouponView>& coupons) {
  out += '[';
  for (std::size_t i = 0; i < coupons.size(); ++i) {
    if (i > 0) out += ',';
    out += "{\"coupon_id\":";
    AppendJsonString(out, coupons[i].coupon_id);
    out += ",\"seq\":";
    AppendInt(out, coupons[i].seq);
    if (!coupons[i].state.empty()) {  // a 409's list comes from the gate, which has no state
      out += ",\"state\":";
      AppendJsonString(out, coupons[i].state);
    }
    out += '}';
  }
  out += ']';
}

void AppendUserCoupons(std::string& out, std::string_view event_id, std::string_view user_id,
                       const std::vector<CouponView>& coupons) {
  out += "{\"event_id\":";
  AppendJsonString(out, event_id);
  out += ",\"user_id\":";
  AppendJsonString(out, user_id);
  out += ",\"coupons\":";
  AppendCoupons(out, coupons);
  out += '}';
}

void AppendRevoked(std::string& out, const RevokeAnswer& a) {
  out += "{\"revoked\":{\"seq\":";
  AppendInt(out, a.seq);
  out += ",\"user_id\":";
  AppendJsonString(out, a.user_id);
  out += ",\"coupon_id\":";
  AppendJsonString(out, a.coupon_id);
  out += "}}";
}

void AppendDeleted(std::string& out, const DeleteAnswer& a) {
  out += "{\"deleted\":";
  AppendJsonString(out, a.event_id);
  out += ",\"coupons\":";
  AppendInt(out, a.coupons);
  out += '}';
}

void AppendFailedEvents(std::string& out, std::string_view event_id,
                        const std::vector<FailedEventView>& failed) {
  out += "{\"event_id\":";
  AppendJsonString(out, event_id);
  out += ",\"failed\":[";
  for (std::size_t i = 0; i < failed.size(); ++i) {
    const FailedEventView& f = failed[i];
    if (i > 0) out += ',';
    out += "{\"seq\":";
    AppendInt(out, f.seq);
    out += ",\"user_id\":";
    AppendJsonString(out, f.user_id);
    out += ",\"coupon_id\":";
    AppendJsonString(out, f.coupon_id);
    out += ",\"error\":";
    AppendJsonString(out, f.error);
    out += ",\"attempts\":";
    AppendInt(out, f.attempts);
    out += ",\"next_attempt_at\":";
    AppendTimeOrNull(out, f.next_attempt_at);
    out += ",\"dead\":";
    out += f.dead ? "true" : "false";
    out += '}';
  }
  out += "]}";
}

void AppendRetryAnswer(std::string& out, const RetryAnswer& a) {
  out += "{\"seq\":";
  AppendInt(out, a.seq);
  out += ",\"persisted\":";
  out += a.persisted ? "true" : "false";
  if (!a.persisted) {
    out += ",\"error\":";
    AppendJsonString(out, a.error);
  }
  out += '}';
}

void AppendIssueAnswer(std::string& out, std::string_view status_name, const IssueAnswer& a) {
  out += "{\"status\":\""sv;
  out += status_name;
  out += "\",\"event_id\":"sv;
  AppendJsonString(out, a.event_id);
  out += ",\"user_id\":"sv;
  AppendJsonString(out, a.user_id);
  if (a.status == IssueStatus::kIssued) {
    out += ",\"coupon_id\":"sv;
    AppendJsonString(out, a.coupon_id);
    out += ",\"seq\":"sv;
    AppendInt(out, a.seq);
  } else {
    // Not a success: the common error shape too, so generic clients see
    // {"error", "detail"} on every non-2xx answer.
    out += ",\"error\":\""sv;
    out += status_name;
    out += "\",\"detail\":"sv;
    AppendJsonString(out, a.detail.empty() ? DefaultDetail(a.status) : a.detail);
    if (a.status == IssueStatus::kAlreadyIssued) {
      out += ",\"coupons\":"sv;
      AppendCoupons(out, a.coupons);
    }
  }
  out += '}';
}

}  // namespace firstcome::http

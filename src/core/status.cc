#include "core/status.h"

namespace firstcome {

std::string Status::ToString() const {
  const char* name = "ok";
  switch (code_) {
    case Code::kOk:
      return "ok";
    case Code::kInvalid:
      name = "invalid";
      break;
    case Code::kNotFound:
      name = "not_found";
      break;
    case Code::kExists:
      name = "exists";
      break;
    case Code::kUnavailable:
      name = "unavailable";
      break;
    case Code::kInternal:
      name = "internal";
      break;
  }
  return std::string(name) + ": " + message_;
}

}  // namespace firstcome

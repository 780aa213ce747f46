// GET /api/v1/openapi.json: the OpenAPI 3.1 description of the whole HTTP
// API, docs/openapi.yaml converted to JSON at build time (http/assets.h).
#pragma once

#include "http/reply.h"

namespace firstcome::http {

void AnswerOpenApi(Reply& reply);

}  // namespace firstcome::http

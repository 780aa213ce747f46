#include "http/openapi.h"

#include "http/assets.h"

namespace firstcome::http {

void AnswerOpenApi(Reply& reply) {
  reply.status = 200;
  reply.content_type = kJsonType;
  reply.body.assign(assets::OpenApiJson());
}

}  // namespace firstcome::http

//! The answers every operation can give whatever its handler says, added to the OpenAPI
//! document once instead of in every annotation: 401 where a credential is required, 400
//! where a path, query or body is parsed, 413/415 where a JSON body is read. They come from
//! the extractors and the edge, so they are true of every route alike.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};

fn error(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build(),
    )
}

fn add(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| error(description));
}

/// Complete `doc` (called once, on the document of every /api/v1 route).
pub fn finish(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            if secured {
                add(
                    op,
                    "401",
                    "`unauthenticated`: no, an expired or a revoked credential",
                );
            }
            let params = op.parameters.as_ref().is_some_and(|ps| {
                ps.iter()
                    .any(|p| matches!(p.parameter_in, ParameterIn::Path | ParameterIn::Query))
            });
            let json_body = op
                .request_body
                .as_ref()
                .is_some_and(|b| b.content.contains_key("application/json"));
            if json_body {
                add(
                    op,
                    "400",
                    "`malformed_json`, `invalid_character` (U+0000 in a string), `invalid_path`, `invalid_query`",
                );
                add(op, "413", "`payload_too_large`");
                add(
                    op,
                    "415",
                    "`unsupported_media_type`: send `Content-Type: application/json`",
                );
                add(
                    op,
                    "422",
                    "`invalid_body`: the JSON does not have the documented shape",
                );
            } else if params || op.request_body.is_some() {
                add(
                    op,
                    "400",
                    "`invalid_path`, `invalid_query`, `invalid_character` (`%00` in the path or query)",
                );
            }
            if op.request_body.is_some() && !json_body {
                add(op, "413", "`payload_too_large`");
            }
        }
    }
}

//! The API's OpenAPI 3.1 document, from the route table.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::ROUTES;

pub(super) async fn openapi() -> Response {
    Json(openapi_document()).into_response()
}

/// The OpenAPI 3.1 document, from [`ROUTES`]. Written from the route table rather than derived
/// (utoipa) to keep the build small; a test checks that every routed path is in it.
pub fn openapi_document() -> Value {
    let mut paths = serde_json::Map::new();
    for (method, path, who, summary) in ROUTES {
        let parameters: Vec<Value> = path
            .split('/')
            .filter_map(|part| part.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        let security = if *who == "anyone" { json!([]) } else { json!([{ "bearer": [] }]) };
        let operation = json!({
            "summary": summary,
            "description": format!("Caller: {who}."),
            "parameters": parameters,
            "security": security,
            "responses": {
                "200": { "description": "done" },
                "401": { "description": "no valid token" },
                "403": { "description": "the caller's role is not enough" },
                "404": { "description": "no such tenant (for this caller) or object" }
            }
        });
        let entry = paths.entry((*path).to_owned()).or_insert_with(|| json!({}));
        if let Some(methods) = entry.as_object_mut() {
            methods.insert((*method).to_owned(), operation);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Orthrus center API", "version": env!("CARGO_PKG_VERSION") },
        "components": { "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } } },
        "paths": paths,
    })
}

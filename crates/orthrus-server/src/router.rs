//! The center's whole HTTP face: the REST API and the web UI on one router, with what every
//! route shares: a deadline on the request body, and HSTS (the center speaks HTTPS only).
//! Body size limits are each route's own (sensor batches, directory uploads, web forms).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;

use crate::body::BODY_DEADLINE;
use crate::state::AppState;

pub fn router(state: Arc<AppState>) -> Router {
    // The web UI checks its own session cookie (crate::ui::visitor), not a bearer token.
    Router::new()
        .merge(crate::api::routes(state.clone()))
        .merge(crate::ui::routes())
        .layer(axum::middleware::from_fn(shared))
        .with_state(state)
}

/// A year: browsers then never try the center over plain HTTP (it does not listen there).
const HSTS: &str = "max-age=31536000";

async fn shared(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let (parts, body) = request.into_parts();
    let body = Body::new(DeadlineBody { inner: body, deadline: Box::pin(tokio::time::sleep(BODY_DEADLINE)) });
    let mut response = next.run(axum::extract::Request::from_parts(parts, body)).await;
    response.headers_mut().insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    response
}

/// A request body that fails once [`BODY_DEADLINE`] has passed since its headers: a client
/// sending a byte now and then holds its connection no longer than a slow honest one.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(axum::Error::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the body did not arrive within {} s", BODY_DEADLINE.as_secs()),
            )))));
        }
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

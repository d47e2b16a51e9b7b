//! `orthrus server`: the center over HTTPS. Sensors post batches and heartbeats; people and
//! scripts read and act through the tenant-scoped REST API ([`api`]) and the web UI ([`ui`]),
//! both behind one tenant-scope extractor ([`scope`]); the center's core (`orthrus-center`)
//! does the work behind it.

pub mod api;
pub mod body;
pub mod error;
pub mod metrics;
pub mod profile;
pub mod router;
pub mod run;
pub mod scope;
pub mod state;
pub mod tls;
pub mod ui;

pub use router::router;
pub use state::AppState;

use std::net::SocketAddr;
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Serves `router` over TLS on `listener` until `shutdown` resolves. Connections that fail
/// their handshake are dropped (and logged); they never stop the server.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: axum::Router,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return,
        };
        let (stream, peer): (tokio::net::TcpStream, SocketAddr) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracing::warn!("accept: {error}");
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(stream)).await
                {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(error)) => {
                        tracing::debug!("TLS handshake with {peer}: {error}");
                        return;
                    }
                    Err(_) => return,
                };
            let service = hyper_util::service::TowerToHyperService::new(router);
            if let Err(error) =
                Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), service).await
            {
                tracing::debug!("connection from {peer}: {error}");
            }
        });
    }
}

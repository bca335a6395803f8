//! The gRPC server: ingest, debug-info uploads and the OTLP profiles export
//! on one listener, behind TLS and the token check, with a bounded drain at
//! shutdown.

use std::sync::Arc;
use std::time::Duration;

use augur_wire::ingest::debug_info_server::DebugInfoServer;
use augur_wire::ingest::ingest_server::IngestServer;
use tokio::net::TcpListener;
use tokio_stream::StreamExt;

use crate::AggregatorError;
use crate::auth::IngestSecurity;
use crate::debuginfo::DebugInfoService;
use crate::ingest::IngestService;
use crate::metrics::AggregatorMetrics;

/// Concurrent requests one client connection may have open.
const MAX_STREAMS_PER_CONNECTION: u32 = 32;

/// How long shutdown waits for open ingest connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The services one server answers.
pub struct Services {
    /// `augur.ingest.v1.Ingest`.
    pub ingest: Arc<IngestService>,
    /// OTLP profiles export, translated into ingest's batches.
    pub otlp: crate::otlp::OtlpExportServer,
    /// Debug-info uploads, when a directory for them was given.
    pub debuginfo: Option<DebugInfoService>,
    /// Largest gRPC message accepted, in bytes.
    pub max_message: usize,
}

/// Serves `services` on `listener` until `shutdown` resolves, then lets
/// in-flight pushes finish for at most `SHUTDOWN_GRACE`.
pub async fn serve_grpc(
    listener: TcpListener,
    security: &IngestSecurity,
    metrics: &AggregatorMetrics,
    services: Services,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), AggregatorError> {
    let token_check = security.token_check().counting(metrics.clone());
    let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
    // Each waiting push holds its payload: bound the pushes one connection
    // can have open, on top of the in-flight bound inside the service.
    let router = tonic::transport::Server::builder()
        .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
        // Every call of every service shows a token first (if any is set).
        .layer(tonic::service::InterceptorLayer::new(token_check))
        .add_service(
            IngestServer::from_arc(services.ingest).max_decoding_message_size(services.max_message),
        )
        .add_service(services.otlp)
        .add_optional_service(services.debuginfo.map(DebugInfoServer::new));
    let drained = async {
        let _ = drain_rx.await;
    };
    // TLS is ours, not tonic's, so a reloaded certificate reaches new
    // handshakes (`augur_wire::tls`).
    let mut accepting = None;
    let mut server: BoxedServer<'_> = match &security.tls {
        Some(tls) => {
            let (connections, task) = tls.reloadable().accept(listener, false);
            accepting = Some(task);
            let incoming = tokio_stream::wrappers::ReceiverStream::new(connections)
                .map(|(stream, _peer)| Ok::<_, std::io::Error>(stream));
            Box::pin(router.serve_with_incoming_shutdown(incoming, drained))
        }
        None => {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            Box::pin(router.serve_with_incoming_shutdown(incoming, drained))
        }
    };
    let result = tokio::select! {
        result = &mut server => result,
        () = shutdown => {
            let _ = drain_tx.send(());
            // In-flight pushes finish; a client that never closes its
            // connection does not hold shutdown hostage.
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::warn!(grace = ?SHUTDOWN_GRACE, "ingest connections still open at shutdown; closing them");
                    Ok(())
                }
            }
        }
    };
    if let Some(task) = accepting {
        task.abort();
    }
    Ok(result?)
}

type BoxedServer<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(), tonic::transport::Error>> + Send + 'a>,
>;

//! Request coalescing for hot reads: concurrent callers queue, and one query answers everyone
//! queued at that moment.
//!
//! sqlx runs each SQLite connection on its own thread, so every query is a round trip between
//! threads; in a reconnect storm thousands of handshakes each looking up one user spend more
//! time switching threads than reading. On PostgreSQL every query is a network round trip. With
//! coalescing, a lone request still runs at once (a batch of one), and under load the requests
//! that arrive while a query runs share the next. Every answer still comes from a query that
//! started after the request arrived, on either database.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

/// Handle to a coalescing worker; cheap to clone.
pub struct Coalescer<Req, Resp> {
    requests: mpsc::UnboundedSender<(Req, oneshot::Sender<Resp>)>,
}

impl<Req, Resp> Clone for Coalescer<Req, Resp> {
    fn clone(&self) -> Self {
        Self {
            requests: self.requests.clone(),
        }
    }
}

/// The worker is gone (the runtime is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the query worker has stopped")]
pub struct Stopped;

impl<Req: Send + 'static, Resp: Send + 'static> Coalescer<Req, Resp> {
    /// Spawns the worker. `answer` gets up to `max_batch` requests and returns one response per
    /// request, in order. Must be called within a tokio runtime.
    pub fn spawn<F, Fut>(max_batch: usize, answer: F) -> Self
    where
        F: Fn(Vec<Req>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<Resp>> + Send,
    {
        let (requests, mut queue) = mpsc::unbounded_channel::<(Req, oneshot::Sender<Resp>)>();
        tokio::spawn(async move {
            while let Some(first) = queue.recv().await {
                let mut batch = vec![first];
                while batch.len() < max_batch.max(1) {
                    match queue.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let (requests, replies): (Vec<Req>, Vec<oneshot::Sender<Resp>>) =
                    batch.into_iter().unzip();
                for (reply, response) in replies.into_iter().zip(answer(requests).await) {
                    // A caller that gave up no longer wants its answer.
                    let _ = reply.send(response);
                }
            }
        });
        Self { requests }
    }

    /// Queues `request` and waits for its answer.
    pub async fn call(&self, request: Req) -> Result<Resp, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.requests.send((request, reply)).map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_requests_share_queries_and_get_their_own_answers() {
        let queries = Arc::new(AtomicUsize::new(0));
        let counter = queries.clone();
        let doubler = Coalescer::spawn(64, move |batch: Vec<u32>| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::task::yield_now().await;
                batch.into_iter().map(|n| n * 2).collect()
            }
        });
        let answers = futures_util::future::join_all((0..100u32).map(|n| {
            let doubler = doubler.clone();
            async move { doubler.call(n).await }
        }))
        .await;
        assert_eq!(answers, (0..100u32).map(|n| Ok(n * 2)).collect::<Vec<_>>());
        let used = queries.load(Ordering::SeqCst);
        assert!((2..100).contains(&used), "{used} queries for 100 requests");
        assert_eq!(
            doubler.call(21).await,
            Ok(42),
            "a lone request is answered at once"
        );
    }
}

//! The app's end of the worker thread: requests out, responses in, and whether work is pending.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};

use super::protocol::{Request, Response};
use super::worker;

pub struct WorkerLink {
    tx: Sender<Request>,
    rx: Receiver<Response>,
    /// Requests sent and requests the worker has taken (busy while they differ).
    sent: u64,
    taken: u64,
    /// The explanation the app still wants (0: none); the worker stops a slow one otherwise.
    wanted: Arc<AtomicU64>,
}

impl WorkerLink {
    /// Starts the worker, which repaints `ctx` after every response.
    pub fn spawn(ctx: &egui::Context) -> std::io::Result<Self> {
        let repaint = ctx.clone();
        let wanted = Arc::new(AtomicU64::new(0));
        let (tx, rx) = worker::spawn(move || repaint.request_repaint(), wanted.clone())?;
        Ok(Self::with_channels(tx, rx, wanted))
    }

    /// A link to no worker: every send fails (when the thread could not start).
    pub fn dead() -> Self {
        let (tx, _) = std::sync::mpsc::channel();
        let (_, rx) = std::sync::mpsc::channel();
        Self::with_channels(tx, rx, Arc::default())
    }

    fn with_channels(tx: Sender<Request>, rx: Receiver<Response>, wanted: Arc<AtomicU64>) -> Self {
        Self {
            tx,
            rx,
            sent: 0,
            taken: 0,
            wanted,
        }
    }

    /// From now on the worker works for explanation `generation` only.
    pub fn want(&self, generation: u64) {
        self.wanted.store(generation, Ordering::Relaxed);
    }

    /// Stops the explanation in progress, if a slow one runs.
    pub fn cancel_running(&self) {
        self.want(0);
    }

    /// Sends `req`; false when the worker has stopped.
    pub fn send(&mut self, req: Request) -> bool {
        let ok = self.tx.send(req).is_ok();
        if ok {
            self.sent += 1;
        }
        ok
    }

    /// The next response, if one is waiting (bookkeeping responses are absorbed here).
    pub fn try_recv(&mut self) -> Option<Response> {
        loop {
            match self.rx.try_recv().ok()? {
                Response::Taken(n) => self.taken = n,
                r => return Some(r),
            }
        }
    }

    /// Whether the worker still has requests to finish.
    pub fn pending(&self) -> bool {
        self.taken < self.sent
    }
}

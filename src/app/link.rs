//! The app's end of the worker thread: requests out, responses in, and whether work is pending.

use std::sync::mpsc::{Receiver, Sender};

use super::protocol::{Request, Response};
use super::worker;

pub struct WorkerLink {
    tx: Sender<Request>,
    rx: Receiver<Response>,
    /// Requests sent and requests the worker has taken (busy while they differ).
    sent: u64,
    taken: u64,
}

impl WorkerLink {
    /// Starts the worker, which repaints `ctx` after every response.
    pub fn spawn(ctx: &egui::Context) -> std::io::Result<Self> {
        let repaint = ctx.clone();
        let (tx, rx) = worker::spawn(move || repaint.request_repaint())?;
        Ok(Self::with_channels(tx, rx))
    }

    /// A link to no worker: every send fails (when the thread could not start).
    pub fn dead() -> Self {
        let (tx, _) = std::sync::mpsc::channel();
        let (_, rx) = std::sync::mpsc::channel();
        Self::with_channels(tx, rx)
    }

    fn with_channels(tx: Sender<Request>, rx: Receiver<Response>) -> Self {
        Self {
            tx,
            rx,
            sent: 0,
            taken: 0,
        }
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

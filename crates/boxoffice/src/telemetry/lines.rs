//! Where log lines go: appended to a buffer in memory under a short lock, and
//! written out by a thread of its own every few milliseconds, in one write per
//! batch. A request never waits on the terminal or a pipe, and never wakes a thread:
//! with a channel, every line sent to an idle writer cost a futex wake and a context
//! switch on the request's core, which at 8,000 lines a second was most of the
//! price of a request line.
//!
//! Past [`MAX_PENDING`] bytes waiting (a burst the output cannot take), lines are
//! dropped rather than stalling the sale, and the next batch says how many.
use parking_lot::{Condvar, Mutex};
use std::io::Write;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tracing_subscriber::fmt::MakeWriter;

/// How often the writer thread takes what is buffered.
const INTERVAL: Duration = Duration::from_millis(20);
/// Most bytes waiting before lines are dropped.
const MAX_PENDING: usize = 32 << 20;

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    dropped: u64,
    stopping: bool,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    stop: Condvar,
}

/// The writer the log layer formats into; cheap to clone.
#[derive(Clone)]
pub struct Lines(Arc<Shared>);

/// Writes what is left and stops the writer thread when dropped.
pub struct LinesGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Lines {
    /// Starts the writer thread over `output`.
    pub fn spawn(output: Box<dyn Write + Send>) -> (Self, LinesGuard) {
        let shared = Arc::new(Shared::default());
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || write_out(&worker, output))
            .ok();
        (Self(shared.clone()), LinesGuard { shared, thread })
    }
}

fn write_out(shared: &Shared, mut output: Box<dyn Write + Send>) {
    let mut batch: Vec<u8> = Vec::new();
    loop {
        let (dropped, stopping) = {
            let mut p = shared.pending.lock();
            if !p.stopping {
                shared.stop.wait_for(&mut p, INTERVAL);
            }
            std::mem::swap(&mut batch, &mut p.bytes);
            (std::mem::take(&mut p.dropped), p.stopping)
        };
        if dropped > 0 {
            let _ = writeln!(
                output,
                "{dropped} log lines were dropped: the output could not keep up"
            );
        }
        if !batch.is_empty() {
            let _ = output.write_all(&batch);
            let _ = output.flush();
            batch.clear();
        }
        if stopping {
            return;
        }
    }
}

impl Drop for LinesGuard {
    fn drop(&mut self) {
        self.shared.pending.lock().stopping = true;
        self.shared.stop.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One line's way into the buffer.
pub struct Sink<'a>(&'a Shared);

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut p = self.0.pending.lock();
        if p.bytes.len() + buf.len() > MAX_PENDING {
            p.dropped += 1;
        } else {
            p.bytes.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Lines {
    type Writer = Sink<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Sink(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output the test can read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_is_written_in_order_and_the_rest_at_the_end() {
        let out = Captured::default();
        let (lines, guard) = Lines::spawn(Box::new(out.clone()));
        for i in 0..1000 {
            let mut w = lines.make_writer();
            w.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        // Written within a few intervals, without a flush from the caller.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while out.0.lock().len() < 1000 * 6 && std::time::Instant::now() < deadline {
            std::thread::sleep(INTERVAL);
        }
        lines.make_writer().write_all(b"last\n").unwrap();
        drop(guard);
        let text = String::from_utf8(out.0.lock().clone()).unwrap();
        let got: Vec<&str> = text.lines().collect();
        assert_eq!(got.len(), 1001);
        assert!(got[..1000]
            .iter()
            .enumerate()
            .all(|(i, l)| *l == format!("line {i}")));
        assert_eq!(got[1000], "last", "what is left is written when stopping");
    }

    #[test]
    fn a_burst_beyond_the_bound_is_dropped_and_counted() {
        // No writer thread: the test takes the one batch itself.
        let lines = Lines(Arc::new(Shared::default()));
        lines.0.pending.lock().bytes.resize(MAX_PENDING - 10, b'.');
        let mut w = lines.make_writer();
        w.write_all(b"fits\n").unwrap();
        w.write_all(b"does not fit\n").unwrap();
        lines.0.pending.lock().stopping = true;
        let out = Captured::default();
        write_out(&lines.0, Box::new(out.clone()));
        let text = String::from_utf8(out.0.lock().clone()).unwrap();
        assert!(
            text.starts_with("1 log lines were dropped"),
            "{}",
            &text[..80]
        );
        assert!(text.ends_with(".fits\n"));
        assert!(!text.contains("does not fit"));
    }
}

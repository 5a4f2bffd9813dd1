//! Interface arguments (Hatch paper Fig. 3, the `TCPSocket` example): a [`Handler`] takes the
//! caller's [`Socket`] by reference. Behind a proxy the handler runs on another host and its
//! `socket` is a reverse proxy whose calls come back to the caller's object while the call lasts.

use std::sync::Mutex;
use std::thread::ThreadId;

/// The error of [`Handler::relay`], an explicit method.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum RelayError {
    /// The source had nothing to read.
    Empty,
    /// The call (or a callback) did not go through.
    Remote(String),
}

impl From<hatch::RemoteError> for RelayError {
    fn from(error: hatch::RemoteError) -> Self {
        Self::Remote(error.to_string())
    }
}

/// A byte stream, as the handler sees it.
pub trait Socket: Send + Sync {
    /// Takes up to `max` bytes from the input.
    fn read(&self, max: u32) -> Vec<u8>;

    /// Appends `data` to the output. (Behind a reverse proxy this is batched: the writes reach
    /// the caller's object in order, before the handler's next two-way call on it or with the
    /// handler's result, so never after the call.)
    fn write(&self, data: &[u8]);

    /// Who is on the other end.
    fn peer(&self) -> String;
}

/// Serves connections handed to it as interfaces.
pub trait Handler: Send + Sync {
    /// Reads the socket to its end in chunks of `chunk` bytes, writes each chunk back upper-cased,
    /// and returns how many bytes it handled.
    fn handle(&self, socket: &dyn Socket, chunk: u32) -> u64;

    /// Writes a greeting naming the peer (a `()` method with an interface argument waits for its
    /// reply, so the socket is not used after the call).
    fn greet(&self, socket: &dyn Socket, greeting: &str);

    /// Moves everything from `from` to `to`: two interface arguments.
    fn relay(&self, from: &dyn Socket, to: &dyn Socket) -> Result<u64, RelayError>;

    /// Writes a page of `lines` lines, one small write each (the Hatch paper's Fig. 7: a
    /// handler's script that prints its output piece by piece), and returns how many bytes it
    /// wrote.
    fn page(&self, socket: &dyn Socket, lines: u32) -> u64;

    /// An ordinary method next to the conversational ones.
    fn calls(&self) -> u64;
}

/// An in-memory socket that records which threads called it.
#[derive(Debug, Default)]
pub struct MemorySocket {
    peer: String,
    input: Mutex<Vec<u8>>,
    output: Mutex<Vec<u8>>,
    threads: Mutex<Vec<ThreadId>>,
}

impl MemorySocket {
    /// A socket reading `input`, connected to `peer`.
    pub fn new(peer: &str, input: &[u8]) -> Self {
        Self { peer: peer.into(), input: Mutex::new(input.to_vec()), ..Self::default() }
    }

    /// What was written to it.
    pub fn output(&self) -> Vec<u8> {
        self.output.lock().unwrap().clone()
    }

    /// The threads its methods ran on, one entry per call.
    pub fn threads(&self) -> Vec<ThreadId> {
        self.threads.lock().unwrap().clone()
    }

    fn record(&self) {
        self.threads.lock().unwrap().push(std::thread::current().id());
    }
}

impl Socket for MemorySocket {
    fn read(&self, max: u32) -> Vec<u8> {
        self.record();
        let mut input = self.input.lock().unwrap();
        let n = input.len().min(max as usize);
        input.drain(..n).collect()
    }

    fn write(&self, data: &[u8]) {
        self.record();
        self.output.lock().unwrap().extend_from_slice(data);
    }

    fn peer(&self) -> String {
        self.record();
        self.peer.clone()
    }
}

/// The local handler.
#[derive(Debug, Default)]
pub struct UpperHandler {
    calls: std::sync::atomic::AtomicU64,
}

impl Handler for UpperHandler {
    fn handle(&self, socket: &dyn Socket, chunk: u32) -> u64 {
        self.count();
        let mut handled = 0;
        loop {
            let data = socket.read(chunk);
            if data.is_empty() {
                return handled;
            }
            handled += data.len() as u64;
            socket.write(&data.to_ascii_uppercase());
        }
    }

    fn greet(&self, socket: &dyn Socket, greeting: &str) {
        self.count();
        socket.write(format!("{greeting}, {}!", socket.peer()).as_bytes());
    }

    fn relay(&self, from: &dyn Socket, to: &dyn Socket) -> Result<u64, RelayError> {
        self.count();
        let data = from.read(u32::MAX);
        if data.is_empty() {
            return Err(RelayError::Empty);
        }
        to.write(&data);
        Ok(data.len() as u64)
    }

    fn page(&self, socket: &dyn Socket, lines: u32) -> u64 {
        self.count();
        let mut written = 0;
        for line in 0..lines {
            let line = page_line(line);
            socket.write(line.as_bytes());
            written += line.len() as u64;
        }
        written
    }

    fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Line `n` of a page written by [`Handler::page`].
pub fn page_line(n: u32) -> String {
    format!("<li>line {n}</li>\n")
}

impl UpperHandler {
    fn count(&self) {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

hatch::include_proxies!("socket");

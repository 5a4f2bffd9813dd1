use std::sync::atomic::{AtomicU32, Ordering};

pub trait Log: Send + Sync {
    fn append(&self, line: String);
    #[hatch_proxygen_macros::sync]
    fn flush_to_disk(&self) -> ();
}

struct Counter(AtomicU32);

impl Log for Counter {
    fn append(&self, _line: String) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn flush_to_disk(&self) {}
}

fn main() {
    let log = Counter(AtomicU32::new(0));
    log.append("x".into());
    log.flush_to_disk();
    assert_eq!(log.0.load(Ordering::SeqCst), 1);
}

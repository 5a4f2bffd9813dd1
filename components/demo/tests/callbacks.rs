//! Interface arguments across processes: a `Sieve` relocated to an agent child process calls
//! back into each caller's own `Numbers` object, over the authenticated data connection, from
//! several threads at once.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use hatch_components::remote::{AgentProcess, Host, Key, relocate};
use hatch_components::{Composition, Slot};
use hatch_demo::sieve::{Numbers, Sieve};

/// A caller's source of candidates, recording what the sieve reported and on which threads.
struct Candidates {
    left: Mutex<std::ops::Range<u64>>,
    primes: Mutex<Vec<u64>>,
    threads: Mutex<Vec<ThreadId>>,
}

impl Candidates {
    fn new(range: std::ops::Range<u64>) -> Self {
        Self { left: Mutex::new(range), primes: Mutex::default(), threads: Mutex::default() }
    }

    fn record(&self) {
        self.threads.lock().unwrap().push(std::thread::current().id());
    }
}

impl Numbers for Candidates {
    fn next_batch(&self, max: u32) -> Vec<u64> {
        self.record();
        let mut left = self.left.lock().unwrap();
        let end = left.end.min(left.start + u64::from(max));
        let batch = (left.start..end).collect();
        left.start = end;
        batch
    }

    fn found(&self, prime: u64) {
        self.record();
        self.primes.lock().unwrap().push(prime);
    }
}

fn primes_in(range: std::ops::Range<u64>) -> Vec<u64> {
    range.filter(|&n| n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| !n.is_multiple_of(d))).collect()
}

#[test]
fn a_relocated_sieve_calls_back_into_each_callers_source() {
    let key = Key::generate().unwrap();
    let mut agent =
        AgentProcess::spawn(Command::new(env!("CARGO_BIN_EXE_hatch-demo")), "127.0.0.1:0", &key).expect("agent");
    let host = Arc::new(Host::connect(agent.addr(), &key).unwrap());
    let catalog = Arc::new(hatch_demo::catalog());
    let composition: Composition = "{TrialSieve|}".parse().unwrap();
    let slot: Slot<dyn Sieve> = Slot::new(catalog.build::<dyn Sieve>(&composition).unwrap());
    assert_eq!(slot.load().process_id(), std::process::id());

    let relocation = relocate(&slot, &catalog, &host, &composition).unwrap();
    assert_eq!(slot.load().process_id(), agent.pid(), "the sieve runs in the agent");
    std::thread::scope(|scope| {
        for t in 0..4u64 {
            let slot = &slot;
            scope.spawn(move || {
                for i in 0..20u64 {
                    let range = (t * 1000 + i * 37)..(t * 1000 + i * 37 + 1 + i * 11);
                    let source = Candidates::new(range.clone());
                    let found = slot.load().sieve(&source, 1 + (i % 5) as u32);
                    let expected = primes_in(range.clone());
                    assert_eq!(found, expected.len() as u64, "thread {t} call {i}: {range:?}");
                    assert_eq!(*source.primes.lock().unwrap(), expected, "reported in order, once each");
                    let me = std::thread::current().id();
                    assert!(source.threads.lock().unwrap().iter().all(|&thread| thread == me));
                }
            });
        }
    });
    relocation.back().unwrap();
    assert_eq!(slot.load().process_id(), std::process::id());
    agent.kill().unwrap();
}

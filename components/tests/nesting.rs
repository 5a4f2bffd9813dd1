//! Calls from inside one component into another slot, while either slot is being
//! swapped; and swaps whose state import fails.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use hatch_components::{Component, Slot, StateError, StateMove, StateTransfer};
use parking_lot::Mutex;

trait Work: Component {
    fn work(&self) -> u64;
}

/// Blocks its first call until released, to keep a call in flight.
struct Gate {
    tag: u64,
    entered: Mutex<Option<mpsc::Sender<()>>>,
    release: Mutex<Option<mpsc::Receiver<()>>>,
}
impl Component for Gate {}
impl Work for Gate {
    fn work(&self) -> u64 {
        if let Some(tx) = self.entered.lock().take() {
            tx.send(()).unwrap();
            let rx = self.release.lock().take().unwrap();
            rx.recv().unwrap();
        }
        self.tag
    }
}

struct Fixed(u64);
impl Component for Fixed {}
impl Work for Fixed {
    fn work(&self) -> u64 {
        self.0
    }
}

/// Calls its dependency and adds its own tag.
struct Outer(u64, Slot<dyn Work>);
impl Component for Outer {}
impl Work for Outer {
    fn work(&self) -> u64 {
        self.0 + self.1.load().work()
    }
}

#[test]
fn swapping_both_slots_while_a_nested_call_is_in_flight() {
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let inner: Slot<dyn Work> = Slot::new(Box::new(Gate {
        tag: 1,
        entered: Mutex::new(Some(entered_tx)),
        release: Mutex::new(Some(release_rx)),
    }));
    let outer: Slot<dyn Work> = Slot::new(Box::new(Outer(10, inner.clone())));

    let call = {
        let outer = outer.clone();
        thread::spawn(move || outer.load().work())
    };
    entered_rx.recv().unwrap(); // the call is inside Gate, holding guards on both slots
    let swap_inner = {
        let inner = inner.clone();
        thread::spawn(move || inner.swap(Box::new(Fixed(2))))
    };
    let swap_outer = {
        let (outer, inner) = (outer.clone(), inner.clone());
        thread::spawn(move || outer.swap(Box::new(Outer(20, inner))))
    };
    thread::sleep(Duration::from_millis(30));
    assert!(!swap_inner.is_finished() && !swap_outer.is_finished(), "swaps wait for the call");
    release_tx.send(()).unwrap();
    assert_eq!(call.join().unwrap(), 11, "the in-flight call finished on the old implementations");
    swap_inner.join().unwrap();
    swap_outer.join().unwrap();
    assert_eq!(outer.load().work(), 22);
}

#[test]
fn nested_call_into_a_held_slot_waits_and_completes() {
    let inner: Slot<dyn Work> = Slot::new(Box::new(Fixed(1)));
    let outer: Slot<dyn Work> = Slot::new(Box::new(Outer(10, inner.clone())));
    let mut hold = inner.hold();
    let call = {
        let outer = outer.clone();
        thread::spawn(move || outer.load().work())
    };
    thread::sleep(Duration::from_millis(30));
    assert!(!call.is_finished(), "the nested call parks on the held slot");
    hold.replace(Box::new(Fixed(5)));
    drop(hold);
    assert_eq!(call.join().unwrap(), 15);
}

/// Stateful, but refuses every import.
struct Stubborn(u64);
impl Work for Stubborn {
    fn work(&self) -> u64 {
        self.0
    }
}
impl Component for Stubborn {
    fn state(&self) -> Option<&dyn StateTransfer> {
        Some(self)
    }
    fn state_mut(&mut self) -> Option<&mut dyn StateTransfer> {
        Some(self)
    }
}
impl StateTransfer for Stubborn {
    fn state_format(&self) -> &'static str {
        "stubborn/v1"
    }
    fn export_state(&self) -> Result<Vec<u8>, StateError> {
        Ok(self.0.to_le_bytes().to_vec())
    }
    fn import_state(&mut self, _: &[u8]) -> Result<(), StateError> {
        Err(StateError::Codec("refused".into()))
    }
}

#[test]
fn failed_state_import_keeps_the_old_implementation() {
    let slot: Slot<dyn Work> = Slot::new(Box::new(Stubborn(7)));
    let (err, rejected) = slot.swap_with_state(Box::new(Stubborn(8))).unwrap_err();
    assert_eq!(err, StateError::Codec("refused".into()));
    assert_eq!(rejected.work(), 8);
    assert_eq!(slot.load().work(), 7);
    assert_eq!(slot.swaps(), 0);
    // A stateless replacement cannot take the state: it is installed, state dropped.
    assert_eq!(slot.swap_with_state(Box::new(Fixed(9))).map_err(|(e, _)| e), Ok(StateMove::Dropped));
    assert_eq!(slot.load().work(), 9);
}

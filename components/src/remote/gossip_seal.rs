//! The envelope of a gossip datagram: authenticated, and never accepted twice.
//!
//! ```text
//! body (foca's bytes) | sender id (8) | stamp (8, LE) | tag (16) = HMAC(key, "hatch/gossip", body ‖ id ‖ stamp)
//! ```
//!
//! The sender id is random per [`Membership`](super::Membership) (a restarted agent gets a
//! new one) and the stamp is the sender's wall clock in microseconds, strictly increasing.
//! A receiver drops a datagram whose tag does not verify, whose stamp is more than
//! [`MAX_SKEW`] from its own clock, or whose stamp is not above the last one it accepted from
//! that sender id. So a recorded datagram (a "down" verdict, say) replayed from any source
//! address changes nothing, and one held back for longer than `MAX_SKEW` is refused too.
//! Hosts' clocks must agree within `MAX_SKEW` (NTP does far better).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::auth::{Key, ct_eq};

/// Bytes of the authentication tag.
const TAG_LEN: usize = 16;
/// Bytes of the sender id and the stamp together.
const HEADER_LEN: usize = 16;
/// Largest difference accepted between a stamp and the receiver's clock.
pub(crate) const MAX_SKEW: Duration = Duration::from_secs(30);
/// Senders remembered; beyond this, senders silent for longer than `MAX_SKEW` are forgotten
/// (their old datagrams fail the skew check anyway).
const MAX_SENDERS: usize = 4096;
/// Bytes the envelope adds to a body.
pub(crate) const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// Microseconds since the Unix epoch, now.
pub(crate) fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// Seals outgoing datagrams of one sender.
pub(crate) struct Sealer {
    key: Key,
    id: [u8; 8],
    last: u64,
}

impl Sealer {
    pub(crate) fn new(key: Key, id: [u8; 8]) -> Self {
        Self { key, id, last: 0 }
    }

    /// `body` in its envelope, stamped `now` (or just after the last stamp).
    pub(crate) fn seal(&mut self, body: &[u8], now: u64) -> Vec<u8> {
        self.last = now.max(self.last + 1);
        let stamp = self.last.to_le_bytes();
        let tag = self.key.mac(b"hatch/gossip", &[body, &self.id, &stamp]);
        let mut datagram = Vec::with_capacity(body.len() + OVERHEAD);
        datagram.extend_from_slice(body);
        datagram.extend_from_slice(&self.id);
        datagram.extend_from_slice(&stamp);
        datagram.extend_from_slice(&tag[..TAG_LEN]);
        datagram
    }
}

/// Why a datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Shorter than the envelope.
    Short,
    /// The tag does not verify under our key.
    Tag,
    /// The stamp is too far from our clock.
    Stale,
    /// The stamp is not above the last one accepted from its sender: a replay.
    Replayed,
}

/// Opens incoming datagrams, remembering each sender's last stamp.
pub(crate) struct Opener {
    key: Key,
    last: HashMap<[u8; 8], u64>,
}

impl Opener {
    pub(crate) fn new(key: Key) -> Self {
        Self { key, last: HashMap::new() }
    }

    /// The body of `datagram`, received at `now`, if it is authentic, fresh and new.
    pub(crate) fn open<'a>(&mut self, datagram: &'a [u8], now: u64) -> Result<&'a [u8], Refused> {
        let split = datagram.len().checked_sub(OVERHEAD).ok_or(Refused::Short)?;
        let (body, rest) = datagram.split_at(split);
        let (id, rest) = rest.split_at(8);
        let (stamp, tag) = rest.split_at(8);
        let expected = self.key.mac(b"hatch/gossip", &[body, id, stamp]);
        if !ct_eq(tag, &expected[..TAG_LEN]) {
            return Err(Refused::Tag);
        }
        let stamp = u64::from_le_bytes(stamp.try_into().expect("8 bytes"));
        let skew = MAX_SKEW.as_micros() as u64;
        if stamp.abs_diff(now) > skew {
            return Err(Refused::Stale);
        }
        let id: [u8; 8] = id.try_into().expect("8 bytes");
        if self.last.get(&id).is_some_and(|&last| stamp <= last) {
            return Err(Refused::Replayed);
        }
        if self.last.len() >= MAX_SENDERS && !self.last.contains_key(&id) {
            self.last.retain(|_, last| now.saturating_sub(*last) <= skew);
        }
        self.last.insert(id, stamp);
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datagram_is_accepted_once_and_only_fresh_and_authentic() {
        let key = Key::from_bytes(&[5; 16]).unwrap();
        let mut sealer = Sealer::new(key.clone(), [1; 8]);
        let mut opener = Opener::new(key);
        let now = 1_000_000_000_000;
        let first = sealer.seal(b"alive", now);
        let second = sealer.seal(b"down", now);
        assert_eq!(opener.open(&first, now), Ok(&b"alive"[..]));
        assert_eq!(opener.open(&first, now), Err(Refused::Replayed));
        assert_eq!(opener.open(&second, now), Ok(&b"down"[..]), "same microsecond: stamps still increase");
        assert_eq!(opener.open(&second, now + 5), Err(Refused::Replayed), "a recorded verdict replayed");
        assert_eq!(opener.open(&first, now + 5), Err(Refused::Replayed), "an older one");
        // Held back past the skew: refused even by a receiver that never saw it.
        let late = sealer.seal(b"late", now + 10);
        let mut fresh = Opener::new(Key::from_bytes(&[5; 16]).unwrap());
        assert_eq!(fresh.open(&late, now + 10 + MAX_SKEW.as_micros() as u64 + 1), Err(Refused::Stale));
        // Any change to the stamp or the sender id breaks the tag.
        let mut forged = sealer.seal(b"x", now + 20);
        let at = forged.len() - TAG_LEN - 1;
        forged[at] ^= 1;
        assert_eq!(opener.open(&forged, now + 20), Err(Refused::Tag));
        let mut other_sender = sealer.seal(b"x", now + 30);
        other_sender[1] ^= 1;
        assert_eq!(opener.open(&other_sender, now + 30), Err(Refused::Tag));
        assert_eq!(opener.open(b"tiny", now), Err(Refused::Short));
        // Another key's datagram.
        let mut intruder = Sealer::new(Key::from_bytes(&[6; 16]).unwrap(), [1; 8]);
        assert_eq!(opener.open(&intruder.seal(b"x", now + 40), now + 40), Err(Refused::Tag));
    }
}

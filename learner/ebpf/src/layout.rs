//! The BPF maps' layout as seen from user space (mirrors `bpf/probe.bpf.c`),
//! as pure functions so they are tested without a kernel.

use hatch_learner::shard::SlotTotals;

use crate::config::{Metric, SlotSpec};

/// Slots the `slot_totals` map holds (`MAX_SLOTS` in the C source).
pub const MAX_SLOTS: usize = 64;
/// Entries of the `pids` map.
pub const MAX_PIDS: usize = 256;
/// "No slot" in a byte of a port word (`NO_SLOT`).
const NO_SLOT: u32 = 0xff;
/// Set in the word of every watched port (`WATCHED`).
const WATCHED: u32 = 1 << 24;

/// Bit offset, within a port word, of the byte naming `metric`'s slot.
fn shift(metric: Metric) -> u32 {
    match metric {
        Metric::Service => 0,
        Metric::Rtt => 8,
        Metric::Reply => 16,
    }
}

/// The `ports` map entries: for each watched port, a word holding the slot
/// index of each metric (or `NO_SLOT`). Ports in first-seen order.
///
/// Slots must be valid ([`ProbeConfig::validate`](crate::ProbeConfig::validate)).
pub fn port_words(slots: &[SlotSpec]) -> Vec<(u16, u32)> {
    let mut words: Vec<(u16, u32)> = Vec::new();
    for (i, s) in slots.iter().enumerate() {
        let k = match words.iter().position(|&(p, _)| p == s.port) {
            Some(k) => k,
            None => {
                words.push((s.port, WATCHED | NO_SLOT | NO_SLOT << 8 | NO_SLOT << 16));
                words.len() - 1
            }
        };
        let w = &mut words[k].1;
        *w = (*w & !(0xff << shift(s.metric))) | (i as u32) << shift(s.metric);
    }
    words
}

/// Sums one slot's per-CPU `struct totals { u64 count; u64 sum_ns; }` values
/// (native byte order, as `lookup_percpu` returns them).
///
/// # Panics
/// Panics if a value is shorter than 16 bytes.
pub fn sum_per_cpu<V: AsRef<[u8]>>(values: &[V]) -> SlotTotals {
    let word = |b: &[u8], at: usize| u64::from_ne_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    values.iter().fold(SlotTotals::default(), |t, v| {
        let v = v.as_ref();
        SlotTotals { count: t.count.wrapping_add(word(v, 0)), sum: t.sum.wrapping_add(word(v, 8)) }
    })
}

/// Capability bits that matter for loading and attaching tracing programs.
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Whether the effective capability set in a `/proc/<pid>/status` text
/// allows loading and attaching tracing BPF programs (CAP_BPF with
/// CAP_PERFMON, or CAP_SYS_ADMIN). `None` if the text has no `CapEff` line.
pub fn caps_allow_tracing(status: &str) -> Option<bool> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?.trim();
    let caps = u64::from_str_radix(hex, 16).ok()?;
    let has = |bit: u32| caps & (1 << bit) != 0;
    Some(has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_words_pack_one_slot_index_per_metric() {
        let slots = [
            SlotSpec { port: 80, metric: Metric::Reply },
            SlotSpec { port: 443, metric: Metric::Rtt },
            SlotSpec { port: 80, metric: Metric::Service },
        ];
        assert_eq!(port_words(&slots), [(80, WATCHED | 2 | 0xff << 8), (443, WATCHED | 0xff | 1 << 8 | 0xff << 16)]);
    }

    #[test]
    fn per_cpu_totals_add_up() {
        let cpu = |count: u64, sum: u64| [count.to_ne_bytes(), sum.to_ne_bytes()].concat();
        let t = sum_per_cpu(&[cpu(2, 300), cpu(0, 0), cpu(5, 1_000)]);
        assert_eq!(t, SlotTotals { count: 7, sum: 1_300 });
        assert_eq!(sum_per_cpu::<Vec<u8>>(&[]), SlotTotals::default());
    }

    #[test]
    fn capabilities_are_read_from_cap_eff() {
        let status = |eff: &str| format!("Name:\tx\nCapPrm:\t000001ffffffffff\nCapEff:\t{eff}\n");
        assert_eq!(caps_allow_tracing(&status("0000000000000000")), Some(false));
        assert_eq!(caps_allow_tracing(&status("000001fffeffffff")), Some(true));
        assert_eq!(caps_allow_tracing(&status("0000008000000000")), Some(false)); // CAP_BPF alone
        assert_eq!(caps_allow_tracing(&status("000000c000000000")), Some(true)); // + CAP_PERFMON
        assert_eq!(caps_allow_tracing(&status("0000000000200000")), Some(true)); // CAP_SYS_ADMIN
        assert_eq!(caps_allow_tracing("Name:\tx\n"), None);
    }
}

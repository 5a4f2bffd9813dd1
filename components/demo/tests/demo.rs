//! Runs the demo binary end to end (short phases): two agent child processes,
//! generated `Primes` proxies, relocation, replication, two SIGKILLs, recovery.

use std::process::Command;

#[test]
fn demo_runs_every_phase_with_no_wrong_answer_and_recovers() {
    let output = Command::new(env!("CARGO_BIN_EXE_hatch-demo"))
        .env("HATCH_DEMO_SECS", "1")
        .env("HATCH_DEMO_WORKERS", "2")
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(output.status.success(), "demo failed: {}", String::from_utf8_lossy(&output.stderr));
    let rows: Vec<&str> =
        stdout.lines().filter(|l| ["local", "relocated", "replicated"].iter().any(|p| l.starts_with(p))).collect();
    assert_eq!(rows.len(), 6, "{stdout}");
    for row in rows {
        // How many calls each phase completes depends on the machine; that none was
        // answered wrongly does not.
        let fields: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(fields[fields.len() - 2], "0", "wrong answers in `{row}`");
        assert!(fields[fields.len() - 1].starts_with("{TrialDivision"), "composition id in `{row}`");
    }
    assert!(stdout.contains("recovery after SIGKILL of agent 1: slot local again"), "{stdout}");
}

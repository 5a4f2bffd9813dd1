//! What the engine's integration tests share.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The debug `hatch-web`, built if need be (a binary of another package of the workspace).
pub fn hatch_web() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = Command::new(cargo)
        .current_dir(&root)
        .args(["build", "-q", "-p", "hatch-webstack", "--bin", "hatch-web"])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building hatch-web");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    target.join("debug/hatch-web")
}

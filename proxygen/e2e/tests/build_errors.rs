//! End-to-end proof that unsupported interface forms fail the *build script* with a readable
//! message (file, line, trait, method, reason), not a panic: builds a throwaway crate whose
//! `build.rs` runs hatch-proxygen on a bad interface. The individual messages are unit-tested in
//! hatch-proxygen; this checks how cargo shows them.

use std::path::{Path, PathBuf};
use std::process::Command;

const BAD_API: &str = "\
pub trait Store: Send + Sync {
    fn get(&self, key: &str) -> Option<Vec<u8>>;
    fn scan<F: Fn(&str)>(&self, visit: F);
    fn append(&mut self, line: String);
}
";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The target directory this test was built in (`<target>/debug/deps/<test>`), so the throwaway
/// crate reuses the already-built generator and its dependencies.
fn target_dir() -> PathBuf {
    std::env::current_exe().unwrap().ancestors().nth(3).unwrap().to_owned()
}

#[test]
fn unsupported_forms_fail_the_build_script_with_a_message() {
    let dir = std::env::temp_dir().join(format!("hatch-proxygen-build-errors-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let generator = workspace_root().join("proxygen");
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"bad-interface\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n\
             [build-dependencies]\nhatch-proxygen = {{ path = {:?} }}\n\n[workspace]\n",
            generator.display().to_string()
        ),
    )
    .unwrap();
    // The workspace lock file pins the generator's dependencies to the versions already built.
    std::fs::copy(workspace_root().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    std::fs::write(
        dir.join("build.rs"),
        "fn main() -> Result<(), Box<dyn std::error::Error>> {\n    \
         hatch_proxygen::configure().compile(&[\"src/store.rs\"])?;\n    Ok(())\n}\n",
    )
    .unwrap();
    std::fs::write(dir.join("src/store.rs"), BAD_API).unwrap();
    std::fs::write(dir.join("src/lib.rs"), "").unwrap();

    let output = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--offline"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", target_dir().join("build-errors"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    std::fs::remove_dir_all(&dir).unwrap();

    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("hatch-proxygen: src/store.rs:3:12: trait `Store`, method `scan`: generic methods"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "hatch-proxygen: src/store.rs:4:15: trait `Store`, method `append`: `&mut self` is not supported"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

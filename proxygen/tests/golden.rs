//! The checked-in golden file `tests/golden/kv.rs` is the code generated for the example
//! key-value interface of the e2e crate (`e2e/src/kv.rs`, which compiles and tests exactly this
//! output). This test fails when the generator's output changes; review the diff and regenerate
//! with `UPDATE_GOLDEN=1 cargo test -p hatch-proxygen --test golden`.

use std::path::Path;

#[test]
fn golden_file_is_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(root.join("e2e/src/kv.rs")).unwrap();
    let generated = hatch_proxygen::configure().generate(Path::new("src/kv.rs"), &source).unwrap();
    let golden_path = root.join("tests/golden/kv.rs");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden_path, &generated).unwrap();
        return;
    }
    let golden = std::fs::read_to_string(&golden_path).unwrap_or_default();
    if golden != generated {
        let line = golden.lines().zip(generated.lines()).position(|(a, b)| a != b).unwrap_or(0) + 1;
        panic!(
            "{} is stale (first difference at line {line}); regenerate with \
             `UPDATE_GOLDEN=1 cargo test -p hatch-proxygen --test golden` and review the diff",
            golden_path.display()
        );
    }
}

//! Compiles `src/bpf/probe.bpf.c` into a BPF object with clang (through
//! libbpf-cargo) when targeting Linux; the crate embeds it with
//! `include_bytes!`. Needs clang, not root, nor bpftool, nor a vmlinux.h: the
//! few kernel types are declared in `src/bpf/hatch_kernel.h` and relocated
//! with CO-RE at load time.

const SRC: &str = "src/bpf/probe.bpf.c";

fn main() {
    println!("cargo:rerun-if-changed={SRC}");
    println!("cargo:rerun-if-changed=src/bpf/hatch_kernel.h");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        compile();
    }
}

#[cfg(target_os = "linux")]
fn compile() {
    let out_dir = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR");
    let out = std::path::PathBuf::from(out_dir).join("probe.bpf.o");
    libbpf_cargo::SkeletonBuilder::new()
        .source(SRC)
        .obj(&out)
        .clang_args(["-Wall", "-Werror"])
        .build()
        .unwrap_or_else(|e| panic!("compiling {SRC} (is clang installed?): {e:#}"));
}

/// A Linux target built on another host would need the BPF toolchain there.
#[cfg(not(target_os = "linux"))]
fn compile() {
    panic!("building the eBPF probe for Linux needs a Linux host (clang and libbpf-cargo)");
}

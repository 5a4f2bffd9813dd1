//! Compiles the XDP program with libbpf-cargo into `OUT_DIR/redirect.bpf.o`, only with the
//! `af-xdp` feature; the driver embeds the object and loads it with libbpf-rs. Needs clang (no
//! root, no vmlinux.h: the program uses UAPI headers only).

fn main() {
    #[cfg(feature = "af-xdp")]
    xdp::build();
}

#[cfg(feature = "af-xdp")]
mod xdp {
    use std::path::PathBuf;

    use libbpf_cargo::SkeletonBuilder;

    const SRC: &str = "src/bpf/redirect.bpf.c";

    pub fn build() {
        let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("redirect.bpf.o");
        // Debian keeps <asm/types.h> under the multiarch directory, which `clang -target bpf`
        // does not search.
        let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
        let multiarch = format!("-I/usr/include/{arch}-linux-gnu");
        SkeletonBuilder::new()
            .source(SRC)
            .clang_args([multiarch.as_str(), "-O2", "-Wall"])
            .obj(&out)
            .build()
            .unwrap_or_else(|err| panic!("building the XDP program {SRC} failed (is clang installed?): {err:#}"));
        println!("cargo::rerun-if-changed={SRC}");
    }
}

//! Stable hashes: method ids (FNV-1a 32 of `Trait::method`) and the interface fingerprint
//! (FNV-1a 64 of the normalised signatures), both independent of declaration order.

use crate::model::{ArgKind, CallMode, Method, Output};

/// FNV-1a, 32 bits.
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, &byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193))
}

/// FNV-1a, 64 bits.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The method id reserved for a conversation's continuation (`hatch_transport::conversation::CONTINUE`);
/// an interface method whose id equals it is refused.
pub const CONTINUE_METHOD_ID: u32 = 0xFFFF_FFFF;

/// The wire id of `trait_name::method`.
pub fn method_id(trait_name: &str, method: &str) -> u32 {
    fnv1a32(format!("{trait_name}::{method}").as_bytes())
}

/// The text the fingerprint hashes: the trait's name, then each method's name, argument types,
/// output type and call mode, sorted by method name. Argument names, docs and declaration order
/// do not change it; anything that changes the bytes on the wire does.
pub fn signature_text(trait_name: &str, methods: &[Method]) -> String {
    let mut lines: Vec<String> = methods
        .iter()
        .map(|method| {
            let args: Vec<String> = method
                .args
                .iter()
                .map(|arg| {
                    let by = match arg.kind {
                        ArgKind::Owned => "",
                        ArgKind::BorrowedInPlace | ArgKind::BorrowedCopy { .. } => "ref ",
                        ArgKind::Interface { .. } => "callback ",
                    };
                    format!("{by}{}", normalise(&arg.ty))
                })
                .collect();
            let output = match &method.output {
                Output::Unit => "()".to_string(),
                Output::Value { ty, .. } => normalise(ty),
            };
            let mode = match method.mode {
                CallMode::TwoWay => "call",
                CallMode::OneWay => "one-way",
            };
            format!("{mode} {}({}) -> {output};", method.name, args.join(", "))
        })
        .collect();
    lines.sort();
    format!("trait {trait_name} {{ {} }}", lines.join(" "))
}

/// The fingerprint of an interface; never 0, which the handshake reads as "accept any".
pub fn fingerprint(trait_name: &str, methods: &[Method]) -> u64 {
    fnv1a64(signature_text(trait_name, methods).as_bytes()).max(1)
}

/// A type as a token string with all whitespace removed.
fn normalise(ty: &syn::Type) -> String {
    quote::quote!(#ty).to_string().split_whitespace().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_reference_vectors() {
        // From the FNV reference test suite.
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn method_ids_hash_the_qualified_name() {
        assert_eq!(method_id("Primes", "is_prime"), fnv1a32(b"Primes::is_prime"));
        assert_ne!(method_id("Primes", "is_prime"), method_id("Other", "is_prime"));
    }
}

//! The Hatch distribution demo: a `Primes` component behind a slot, run locally,
//! relocated to an agent (a child process of the same binary), and recovered from
//! the agent's death, under steady load. `main.rs` runs the phases and prints
//! them side by side; this library holds what the tests share with it.

pub mod component;
pub mod load;
pub mod primes;
pub mod sieve;
pub mod store;

use hatch_components::{Catalog, Registry};

/// The catalog of this binary, the same in the demo process and its agents.
pub fn catalog() -> Catalog {
    let mut registry = Registry::new();
    component::register(&mut registry);
    Catalog::new(registry)
        .remotable::<dyn primes::Primes>()
        .remotable::<dyn store::Blob>()
        .remotable::<dyn sieve::Sieve>()
}

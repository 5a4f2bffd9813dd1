//! Generates rkyv client proxies, async clients and server dispatchers from plain Rust traits, in
//! `build.rs`.
//!
//! An interface is an ordinary trait in an ordinary source file. A local implementation and the
//! generated remote proxy are interchangeable behind `Arc<dyn Trait>`.
//!
//! # Guide
//!
//! `src/primes.rs`, a module of your crate:
//!
//! ```ignore
//! /// Prime number queries.
//! pub trait Primes: Send + Sync {
//!     /// Whether `n` is prime.
//!     fn is_prime(&self, n: u64) -> bool;
//!     /// How many primes lie in `lo..hi`.
//!     fn count(&self, lo: u64, hi: u64) -> u64;
//! }
//!
//! // Generated code goes in the same module as the trait, and names the trait and the types in
//! // its signatures exactly as the trait does.
//! hatch::include_proxies!("primes");
//! ```
//!
//! `build.rs` (with `hatch-proxygen` as a build-dependency, `hatch` as a dependency):
//!
//! ```no_run
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     hatch_proxygen::configure().compile(&["src/primes.rs"])?;
//!     Ok(())
//! }
//! ```
//!
//! Use:
//!
//! ```ignore
//! // Server: the dispatcher implements `hatch::codegen::Service`.
//! let service = PrimesServer::new(Arc::new(LocalPrimes));
//! let config = primes_wire::server_config(Config::default()); // checks the fingerprint
//! // Client: the proxy implements `Primes`.
//! let primes: Arc<dyn Primes> = Arc::new(PrimesProxy::new(channel)); // channel: Arc<dyn Channel>
//! assert!(primes.is_prime(7));
//! // Async: the same methods as `async fn`.
//! let client = PrimesAsyncClient::new(async_channel);
//! assert!(client.is_prime(7).await);
//! ```
//!
//! # What is generated, per trait `Primes`
//!
//! - `primes_wire`: one rkyv argument struct per method, the method ids (FNV-1a 32 of
//!   `"Primes::method"`, so adding, removing or reordering methods keeps the others' ids; collisions
//!   are a generation error), `FINGERPRINT` and `client_config`/`server_config` helpers.
//! - `PrimesProxy`: implements `Primes` over an `Arc<dyn Channel>`.
//! - `PrimesAsyncClient<C: AsyncChannel>`: the methods as `async fn`.
//! - `PrimesServer`: `new(Arc<dyn Primes>)`, implements `Service`. Requests are validated in place
//!   with rkyv's checked access (hostile bytes give a `BadRequest` error); `&str` and `&[u8]`
//!   arguments are lent to the implementation straight from the receive buffer, without a copy.
//!
//! # Semantics
//!
//! - **Explicit and implicit methods** (Hatch paper §4.1): a method returning `Result<T, E>` with
//!   `E: From<hatch::RemoteError>` is explicit: a transport failure returns `Err(E::from(error))`
//!   (`E` is serialised too, so application errors travel). Every other method is implicit: the
//!   proxy hands failures to its failure handler (`hatch::codegen::FailureHandler`), which may retry,
//!   point the proxy at another channel or at a local implementation and retry, or panic. The
//!   default handler retries transport failures with backoff for 10 s, then panics naming the
//!   interface, method and error.
//! - **Optimistic methods**: methods returning `()` are sent as one-way calls, batched by the
//!   channel; the proxy's `flush()` waits for them and reports failures. Mark a method
//!   `#[hatch::sync]` to make it wait for the server instead.
//! - **Fingerprint**: a hash of the trait's name and its methods' names, argument and return types
//!   (as normalised token strings) and call modes. Configure both ends with it and a client
//!   generated from another version of the trait fails its calls with a handshake error naming
//!   both fingerprints.
//!
//! # What a call costs
//!
//! Client: the arguments are serialised once into a per-thread reusable buffer (no allocation in
//! a steady state; owned arguments are kept, not cloned, so a re-fired call can run locally), the
//! channel copies them into its outgoing buffer, and the reply is validated and deserialised
//! into the return type. Server: the arguments are validated in place; `&str`/`&[u8]` are lent
//! without a copy, owned arguments are deserialised, and the reply is serialised straight into
//! the connection's outgoing buffer. Reading the proxy's target is one `ArcSwap` load (no shared
//! reference count is touched), and the failure handler is only consulted on failure.
//!
//! # Supported signatures
//!
//! Methods take `&self`. Arguments and return values may be integers, floats, `bool`, `char`,
//! `String`, `Vec<T>`, `Option<T>`, tuples, arrays, `Result<T, E>` and your own types deriving
//! `rkyv::Archive` and `rkyv::Serialize` (and `rkyv::Deserialize`). Arguments may also be `&str`,
//! `&[u8]` (zero-copy on the server), `&T` and `&[T]`. Generic traits or methods, named lifetimes,
//! `impl Trait`, `dyn Trait`, `async fn`, `&mut` arguments, `&mut self` or no receiver, returned
//! references and `Self` in signatures are rejected: [`Builder::compile`] fails with an [`Error`]
//! naming the file, line, trait, method and reason.
//!
//! Types in signatures are resolved in the module that includes the generated code, exactly as in
//! the trait (the argument structs live in a child module that glob-imports its parent, with
//! `self::`/`super::` paths adjusted).

mod builder;
mod error;
pub mod fingerprint;
mod generate;
mod model;
mod parse;
mod types;

pub use builder::{Builder, configure};
pub use error::{Diagnostic, Error};

#[cfg(test)]
mod tests;

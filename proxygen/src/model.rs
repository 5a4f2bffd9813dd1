//! Neutral descriptors of an interface: what the generators need to know about a trait, with
//! every validation already done by [`crate::parse`].

use proc_macro2::Ident;
use syn::{Attribute, Type, Visibility};

/// One interface trait.
#[derive(Clone, Debug)]
pub struct Service {
    /// The trait's name, e.g. `Primes`.
    pub name: Ident,
    /// The trait's visibility, reused for every generated item.
    pub vis: Visibility,
    /// The trait's `#[doc]` attributes.
    pub docs: Vec<Attribute>,
    /// The methods, in declaration order.
    pub methods: Vec<Method>,
    /// Hash of the normalised signatures ([`crate::fingerprint`]); never 0.
    pub fingerprint: u64,
    /// The path of a `Component` supertrait (hatch-components), which the proxy implements too so
    /// it can stand in a `Slot`.
    pub component: Option<syn::Path>,
}

/// One method of an interface.
#[derive(Clone, Debug)]
pub struct Method {
    /// The method's name, e.g. `is_prime`.
    pub name: Ident,
    /// The method's `#[doc]` attributes.
    pub docs: Vec<Attribute>,
    /// The arguments after `&self`.
    pub args: Vec<Arg>,
    /// What it returns.
    pub output: Output,
    /// How the client sends it.
    pub mode: CallMode,
    /// Wire id: FNV-1a 32 of `Trait::method`.
    pub id: u32,
}

/// One argument.
#[derive(Clone, Debug)]
pub struct Arg {
    /// Its name (the pattern's identifier, or `arg{i}` for other patterns).
    pub name: Ident,
    /// Its type as written, with elided lifetimes.
    pub ty: Type,
    /// How it travels.
    pub kind: ArgKind,
}

/// How an argument travels and how the server hands it to the implementation.
#[derive(Clone, Debug)]
pub enum ArgKind {
    /// An owned value: serialised, then deserialised on the server.
    Owned,
    /// `&str` or `&[u8]`: serialised, then borrowed in place from the receive buffer.
    BorrowedInPlace,
    /// `&T` or `&[T]` otherwise: serialised, deserialised into a `Box<T>`/`Box<[T]>` on the
    /// server and lent to the implementation. `pointee` is `T` or `[T]`.
    BorrowedCopy {
        /// The referenced type.
        pointee: Box<Type>,
    },
    /// `&dyn OtherInterface`: not sent. The callee gets a reverse proxy (`OtherInterfaceProxy`)
    /// whose calls travel back to the caller's object while the call lasts, as a conversation
    /// (`hatch_transport::conversation`). `slot` numbers the method's interface arguments.
    Interface {
        /// The interface trait, as written (e.g. `Socket` or `net::Socket`).
        path: syn::Path,
        /// 0 for the method's first interface argument, 1 for the next, …
        slot: u8,
    },
}

/// A method's return type.
#[derive(Clone, Debug)]
pub enum Output {
    /// `()` or nothing.
    Unit,
    /// Any other owned type, including `Result`s; `error` is the `E` of `Result<T, E>`, whose
    /// methods are explicit when `E: From<RemoteError>`.
    Value {
        /// The type.
        ty: Box<Type>,
        /// `Some(E)` when the type is spelled `Result<T, E>`.
        error: Option<Box<Type>>,
    },
}

/// How a client sends a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallMode {
    /// A call that waits for its reply.
    TwoWay,
    /// An optimistic one-way call, batched with others (`()` methods without `#[hatch::sync]`).
    OneWay,
}

impl Method {
    /// True when some argument travels borrowed, so the argument struct needs a lifetime.
    pub fn borrows(&self) -> bool {
        self.args.iter().any(|arg| matches!(arg.kind, ArgKind::BorrowedInPlace | ArgKind::BorrowedCopy { .. }))
    }

    /// The arguments that travel (all but interface arguments), in order.
    pub fn sent_args(&self) -> impl Iterator<Item = &Arg> {
        self.args.iter().filter(|arg| !matches!(arg.kind, ArgKind::Interface { .. }))
    }

    /// True when some argument is an interface, so a call is a conversation with callbacks.
    pub fn converses(&self) -> bool {
        self.args.iter().any(|arg| matches!(arg.kind, ArgKind::Interface { .. }))
    }
}

//! Error types, one enum per failure domain.

use std::sync::Arc;

/// Failure while registering a variant in a [`Registry`](crate::Registry).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// A variant or interface name is empty or uses a character other than ASCII
    /// letters, digits, `_`, `-` and `.` (identifiers reserve the others).
    #[error("invalid name `{0}`: use ASCII letters, digits, `_`, `-`, `.`")]
    InvalidName(Arc<str>),
    /// Two variants were registered under the same name; identifiers name variants
    /// only, so names must be unique across all interfaces.
    #[error("variant `{0}` is already registered")]
    DuplicateVariant(Arc<str>),
    /// One interface name was used with two different Rust trait-object types.
    #[error("interface `{interface}` is registered as `{existing}`, not `{attempted}`")]
    InterfaceTypeMismatch {
        /// The interface name.
        interface: Arc<str>,
        /// The Rust type first registered under that name.
        existing: &'static str,
        /// The Rust type of the rejected registration.
        attempted: &'static str,
    },
}

/// Failure while building the composition space of a root interface.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpaceError {
    /// An interface is required (or is the root) but no variant provides it.
    #[error("no variant provides interface `{interface}`{}", required_by.as_ref().map(|v| format!(" (required by `{v}`)")).unwrap_or_default())]
    NoProvider {
        /// The interface nobody provides.
        interface: Arc<str>,
        /// The variant that requires it; `None` for the root interface.
        required_by: Option<Arc<str>>,
    },
    /// Requirements form a cycle, which would make the composition tree infinite.
    /// `path` alternates interfaces and the variants that require the next one,
    /// and ends with the interface it started from.
    #[error("dependency cycle: {}", path.join(" -> "))]
    Cycle {
        /// `[Iface, Variant, Iface, Variant, ..., Iface]`.
        path: Vec<Arc<str>>,
    },
    /// The number of compositions does not fit in a `u64`.
    #[error("composition count of interface `{interface}` overflows u64")]
    TooLarge {
        /// The interface whose count overflowed.
        interface: Arc<str>,
    },
    /// The unfolded decision structure has more decision points than the limit.
    #[error("decision structure has more than {limit} decision points")]
    TooManyDecisions {
        /// The limit that was exceeded.
        limit: usize,
    },
}

/// Failure while parsing or checking a composition against a space.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompositionError {
    /// The identifier text is malformed.
    #[error("malformed composition identifier at byte {at}: {reason}")]
    Syntax {
        /// Byte offset of the problem.
        at: usize,
        /// What was expected.
        reason: &'static str,
    },
    /// The wirings do not form a tree listed in pre-order from component 0.
    #[error("composition is not a pre-order tree: {0}")]
    Shape(&'static str),
    /// A component name is not a variant of this space.
    #[error("unknown variant `{0}`")]
    UnknownVariant(Arc<str>),
    /// A component sits where a different interface is expected.
    #[error("component {index} (`{variant}`) does not provide `{expected}`")]
    WrongInterface {
        /// Component index in the identifier.
        index: usize,
        /// Its variant name.
        variant: Arc<str>,
        /// The interface its position requires.
        expected: Arc<str>,
    },
    /// A component's wirings do not match its variant's requirements.
    #[error("component {index} (`{variant}`) is wired as {found}, but requires {expected}")]
    WrongWiring {
        /// Component index in the identifier.
        index: usize,
        /// Its variant name.
        variant: Arc<str>,
        /// The required interfaces, in order.
        expected: String,
        /// The wired interfaces, in order.
        found: String,
    },
    /// A numeric index is not below the space's count.
    #[error("index {index} out of range (space has {count} compositions)")]
    IndexOutOfRange {
        /// The index given.
        index: u64,
        /// The number of compositions.
        count: u64,
    },
    /// A choice vector does not match the decision structure.
    #[error("invalid choice vector: {0}")]
    Choices(String),
}

/// Failure while exporting or importing component state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The bytes could not be encoded or decoded (rkyv validation failed).
    #[error("state codec error: {0}")]
    Codec(String),
    /// The importer does not understand this state format.
    #[error("state format `{found}` is not `{expected}`")]
    Format {
        /// The format the importer understands.
        expected: &'static str,
        /// The format it was given.
        found: &'static str,
    },
}

/// Failure while assembling a system or transitioning it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssemblyError {
    /// The target composition is not valid in this space.
    #[error(transparent)]
    Composition(#[from] CompositionError),
    /// Moving state into a replacement failed; the old implementation stays installed.
    #[error("state transfer into `{variant}` failed: {source}")]
    State {
        /// The variant that refused the state.
        variant: Arc<str>,
        /// Why.
        source: StateError,
    },
    /// A component's slot was requested with the wrong trait-object type.
    #[error("component {index} does not provide `{requested}`")]
    SlotType {
        /// The component index.
        index: usize,
        /// The type requested.
        requested: &'static str,
    },
    /// The root slot was requested with the wrong trait-object type.
    #[error("root interface is `{root}`, not `{requested}`")]
    RootType {
        /// The space's root interface.
        root: Arc<str>,
        /// The type requested.
        requested: &'static str,
    },
}

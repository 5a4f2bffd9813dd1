//! What can go wrong while generating: unreadable or unwritable files, Rust syntax errors, and
//! interface traits that use a form the generator cannot serve.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A failed generation. `Debug` prints the same text as `Display`, so a `build.rs` whose `main`
/// returns `Result<(), Box<dyn std::error::Error>>` shows a readable message after `?`.
#[derive(thiserror::Error)]
pub enum Error {
    /// An interface file could not be read.
    #[error("hatch-proxygen: cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The generated file could not be written.
    #[error("hatch-proxygen: cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// An interface file is not valid Rust.
    #[error("hatch-proxygen: {}:{line}:{column}: not valid Rust: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// Interface traits use forms the generator cannot serve; one diagnostic per problem.
    #[error("{}", Diagnostics(.0))]
    Unsupported(Vec<Diagnostic>),
    /// An interface file holds no trait to generate proxies for.
    #[error("hatch-proxygen: {}: no interface trait found{}", path.display(), match only {
        Some(names) => format!(" (looked for {})", names.join(", ")),
        None => String::new(),
    })]
    NoTraits {
        /// The file.
        path: PathBuf,
        /// The trait names selected with [`crate::Builder::only_traits`], if any.
        only: Option<Vec<String>>,
    },
    /// The builder was configured wrongly, or run outside a build script without an output
    /// directory.
    #[error("hatch-proxygen: {0}")]
    Config(String),
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One unsupported form in an interface trait, located by file, line, trait and method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The interface file.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The trait.
    pub trait_name: String,
    /// The method, when the problem is in one.
    pub method: Option<String>,
    /// What is wrong and, where there is one, what to do instead.
    pub reason: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "hatch-proxygen: {}:{}:{}: trait `{}`",
            self.path.display(),
            self.line,
            self.column,
            self.trait_name
        )?;
        if let Some(method) = &self.method {
            write!(f, ", method `{method}`")?;
        }
        write!(f, ": {}", self.reason)
    }
}

struct Diagnostics<'a>(&'a [Diagnostic]);

impl fmt::Display for Diagnostics<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

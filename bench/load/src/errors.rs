//! The kinds of failed request the loader counts, and their counts.

use std::fmt;

use crate::client;

/// Why one request counted as an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The connection could not be opened (refused, unreachable, connect timeout).
    Connect,
    /// No complete response within the request timeout.
    Timeout,
    /// The server closed or reset the connection before the response was complete.
    Closed,
    /// The response was not valid HTTP/1.1.
    Malformed,
    /// The response head or body exceeded the client's bounds.
    TooLarge,
    /// An unexpected status below 500 (anything but the 200 every page of the site answers).
    Status,
    /// A 5xx status.
    ServerError,
    /// A 200 whose body is not the expected one (length, digest, title, end of page, encoding).
    WrongContent,
    /// Any other local or I/O failure.
    Io,
}

impl ErrorKind {
    /// Every kind, in the order reports print them.
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::Closed,
        ErrorKind::Malformed,
        ErrorKind::TooLarge,
        ErrorKind::Status,
        ErrorKind::ServerError,
        ErrorKind::WrongContent,
        ErrorKind::Io,
    ];

    /// The kind's name in summaries (`wrong_content`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Closed => "closed",
            ErrorKind::Malformed => "malformed",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Status => "status",
            ErrorKind::ServerError => "server_error",
            ErrorKind::WrongContent => "wrong_content",
            ErrorKind::Io => "io",
        }
    }

    /// The kind of an unexpected status code.
    pub fn of_status(status: u16) -> ErrorKind {
        if status >= 500 { ErrorKind::ServerError } else { ErrorKind::Status }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl From<&client::Error> for ErrorKind {
    fn from(error: &client::Error) -> ErrorKind {
        match error {
            client::Error::Connect(_) => ErrorKind::Connect,
            client::Error::Timeout => ErrorKind::Timeout,
            client::Error::Closed(_) => ErrorKind::Closed,
            client::Error::Malformed(_) => ErrorKind::Malformed,
            client::Error::TooLarge(_) => ErrorKind::TooLarge,
            client::Error::InvalidRequest(_) | client::Error::Io(_) => ErrorKind::Io,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How many errors of each kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErrorCounts([u64; ErrorKind::ALL.len()]);

impl ErrorCounts {
    /// Counts one error of `kind`.
    pub fn add(&mut self, kind: ErrorKind) {
        self.0[kind.index()] += 1;
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &ErrorCounts) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
    }

    /// The errors of `kind`.
    pub fn get(&self, kind: ErrorKind) -> u64 {
        self.0[kind.index()]
    }

    /// All errors.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The kinds that occurred, with their counts.
    pub fn iter(&self) -> impl Iterator<Item = (ErrorKind, u64)> + '_ {
        ErrorKind::ALL.into_iter().map(|kind| (kind, self.get(kind))).filter(|&(_, n)| n > 0)
    }
}

/// `none`, or `kind:count` pairs separated by commas (`timeout:2,wrong_content:1`).
impl fmt::Display for ErrorCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.total() == 0 {
            return f.write_str("none");
        }
        for (i, (kind, n)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{kind}:{n}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_print_by_kind() {
        let mut counts = ErrorCounts::default();
        assert_eq!(counts.to_string(), "none");
        counts.add(ErrorKind::WrongContent);
        counts.add(ErrorKind::Timeout);
        counts.add(ErrorKind::Timeout);
        assert_eq!(counts.to_string(), "timeout:2,wrong_content:1");
        assert_eq!(counts.total(), 3);
        let mut sum = ErrorCounts::default();
        sum.merge(&counts);
        sum.merge(&counts);
        assert_eq!(sum.get(ErrorKind::Timeout), 4);
    }

    #[test]
    fn names_are_unique_and_indices_match() {
        for (i, kind) in ErrorKind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), i);
        }
        let names: std::collections::HashSet<_> = ErrorKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), ErrorKind::ALL.len());
        assert_eq!(ErrorKind::of_status(503), ErrorKind::ServerError);
        assert_eq!(ErrorKind::of_status(404), ErrorKind::Status);
    }
}

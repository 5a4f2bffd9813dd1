//! The database of articles: an explicit interface (its methods return transport failures as
//! [`DbError::Remote`]), backed by embedded SQLite. Only the trait and its types live here:
//! hatch-proxygen reads this file.

/// One article.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Article {
    /// Its title (the last path segment of `/wiki/<title>`).
    pub title: String,
    /// Its text, in the site's small wikitext dialect.
    pub text: String,
    /// How many times it was saved (1 for a generated article).
    pub revision: u64,
}

/// Why a database call failed.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum DbError {
    /// SQLite refused the statement.
    Sql(String),
    /// The input was refused before reaching SQLite (empty or oversized title or text).
    Invalid(String),
    /// The call did not reach the database, or its reply did not come back.
    Remote(String),
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Sql(e) => write!(f, "sqlite: {e}"),
            DbError::Invalid(e) => write!(f, "invalid: {e}"),
            DbError::Remote(e) => write!(f, "remote: {e}"),
        }
    }
}

impl std::error::Error for DbError {}

impl From<hatch::RemoteError> for DbError {
    fn from(error: hatch::RemoteError) -> Self {
        DbError::Remote(error.to_string())
    }
}

/// The articles' store of record.
pub trait Database: hatch::components::Component {
    /// The article `title`, if it exists.
    fn article(&self, title: &str) -> Result<Option<Article>, DbError>;

    /// Creates or replaces the article `title`; returns its new revision.
    fn save(&self, title: &str, text: &str) -> Result<u64, DbError>;

    /// Up to `limit` titles in title order, starting at `offset`.
    fn titles(&self, offset: u32, limit: u32) -> Result<Vec<String>, DbError>;

    /// How many articles there are.
    fn count(&self) -> Result<u64, DbError>;
}

hatch::include_proxies!("database");

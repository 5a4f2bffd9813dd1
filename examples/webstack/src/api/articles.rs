//! Access to the articles, for scripts: straight from the database or read through the memo
//! (the paper's two DB-access variants). Only the trait lives here: hatch-proxygen reads this
//! file.

use super::database::Article;

/// Reads and writes articles.
pub trait Articles: hatch::components::Component {
    /// The article `title`, if it exists; `Err` when the database could not be read.
    fn get(&self, title: &str) -> Result<Option<Article>, String>;

    /// Creates or replaces the article `title`; returns its new revision.
    fn put(&self, title: &str, text: &str) -> Result<u64, String>;

    /// Up to `limit` titles, in order, starting at `offset`.
    fn titles(&self, offset: u32, limit: u32) -> Result<Vec<String>, String>;

    /// How many articles there are.
    fn count(&self) -> Result<u64, String>;
}

hatch::include_proxies!("articles");

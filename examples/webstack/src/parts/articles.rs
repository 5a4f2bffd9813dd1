//! The [`Articles`] variants, the paper's two DB-access variants: `DirectArticles` reads the
//! database every time; `MemoArticles` reads through the [`Memo`] (a miss reads the database
//! and fills the memo; a save writes the database, then deletes the memo entry before it
//! returns, so no later read sees the old text).

use hatch_components::{Component, Slot};

use crate::api::articles::Articles;
use crate::api::database::{Article, Database};
use crate::api::memo::Memo;

/// Straight to the database.
pub struct DirectArticles {
    database: Slot<dyn Database>,
}

impl DirectArticles {
    /// Reads and writes through `database`.
    pub fn new(database: Slot<dyn Database>) -> Self {
        DirectArticles { database }
    }
}

impl Component for DirectArticles {}

impl Articles for DirectArticles {
    fn get(&self, title: &str) -> Result<Option<Article>, String> {
        self.database.load().article(title).map_err(|e| e.to_string())
    }

    fn put(&self, title: &str, text: &str) -> Result<u64, String> {
        self.database.load().save(title, text).map_err(|e| e.to_string())
    }

    fn titles(&self, offset: u32, limit: u32) -> Result<Vec<String>, String> {
        self.database.load().titles(offset, limit).map_err(|e| e.to_string())
    }

    fn count(&self) -> Result<u64, String> {
        self.database.load().count().map_err(|e| e.to_string())
    }
}

/// Through the memo.
pub struct MemoArticles {
    memo: Slot<dyn Memo>,
    direct: DirectArticles,
}

impl MemoArticles {
    /// Caches `database`'s articles in `memo`.
    pub fn new(memo: Slot<dyn Memo>, database: Slot<dyn Database>) -> Self {
        MemoArticles { memo, direct: DirectArticles::new(database) }
    }

    fn key(title: &str) -> String {
        format!("article:{title}")
    }
}

impl Component for MemoArticles {}

/// How an article sits in the memo: revision, then text.
fn encode(article: &Article) -> Vec<u8> {
    let mut bytes = article.revision.to_le_bytes().to_vec();
    bytes.extend_from_slice(article.text.as_bytes());
    bytes
}

fn decode(title: &str, bytes: &[u8]) -> Option<Article> {
    let (revision, text) = bytes.split_first_chunk::<8>()?;
    let text = String::from_utf8(text.to_vec()).ok()?;
    Some(Article { title: title.to_owned(), text, revision: u64::from_le_bytes(*revision) })
}

impl Articles for MemoArticles {
    fn get(&self, title: &str) -> Result<Option<Article>, String> {
        let key = Self::key(title);
        if let Some(article) = self.memo.load().get(&key).and_then(|bytes| decode(title, &bytes)) {
            return Ok(Some(article));
        }
        let article = self.direct.get(title)?;
        if let Some(article) = &article {
            self.memo.load().set(key, encode(article));
        }
        Ok(article)
    }

    fn put(&self, title: &str, text: &str) -> Result<u64, String> {
        let revision = self.direct.put(title, text)?;
        self.memo.load().delete(&Self::key(title));
        Ok(revision)
    }

    fn titles(&self, offset: u32, limit: u32) -> Result<Vec<String>, String> {
        self.direct.titles(offset, limit)
    }

    fn count(&self) -> Result<u64, String> {
        self.direct.count()
    }
}

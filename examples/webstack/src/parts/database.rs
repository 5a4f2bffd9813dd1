//! `Sqlite`: the [`Database`] variant, embedded SQLite through rusqlite (bundled, so there is no
//! server to install). Stateful: its state is its rows, exported and imported whole, so a
//! relocated database takes its articles along and brings edits back.

use std::path::{Path, PathBuf};

use hatch_components::{Component, StateError, StateTransfer, state};
use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, params};

use crate::api::database::{Article, Database, DbError};

/// Longest title accepted, in bytes.
pub const MAX_TITLE: usize = 200;
/// Longest article text accepted, in bytes.
pub const MAX_TEXT: usize = 1 << 20;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS articles (
    title TEXT PRIMARY KEY NOT NULL,
    text TEXT NOT NULL,
    revision INTEGER NOT NULL
) WITHOUT ROWID;";

/// Creates (or replaces) the database at `path` holding `articles`, in one transaction.
///
/// # Errors
///
/// SQLite's.
pub fn create(path: &Path, articles: impl Iterator<Item = (String, String)>) -> rusqlite::Result<()> {
    let mut db = open(path)?;
    let tx = db.transaction()?;
    tx.execute("DELETE FROM articles", [])?;
    {
        let mut insert = tx.prepare("INSERT INTO articles (title, text, revision) VALUES (?1, ?2, 1)")?;
        for (title, text) in articles {
            insert.execute(params![title, text])?;
        }
    }
    tx.commit()
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let db = Connection::open(path)?;
    // WAL lets the readers of other processes (an agent on the same machine) go on while one
    // writes; `busy_timeout` makes a writer wait for a lock instead of failing at once.
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", "NORMAL")?;
    db.busy_timeout(std::time::Duration::from_secs(5))?;
    db.execute_batch(SCHEMA)?;
    Ok(db)
}

/// The articles in one SQLite file, behind one connection (SQLite serialises a connection's
/// statements anyway; reads are a primary-key lookup of microseconds).
pub struct Sqlite {
    path: PathBuf,
    db: Mutex<Connection>,
}

impl Sqlite {
    /// Opens (creating if need be) the database at `path`.
    ///
    /// # Errors
    ///
    /// SQLite's.
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        Ok(Sqlite { path: path.to_owned(), db: Mutex::new(open(path)?) })
    }

    /// The file it uses.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn all(&self) -> rusqlite::Result<Vec<(String, String, u64)>> {
        let db = self.db.lock();
        let mut select = db.prepare_cached("SELECT title, text, revision FROM articles ORDER BY title")?;
        let rows = select.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
        rows.collect()
    }
}

fn sql(error: rusqlite::Error) -> DbError {
    DbError::Sql(error.to_string())
}

impl Database for Sqlite {
    fn article(&self, title: &str) -> Result<Option<Article>, DbError> {
        let db = self.db.lock();
        let mut select = db.prepare_cached("SELECT text, revision FROM articles WHERE title = ?1").map_err(sql)?;
        select
            .query_row(params![title], |row| {
                Ok(Article { title: title.to_owned(), text: row.get(0)?, revision: row.get(1)? })
            })
            .optional()
            .map_err(sql)
    }

    fn save(&self, title: &str, text: &str) -> Result<u64, DbError> {
        if title.is_empty() || title.len() > MAX_TITLE {
            return Err(DbError::Invalid(format!("a title has 1 to {MAX_TITLE} bytes")));
        }
        if text.len() > MAX_TEXT {
            return Err(DbError::Invalid(format!("an article has at most {MAX_TEXT} bytes")));
        }
        let db = self.db.lock();
        let mut upsert = db
            .prepare_cached(
                "INSERT INTO articles (title, text, revision) VALUES (?1, ?2, 1)
                 ON CONFLICT(title) DO UPDATE SET text = excluded.text, revision = revision + 1
                 RETURNING revision",
            )
            .map_err(sql)?;
        upsert.query_row(params![title, text], |row| row.get(0)).map_err(sql)
    }

    fn titles(&self, offset: u32, limit: u32) -> Result<Vec<String>, DbError> {
        let db = self.db.lock();
        let mut select =
            db.prepare_cached("SELECT title FROM articles ORDER BY title LIMIT ?1 OFFSET ?2").map_err(sql)?;
        let rows = select.query_map(params![limit, offset], |row| row.get(0)).map_err(sql)?;
        rows.collect::<Result<_, _>>().map_err(sql)
    }

    fn count(&self) -> Result<u64, DbError> {
        self.db.lock().query_row("SELECT COUNT(*) FROM articles", [], |row| row.get(0)).map_err(sql)
    }
}

impl Component for Sqlite {
    fn state(&self) -> Option<&dyn StateTransfer> {
        Some(self)
    }

    fn state_mut(&mut self) -> Option<&mut dyn StateTransfer> {
        Some(self)
    }
}

impl StateTransfer for Sqlite {
    fn state_format(&self) -> &'static str {
        "webstack/articles-v1"
    }

    fn export_state(&self) -> Result<Vec<u8>, StateError> {
        let rows = self.all().map_err(|e| StateError::Codec(format!("sqlite: {e}")))?;
        state::encode(&rows)
    }

    fn import_state(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        let rows: Vec<(String, String, u64)> = state::decode(bytes)?;
        let db = self.db.get_mut();
        let mut import = || -> rusqlite::Result<()> {
            let tx = db.transaction()?;
            tx.execute("DELETE FROM articles", [])?;
            {
                let mut insert = tx.prepare("INSERT INTO articles (title, text, revision) VALUES (?1, ?2, ?3)")?;
                for (title, text, revision) in &rows {
                    insert.execute(params![title, text, revision])?;
                }
            }
            tx.commit()
        };
        import().map_err(|e| StateError::Codec(format!("sqlite: {e}")))
    }
}

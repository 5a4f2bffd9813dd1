//! Server-side dynamic pages. A script writes its page to the connection in many small pieces,
//! as the paper's scripts do; whether each piece waits for the front end (`send_sync`) or is
//! batched (`send`) is what tells its two variants apart. Only the trait lives here:
//! hatch-proxygen reads this file.

use super::http::{Connection, ConnectionProxy, ConnectionServer, connection_wire};

/// Renders the site's dynamic pages.
pub trait Script: hatch::components::Component {
    /// Renders the article `title` to `connection`, after `cost` units of real rendering work
    /// (each unit re-runs the markup pass over the article). Returns `Ok(false)`, having sent
    /// nothing, when there is no such article, and `Err` (having sent nothing) when the
    /// articles could not be read.
    fn article(&self, title: &str, cost: u32, connection: &dyn Connection) -> Result<bool, String>;

    /// Renders the index page (the first `limit` titles) to `connection`; returns how many
    /// articles the site holds (`Err`, having sent nothing, when they could not be read).
    fn index(&self, limit: u32, connection: &dyn Connection) -> Result<u64, String>;

    /// Creates or replaces the article `title`; returns its new revision, or the reason it was
    /// refused.
    fn save(&self, title: &str, text: &str) -> Result<u64, String>;
}

hatch::include_proxies!("script");

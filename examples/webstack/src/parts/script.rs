//! The [`Script`] variants: one renderer of the site's pages, registered twice, `BatchedScript`
//! sending each piece with the optimistic [`Connection::send`] and `SyncScript` with the
//! pessimistic [`Connection::send_sync`] (the paper's Fig. 7 worst case). Pages go out in many
//! small pieces: the page head, then one piece per heading or paragraph, then the foot.

use std::fmt::Write;

use hatch_components::{Component, Slot};

use crate::api::articles::Articles;
use crate::api::http::Connection;
use crate::api::script::Script;

/// Most work units one request may ask for (a request is refused nothing, it is clamped).
pub const MAX_COST: u32 = 10_000;

/// How the pieces go out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sending {
    /// [`Connection::send`]: batched behind a reverse proxy.
    Batched,
    /// [`Connection::send_sync`]: one round trip per piece behind a reverse proxy.
    Sync,
}

/// Renders articles from [`Articles`].
pub struct PageScript {
    articles: Slot<dyn Articles>,
    sending: Sending,
}

impl PageScript {
    /// A script reading `articles` and sending as `sending` says.
    pub fn new(articles: Slot<dyn Articles>, sending: Sending) -> Self {
        PageScript { articles, sending }
    }

    fn send(&self, connection: &dyn Connection, piece: &str) {
        match self.sending {
            Sending::Batched => connection.send(piece.as_bytes()),
            Sending::Sync => connection.send_sync(piece.as_bytes()),
        }
    }
}

impl Component for PageScript {}

impl Script for PageScript {
    fn article(&self, title: &str, cost: u32, connection: &dyn Connection) -> Result<bool, String> {
        let Some(article) = self.articles.load().get(title)? else { return Ok(false) };
        let blocks = render(&article.text);
        // The configurable CPU cost: the markup pass again, `cost` times, its result kept
        // observable so the optimiser cannot drop it.
        let mut check = 0u64;
        for _ in 0..cost.min(MAX_COST) {
            check = check.wrapping_add(crate::dataset::digest(render(&article.text).concat().as_bytes()));
        }
        std::hint::black_box(check);
        self.send(connection, &page_head(title));
        self.send(
            connection,
            &format!("<h1>{}</h1>\n<p class=\"rev\">revision {}</p>\n", escape(title), article.revision),
        );
        for block in &blocks {
            self.send(connection, block);
        }
        self.send(connection, PAGE_FOOT);
        Ok(true)
    }

    fn index(&self, limit: u32, connection: &dyn Connection) -> Result<u64, String> {
        let articles = self.articles.load();
        let count = articles.count()?;
        let titles = articles.titles(0, limit)?;
        self.send(connection, &page_head("Index"));
        self.send(connection, &format!("<h1>Index</h1>\n<p>{count} articles.</p>\n<ul>\n"));
        for chunk in titles.chunks(32) {
            let mut piece = String::new();
            for title in chunk {
                let t = escape(title);
                let _ = writeln!(piece, "<li><a href=\"/wiki/{t}\">{t}</a></li>");
            }
            self.send(connection, &piece);
        }
        self.send(connection, "</ul>\n");
        self.send(connection, PAGE_FOOT);
        Ok(count)
    }

    fn save(&self, title: &str, text: &str) -> Result<u64, String> {
        self.articles.load().put(title, text)
    }
}

const PAGE_FOOT: &str = "<footer>hatch-web</footer>\n</body>\n</html>\n";

fn page_head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{} - Hatch wiki</title>\n\
         <link rel=\"stylesheet\" href=\"/static/text/00000.txt\">\n</head>\n<body>\n",
        escape(title)
    )
}

/// The site's wikitext as HTML blocks: `== heading ==` lines, blank-line separated paragraphs,
/// `'''bold'''` and `[[links]]` inside them.
pub fn render(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut paragraph = String::new();
    let flush = |paragraph: &mut String, blocks: &mut Vec<String>| {
        if !paragraph.trim().is_empty() {
            blocks.push(format!("<p>{}</p>\n", inline(paragraph.trim())));
        }
        paragraph.clear();
    };
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(heading) = trimmed.strip_prefix("==").and_then(|h| h.strip_suffix("==")) {
            flush(&mut paragraph, &mut blocks);
            blocks.push(format!("<h2>{}</h2>\n", inline(heading.trim_matches('=').trim())));
        } else if trimmed.is_empty() {
            flush(&mut paragraph, &mut blocks);
        } else {
            paragraph.push_str(trimmed);
            paragraph.push(' ');
        }
    }
    flush(&mut paragraph, &mut blocks);
    blocks
}

/// Bold and links inside a block, everything else escaped.
fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut rest = text;
    let mut bold = false;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("'''") {
            out.push_str(if bold { "</b>" } else { "<b>" });
            bold = !bold;
            rest = after;
        } else if let Some((target, after)) = rest.strip_prefix("[[").and_then(|r| r.split_once("]]")) {
            let t = escape(target);
            let _ = write!(out, "<a href=\"/wiki/{t}\">{t}</a>");
            rest = after;
        } else {
            let next = rest.find(['\'', '[']).map_or(rest.len(), |i| i.max(1));
            out.push_str(&escape(&rest[..next]));
            rest = &rest[next..];
        }
    }
    if bold {
        out.push_str("</b>");
    }
    out
}

/// `text` with HTML's special characters escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_headings_paragraphs_bold_and_links() {
        let blocks = render("'''Atlas''' is a [[River_1]] <here>.\n\n== History ==\nIt was '''old'''.\n");
        assert_eq!(
            blocks,
            [
                "<p><b>Atlas</b> is a <a href=\"/wiki/River_1\">River_1</a> &lt;here&gt;.</p>\n",
                "<h2>History</h2>\n",
                "<p>It was <b>old</b>.</p>\n",
            ]
        );
    }

    #[test]
    fn unterminated_markup_is_closed_or_escaped() {
        assert_eq!(render("'''open [[half"), ["<p><b>open [[half</b></p>\n"]);
        assert_eq!(escape("a'b\"<&>"), "a&#39;b&quot;&lt;&amp;&gt;");
    }
}

//! The report as a small document tree, built once and written by each
//! exporter (Markdown, HTML) — hyperfine's one-file-per-format, one trait.

use crate::analyse::verdict::Verdict;
use anyhow::Result;
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub enum Inline {
    Text(String),
    Strong(String),
    Code(String),
    /// Text and a link target (relative to the run directory, or `#anchor`).
    Link(String, String),
    Verdict(Verdict),
}

pub type Line = Vec<Inline>;

pub fn plain(s: impl Into<String>) -> Inline {
    Inline::Text(s.into())
}

pub fn text(s: impl Into<String>) -> Line {
    vec![Inline::Text(s.into())]
}

/// Text in which `backticked` parts are code.
pub fn rich(s: &str) -> Line {
    s.split('`')
        .enumerate()
        .filter(|(_, part)| !part.is_empty())
        .map(|(i, part)| {
            if i % 2 == 1 {
                Inline::Code(part.to_string())
            } else {
                Inline::Text(part.to_string())
            }
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Heading {
        level: u8,
        text: String,
        id: String,
    },
    Para(Line),
    Quote(Line),
    Bullets(Vec<Line>),
    Table {
        head: Vec<String>,
        rows: Vec<Vec<Line>>,
    },
    /// A plot: `plots/<name>.svg|png`.
    Figure {
        name: String,
        title: String,
        caption: String,
    },
    /// Collapsed in HTML, a plain list in Markdown.
    Details {
        summary: String,
        blocks: Vec<Block>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    pub title: String,
    pub blocks: Vec<Block>,
}

/// One output format.
pub trait Exporter {
    fn file_name(&self) -> &'static str;
    fn export(&self, doc: &Doc, run_dir: &Path) -> Result<String>;
}

/// An anchor id from a heading: lowercase letters, digits and '-'.
pub fn anchor(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn rich_text_marks_code() {
        use super::Inline::*;
        assert_eq!(
            super::rich("a `m` b"),
            vec![Text("a ".into()), Code("m".into()), Text(" b".into())]
        );
    }

    #[test]
    fn anchors() {
        assert_eq!(super::anchor("C1 — Go's runtime"), "c1-go-s-runtime");
    }
}

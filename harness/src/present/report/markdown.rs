//! `report.md`: GitHub-flavoured Markdown, plots as PNG images linking to
//! their SVG.

use super::doc::{Block, Doc, Exporter, Inline, Line};
use anyhow::Result;
use std::path::Path;

pub struct Markdown;

pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '|' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '#') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn line(l: &Line) -> String {
    l.iter()
        .map(|i| match i {
            Inline::Text(t) => esc(t),
            // CommonMark: no space just inside the closing `**`.
            Inline::Strong(t) => format!("**{}**{}", esc(t.trim_end()), &t[t.trim_end().len()..]),
            Inline::Code(t) => format!("`{}`", t.replace('`', "'")),
            Inline::Link(t, href) => format!("[{}]({})", esc(t), href),
            Inline::Verdict(v) => format!("**{}**", v.word()),
        })
        .collect::<String>()
        .replace('\n', " ")
}

fn block(b: &Block, out: &mut String) {
    match b {
        Block::Heading { level, text, id } => {
            out.push_str(&format!(
                "<a id=\"{id}\"></a>\n{} {}\n\n",
                "#".repeat(*level as usize),
                esc(text)
            ));
        }
        Block::Para(l) => out.push_str(&format!("{}\n\n", line(l))),
        Block::Quote(l) => out.push_str(&format!("> {}\n\n", line(l))),
        Block::Bullets(items) => {
            for i in items {
                out.push_str(&format!("- {}\n", line(i)));
            }
            out.push('\n');
        }
        Block::Table { head, rows } => {
            out.push_str(&format!(
                "| {} |\n",
                head.iter().map(|h| esc(h)).collect::<Vec<_>>().join(" | ")
            ));
            out.push_str(&format!("|{}\n", "---|".repeat(head.len())));
            for r in rows {
                out.push_str(&format!(
                    "| {} |\n",
                    r.iter().map(line).collect::<Vec<_>>().join(" | ")
                ));
            }
            out.push('\n');
        }
        Block::Figure {
            name,
            title,
            caption,
        } => {
            out.push_str(&format!(
                "<a id=\"plot-{}\"></a>\n[![{}](plots/{name}.png)](plots/{name}.svg)\n\n*{}* {}\n\n",
                super::doc::anchor(name),
                esc(title),
                esc(title),
                esc(caption)
            ));
        }
        Block::Details { summary, blocks } => {
            out.push_str(&format!("**{}**\n\n", esc(summary)));
            for b in blocks {
                block(b, out);
            }
        }
    }
}

impl Exporter for Markdown {
    fn file_name(&self) -> &'static str {
        "report.md"
    }
    fn export(&self, doc: &Doc, _run_dir: &Path) -> Result<String> {
        let mut out = format!("# {}\n\n", esc(&doc.title));
        for b in &doc.blocks {
            block(b, &mut out);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyse::verdict::Verdict;

    #[test]
    fn tables_escape_pipes_and_verdicts_are_bold() {
        let doc = Doc {
            title: "t".into(),
            blocks: vec![Block::Table {
                head: vec!["a".into(), "b".into()],
                rows: vec![vec![
                    vec![Inline::Text("x|y".into())],
                    vec![Inline::Verdict(Verdict::Mixed)],
                ]],
            }],
        };
        let md = Markdown.export(&doc, Path::new(".")).unwrap();
        assert!(md.contains("| x\\|y | **mixed** |"), "{md}");
    }
}

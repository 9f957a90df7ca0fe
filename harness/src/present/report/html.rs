//! `report.html`: one self-contained file — styles inline, every plot's SVG
//! inline, no script, nothing fetched from the network.

use super::doc::{Block, Doc, Exporter, Inline, Line, anchor};
use crate::analyse::verdict::Verdict;
use anyhow::Result;
use std::path::Path;

pub struct Html;

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn badge(v: Verdict) -> String {
    format!("<span class=\"verdict {w}\">{w}</span>", w = v.word())
}

fn line(l: &Line) -> String {
    l.iter()
        .map(|i| match i {
            Inline::Text(t) => esc(t),
            Inline::Strong(t) => format!("<strong>{}</strong>", esc(t)),
            Inline::Code(t) => format!("<code>{}</code>", esc(t)),
            Inline::Link(t, href) => format!("<a href=\"{}\">{}</a>", esc(href), esc(t)),
            Inline::Verdict(v) => badge(*v),
        })
        .collect()
}

/// The SVG file's markup, without an XML declaration, ready to inline.
fn inline_svg(run_dir: &Path, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(run_dir.join(format!("plots/{name}.svg"))).ok()?;
    let start = text.find("<svg")?;
    Some(text[start..].to_string())
}

fn block(b: &Block, run_dir: &Path, out: &mut String) {
    match b {
        Block::Heading { level, text, id } => out.push_str(&format!(
            "<h{level} id=\"{}\">{}</h{level}>\n",
            esc(id),
            esc(text)
        )),
        Block::Para(l) => out.push_str(&format!("<p>{}</p>\n", line(l))),
        Block::Quote(l) => out.push_str(&format!("<blockquote>{}</blockquote>\n", line(l))),
        Block::Bullets(items) => {
            out.push_str("<ul>\n");
            for i in items {
                out.push_str(&format!("<li>{}</li>\n", line(i)));
            }
            out.push_str("</ul>\n");
        }
        Block::Table { head, rows } => {
            out.push_str("<div class=\"scroll\"><table>\n<thead><tr>");
            for h in head {
                out.push_str(&format!("<th>{}</th>", esc(h)));
            }
            out.push_str("</tr></thead>\n<tbody>\n");
            for r in rows {
                out.push_str("<tr>");
                for c in r {
                    out.push_str(&format!("<td>{}</td>", line(c)));
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</tbody></table></div>\n");
        }
        Block::Figure {
            name,
            title,
            caption,
        } => {
            let svg = inline_svg(run_dir, name).unwrap_or_else(|| {
                format!(
                    "<p class=\"missing\">plot file plots/{}.svg is missing</p>",
                    esc(name)
                )
            });
            out.push_str(&format!(
                "<figure id=\"plot-{}\">{svg}<figcaption><strong>{}</strong> {} <a href=\"plots/{n}.svg\">SVG</a> · <a href=\"plots/{n}.png\">PNG</a></figcaption></figure>\n",
                anchor(name),
                esc(title),
                esc(caption),
                n = esc(name)
            ));
        }
        Block::Details { summary, blocks } => {
            out.push_str(&format!("<details><summary>{}</summary>\n", esc(summary)));
            for b in blocks {
                block(b, run_dir, out);
            }
            out.push_str("</details>\n");
        }
    }
}

const STYLE: &str = r#"
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; max-width: 1180px; margin: 2em auto; padding: 0 1em; color: #1d1d1d; line-height: 1.45; }
h1 { font-size: 1.7em; } h2 { margin-top: 2.2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; } h3 { margin-top: 1.6em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .92em; }
th, td { border: 1px solid #d4d4d4; padding: .35em .6em; vertical-align: top; text-align: left; }
th { background: #f4f4f4; }
.scroll { overflow-x: auto; }
code { background: #f3f3f3; padding: 0 .25em; border-radius: 3px; font-size: .92em; }
blockquote { margin: .6em 0; padding: .3em 1em; border-left: 4px solid #c8c8c8; color: #333; background: #fafafa; }
figure { margin: 1.2em 0; } figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #333; margin-top: .3em; }
.verdict { display: inline-block; padding: .05em .55em; border-radius: .8em; font-weight: bold; font-size: .9em; white-space: nowrap; }
.supported { background: #d7f2dc; color: #185c25; } .refuted { background: #f8d8d4; color: #8a1c10; }
.mixed { background: #fbe8c2; color: #7a4b00; } .inconclusive { background: #e6e6e6; color: #444; }
details { margin: .8em 0; } summary { cursor: pointer; font-weight: bold; }
.missing { color: #a00; }
"#;

impl Exporter for Html {
    fn file_name(&self) -> &'static str {
        "report.html"
    }
    fn export(&self, doc: &Doc, run_dir: &Path) -> Result<String> {
        let mut out = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
            esc(&doc.title),
            esc(&doc.title)
        );
        for b in &doc.blocks {
            block(b, run_dir, &mut out);
        }
        out.push_str("</body>\n</html>\n");
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_inlines() {
        let dir = std::env::temp_dir().join(format!("rtc-html-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("plots")).unwrap();
        std::fs::write(
            dir.join("plots/p.svg"),
            "<?xml version=\"1.0\"?>\n<svg viewBox=\"0 0 1 1\"></svg>",
        )
        .unwrap();
        let doc = Doc {
            title: "a<b".into(),
            blocks: vec![
                Block::Para(vec![
                    Inline::Text("x & y".into()),
                    Inline::Verdict(Verdict::Supported),
                ]),
                Block::Figure {
                    name: "p".into(),
                    title: "t".into(),
                    caption: "c".into(),
                },
                Block::Figure {
                    name: "gone".into(),
                    title: "t".into(),
                    caption: "c".into(),
                },
            ],
        };
        let html = Html.export(&doc, &dir).unwrap();
        assert!(html.contains("<title>a&lt;b</title>"));
        assert!(html.contains("x &amp; y<span class=\"verdict supported\">supported</span>"));
        assert!(html.contains("<svg viewBox") && !html.contains("<?xml"));
        assert!(html.contains("plots/gone.svg is missing"));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "self-contained: no network references"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

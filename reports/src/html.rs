//! The offline HTML report: one self-contained page (styles inline, images
//! embedded as data URIs, no script, nothing fetched), every user-supplied
//! string escaped by the template engine.

use base64::Engine as _;
use maud::{DOCTYPE, Markup, html};

/// A block of the page.
pub enum Block {
    Text(String),
    /// Preformatted text (a table or a timeline as the terminal shows it).
    Pre(String),
    List(Vec<String>),
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// A PNG, embedded.
    Image {
        alt: String,
        png: Vec<u8>,
    },
}

/// A titled section.
pub struct Section {
    pub title: String,
    pub blocks: Vec<Block>,
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:80rem;padding:0 1rem;color:#222}\
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}\
th{background:#f4f4f8}pre{font-size:.8rem;background:#fafafa;border:1px solid #eee;padding:.5rem;overflow-x:auto}td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #eee}\
.note{color:#666;font-size:.85rem}.incomplete{background:#fff3cd;padding:.5rem;border:1px solid #e0c97a}";

fn block(b: &Block) -> Markup {
    match b {
        Block::Text(t) => html! { p { (t) } },
        Block::Pre(t) => html! { pre { (t) } },
        Block::List(items) => html! { ul { @for i in items { li { (i) } } } },
        Block::Table { header, rows } => html! {
            table {
                thead { tr { @for h in header { th { (h) } } } }
                tbody { @for r in rows { tr { @for c in r { td { (c) } } } } }
            }
        },
        Block::Image { alt, png } => {
            let src = format!(
                "data:image/png;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(png)
            );
            html! { img src=(src) alt=(alt); }
        }
    }
}

/// The whole page. `incomplete` marks a report whose run was interrupted.
pub fn page(title: &str, subtitle: &str, sections: &[Section], incomplete: bool) -> String {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                h1 { (title) }
                p.note { (subtitle) }
                @if incomplete {
                    p.incomplete { "This report is incomplete: the run was interrupted. Resume it to finish." }
                }
                @for s in sections {
                    h2 { (s.title) }
                    @for b in &s.blocks { (block(b)) }
                }
                p.note { "Made by aviary. Every figure comes from the run's seeds; rerun the command to reproduce it." }
            }
        }
    };
    markup.into_string()
}

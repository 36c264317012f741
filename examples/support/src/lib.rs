//! What the examples' demos and process tests share: the text their word counts read (loci's
//! own guide, bundled with the repository) and a sequential word count written without any of
//! the systems under test, to check their results against.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// Every page of `docs/` (and, with `reference`, of `docs/reference/` too), one after another
/// in name order, each followed by a newline.
pub fn guide_text(reference: bool) -> io::Result<String> {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    let mut dirs = vec![docs.clone()];
    if reference {
        dirs.push(docs.join("reference"));
    }
    let mut pages = Vec::new();
    for dir in dirs {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|ext| ext == "md") {
                pages.push(path);
            }
        }
    }
    pages.sort();
    let mut text = String::new();
    for page in pages {
        text.push_str(&std::fs::read_to_string(page)?);
        text.push('\n');
    }
    Ok(text)
}

/// [`guide_text`] without the reference pages, written to `guide.txt` in `dir` (created if
/// needed): its path and the text.
pub fn write_guide(dir: &Path) -> io::Result<(PathBuf, String)> {
    let text = guide_text(false)?;
    std::fs::create_dir_all(dir)?;
    let path = dir.join("guide.txt");
    std::fs::write(&path, &text)?;
    Ok((path, text))
}

/// Counts words one character at a time: maximal runs of alphanumeric characters, lowercased.
pub fn sequential_word_count(text: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    let mut word = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else if !word.is_empty() {
            *counts.entry(std::mem::take(&mut word)).or_insert(0) += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_runs_of_alphanumerics_lowercased() {
        let counts = sequential_word_count("Loci, loci: QUIC-quic 2x!");
        assert_eq!(counts, BTreeMap::from([("loci".into(), 2), ("quic".into(), 2), ("2x".into(), 1)]));
    }
}

/// The page on this crate, compiled as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/example-support.md")]
pub struct Guide;

//! Incremental re-parsing gives exactly the tree and the diagnostics of a full parse: random
//! chains of edits of real files, each edit re-parsed through a `ParseCache` and compared with
//! `syntax::parse` of the same text.
#![allow(clippy::unwrap_used)]

use oaas_compiler::syntax::{parse, ParseCache, Reuse};
use oaas_compiler::FileId;
use oaas_tests::mutate::{apply, config, mutation, Mutation, SEEDS};
use proptest::prelude::*;
/// Applies the edits one after another, checking the cached parse after each. Returns how
/// many were re-parsed the short way.
fn check_chain(seed: usize, edits: &[Mutation]) -> Result<usize, TestCaseError> {
    let file = FileId(1);
    let mut cache = ParseCache::default();
    let mut text = SEEDS[seed].to_string();
    let mut incremental = 0;
    cache.parse(file, "seed.oaas", &text);
    for edit in edits {
        text = apply(&text, edit);
        let (cached, reuse) = cache.parse(file, "seed.oaas", &text);
        let full = parse(file, &text);
        prop_assert_eq!(&cached.ast, &full.ast, "tree after {:?}", edit);
        prop_assert_eq!(
            &cached.diagnostics,
            &full.diagnostics,
            "diagnostics after {:?}",
            edit
        );
        incremental += usize::from(reuse == Reuse::Incremental);
    }
    Ok(incremental)
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn cached_parses_equal_full_parses(
        seed in 0..SEEDS.len(),
        edits in prop::collection::vec(mutation(), 1..10),
    ) {
        check_chain(seed, &edits)?;
    }
}

/// The property must not hold only because every edit fell back to a full parse: renaming
/// one word of a seed, at 39 places in each, mostly keeps the file well formed and mostly
/// lands inside a declaration.
#[test]
fn renames_inside_declarations_take_the_short_way() {
    let mut taken = 0;
    for seed in 0..SEEDS.len() {
        for i in 1..40 {
            let rename = Mutation::Rename(f64::from(i) / 40.0, format!("w{i}"));
            taken += check_chain(seed, &[rename]).unwrap();
        }
    }
    // Renames of keywords, of `package` and `use` lines, or of names in a seed with an
    // error somewhere else parse in full.
    assert!(
        taken >= 250,
        "only {taken} of 312 renames were re-parsed incrementally"
    );
}

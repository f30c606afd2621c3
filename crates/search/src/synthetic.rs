//! Made-up text for benchmarks and the scale demo: a seedable generator, a Zipf
//! distribution, and pseudo-words made of syllables. Real posts draw their words the same
//! way (a few very common, most rare), which is what search and its benchmarks care about.

use std::collections::HashSet;

/// The generator and the Zipf distribution are fanz-core's, shared with the ledger's
/// benchmark and the clusters' art.
pub use fanz_core::sample::{SplitMix64 as Rng, Zipf};

pub fn vocabulary(rng: &mut Rng, n: usize) -> Vec<String> {
    const ONSETS: [&str; 29] = [
        "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
        "br", "ch", "cl", "dr", "fl", "gr", "pl", "sh", "st", "th", "tr",
    ];
    const VOWELS: [&str; 9] = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "y"];
    const CODAS: [&str; 10] = ["", "", "n", "r", "s", "t", "l", "x", "ck", "ng"];
    let mut seen = HashSet::new();
    let mut words = Vec::with_capacity(n);
    while words.len() < n {
        let syllables = 1 + rng.below(4);
        let mut w = String::new();
        for _ in 0..syllables {
            w.push_str(ONSETS[rng.below(ONSETS.len())]);
            w.push_str(VOWELS[rng.below(VOWELS.len())]);
            if rng.chance(0.4) {
                w.push_str(CODAS[rng.below(CODAS.len())]);
            }
        }
        if w.len() >= 2 && seen.insert(w.clone()) {
            words.push(w);
        }
    }
    words
}

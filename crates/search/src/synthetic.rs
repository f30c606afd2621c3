//! Made-up text for benchmarks and the scale demo: a seedable generator, a Zipf
//! distribution, and pseudo-words made of syllables. Real posts draw their words the same
//! way (a few very common, most rare), which is what search and its benchmarks care about.

use std::collections::HashSet;

/// splitmix64: fast, seedable, and no dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// Draws ranks 0..n with probability ∝ 1/(rank+1).
pub struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize) -> Self {
        let mut total = 0.0;
        let cumulative = (1..=n)
            .map(|r| {
                total += 1.0 / r as f64;
                total
            })
            .collect();
        Zipf { cumulative }
    }

    pub fn draw(&self, rng: &mut Rng) -> usize {
        let x =
            (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * self.cumulative.last().unwrap();
        self.cumulative
            .partition_point(|&c| c < x)
            .min(self.cumulative.len() - 1)
    }
}

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

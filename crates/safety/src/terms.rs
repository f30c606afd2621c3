//! Banned terms: matched as whole words, case-insensitively. Text is split into words at
//! every character that is not a letter or digit; a term matches a run of consecutive words
//! whose letters, joined, spell it, so "under age", "under-age", "#underage" and
//! "U N D E R A G E" all match the term "underage" (or "under age"), while "grape" does not
//! match "rape" and "therapist" matches nothing.

use fanz_clusters::Clusters;
use std::collections::HashMap;

/// One list of terms.
#[derive(Debug, Clone, Default)]
pub struct Terms {
    /// (the term as configured, its letters joined and lower-cased)
    terms: Vec<(String, String)>,
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .collect()
}

impl Terms {
    pub fn new<S: AsRef<str>>(list: impl IntoIterator<Item = S>) -> Self {
        let mut terms: Vec<(String, String)> = list
            .into_iter()
            .map(|t| {
                let t = t.as_ref().trim().to_owned();
                let joined = words(&t).concat();
                (t, joined)
            })
            .filter(|(_, j)| !j.is_empty())
            .collect();
        terms.sort_by(|a, b| a.1.cmp(&b.1));
        terms.dedup_by(|a, b| a.1 == b.1);
        Terms { terms }
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The first term (as configured) that `text` contains, if any.
    pub fn find(&self, text: &str) -> Option<&str> {
        let words = words(text);
        for (term, joined) in &self.terms {
            for start in 0..words.len() {
                let mut spelled = String::new();
                for w in &words[start..] {
                    spelled.push_str(w);
                    if spelled.len() >= joined.len() || !joined.starts_with(spelled.as_str()) {
                        break;
                    }
                }
                if spelled == *joined {
                    return Some(term);
                }
            }
        }
        None
    }
}

/// The banned terms of every cluster: the platform's list plus the cluster's own.
#[derive(Debug, Clone, Default)]
pub struct Banned {
    platform: Terms,
    clusters: HashMap<String, Terms>,
}

impl Banned {
    pub fn new(platform: &[String], clusters: &Clusters) -> Self {
        Banned {
            platform: Terms::new(platform),
            clusters: clusters
                .all()
                .iter()
                .map(|c| {
                    let list = platform.iter().chain(c.policy.banned_terms.iter());
                    (c.slug.clone(), Terms::new(list))
                })
                .collect(),
        }
    }

    /// The list of `cluster` (the platform's for an unknown one).
    pub fn for_cluster(&self, cluster: &str) -> &Terms {
        self.clusters.get(cluster).unwrap_or(&self.platform)
    }
}

#[cfg(test)]
mod tests {
    use super::Terms;

    #[test]
    fn whole_words_any_case_any_separator() {
        let t = Terms::new(["underage", "Blood Play", "rape", "  "]);
        assert_eq!(t.find("UNDERAGE fun"), Some("underage"));
        assert_eq!(t.find("she is under-age"), Some("underage"));
        assert_eq!(t.find("#under_age #new"), Some("underage"));
        assert_eq!(t.find("u n d e r a g e"), Some("underage"));
        assert_eq!(t.find("bloodplay tonight"), Some("Blood Play"));
        assert_eq!(t.find("blood, play"), Some("Blood Play"));
        assert_eq!(t.find("a grape and a therapist"), None);
        assert_eq!(t.find("rapeseed oil"), None);
        assert_eq!(t.find("blood orange, play time"), None);
        assert_eq!(t.find("Rape."), Some("rape"));
        assert_eq!(t.find(""), None);
        assert!(Terms::new(Vec::<String>::new()).is_empty());
    }
}

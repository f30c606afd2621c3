//! A disjunction that is cheap to seek.
//!
//! tantivy's `BooleanQuery` of `Should` clauses scores through a buffered union: it fills a
//! window of 4,096 documents from every clause at a time, which is fast to iterate but makes
//! every seek past the window cost all the clauses' documents in the next window. Intersected
//! with a rarer term or a filter, such a union is seeked at every candidate, and a common word
//! or a prefix expanded to ten words then read most of its postings (BENCHMARKS.md, "Search
//! index"). [`SeekUnion`] keeps each clause's own cursor instead: a seek is a skip-list seek per
//! clause, and the score is the sum of the clauses on the document, as a `Should` union's is.

use tantivy::query::{EmptyScorer, EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED};

/// Matches documents any clause matches; scores them with the sum of the matching clauses.
#[derive(Debug)]
pub(crate) struct SeekUnion {
    clauses: Vec<Box<dyn Query>>,
}

impl Clone for SeekUnion {
    fn clone(&self) -> Self {
        SeekUnion {
            clauses: self.clauses.iter().map(|q| q.box_clone()).collect(),
        }
    }
}

impl SeekUnion {
    pub(crate) fn new(clauses: Vec<Box<dyn Query>>) -> Self {
        SeekUnion { clauses }
    }
}

impl Query for SeekUnion {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let weights = self
            .clauses
            .iter()
            .map(|q| q.weight(enable_scoring))
            .collect::<tantivy::Result<Vec<_>>>()?;
        Ok(Box::new(SeekUnionWeight { weights }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a tantivy::Term, bool)) {
        for q in &self.clauses {
            q.query_terms(visitor);
        }
    }
}

struct SeekUnionWeight {
    weights: Vec<Box<dyn Weight>>,
}

impl Weight for SeekUnionWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let mut scorers = Vec::with_capacity(self.weights.len());
        for w in &self.weights {
            let s = w.scorer(reader, boost)?;
            if s.doc() != TERMINATED {
                scorers.push(s);
            }
        }
        Ok(match scorers.len() {
            0 => Box::new(EmptyScorer),
            1 => scorers.pop().expect("one scorer"),
            _ => {
                let mut union = SeekUnionScorer { scorers, doc: 0 };
                union.doc = union.min_doc();
                Box::new(union)
            }
        })
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(tantivy::TantivyError::InvalidArgument(format!(
                "document {doc} does not match"
            )));
        }
        Ok(Explanation::new(
            "sum of the matching clauses",
            scorer.score(),
        ))
    }
}

struct SeekUnionScorer {
    scorers: Vec<Box<dyn Scorer>>,
    doc: DocId,
}

impl SeekUnionScorer {
    fn min_doc(&self) -> DocId {
        self.scorers
            .iter()
            .map(|s| s.doc())
            .min()
            .unwrap_or(TERMINATED)
    }
}

impl DocSet for SeekUnionScorer {
    fn advance(&mut self) -> DocId {
        let doc = self.doc;
        for s in &mut self.scorers {
            if s.doc() == doc {
                s.advance();
            }
        }
        self.scorers.retain(|s| s.doc() != TERMINATED);
        self.doc = self.min_doc();
        self.doc
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc >= target {
            return self.doc;
        }
        for s in &mut self.scorers {
            if s.doc() < target {
                s.seek(target);
            }
        }
        self.scorers.retain(|s| s.doc() != TERMINATED);
        self.doc = self.min_doc();
        self.doc
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.scorers
            .iter()
            .map(|s| s.size_hint())
            .fold(0u32, u32::saturating_add)
    }
}

impl Scorer for SeekUnionScorer {
    fn score(&mut self) -> Score {
        let doc = self.doc;
        self.scorers
            .iter_mut()
            .filter(|s| s.doc() == doc)
            .map(|s| s.score())
            .sum()
    }
}

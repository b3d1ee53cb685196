//! What an aggregator knows of one child between status calls: its last
//! status, whether it is up, and the tables acknowledged ingests told of
//! since.
//!
//! Two sources describe a child's tables: the status call (every second)
//! and each acknowledged ingest (one table, at once). A status call sent
//! before an ingest can be answered after it, and answered with the older
//! state; so tables absorbed after a call was sent are kept and laid over
//! its answer, and of two views of a table the one with more rows or more
//! columns wins (rows only grow between status calls, except when blocks
//! expire, which the next call shows).
//!
//! Status calls to a child never overlap ([`crate::fleet::Fleet::refresh`]
//! runs one round at a time), so answers come in the order they were asked.
//!
//! A child is down at once when a call fails (refused, reset), but only
//! after [`MISSES_BEFORE_DOWN`] status calls in a row time out, so one slow
//! answer on a busy machine does not take a healthy child out of routing.

use std::collections::BTreeMap;

use shoal_proto::{LeafStatus, TableStatus};

/// Status calls in a row that may time out before a child counts as down.
pub const MISSES_BEFORE_DOWN: u32 = 2;

/// See the module docs.
#[derive(Debug, Default, Clone)]
pub struct ChildState {
    pub status: Option<LeafStatus>,
    pub up: bool,
    /// Status calls in a row that timed out.
    misses: u32,
    /// Ingests absorbed so far; a status call notes it when sent.
    absorbed: u64,
    /// The last view of each table absorbed, with the value of `absorbed`
    /// it got.
    recent: BTreeMap<String, (u64, TableStatus)>,
    /// Whether a status call has answered (`status` may hold only tables
    /// absorbed before the first answer).
    answered_once: bool,
}

impl ChildState {
    /// What to note when sending a status call.
    pub fn absorbed(&self) -> u64 {
        self.absorbed
    }

    /// The child answered a status call sent when `absorbed` was
    /// `sent_at`; returns whether it was down before.
    pub fn answered(&mut self, mut status: LeafStatus, sent_at: u64) -> bool {
        self.recent.retain(|_, (number, _)| *number > sent_at);
        for (_, table) in self.recent.values() {
            lay_over(&mut status, table.clone());
        }
        self.status = Some(status);
        self.answered_once = true;
        self.misses = 0;
        !std::mem::replace(&mut self.up, true)
    }

    /// Whether a status call has ever answered.
    pub fn has_answered(&self) -> bool {
        self.answered_once
    }

    /// A status call failed; returns whether the child was up before.
    pub fn failed(&mut self) -> bool {
        self.misses = 0;
        std::mem::replace(&mut self.up, false)
    }

    /// A status call timed out; returns whether this made the child down.
    pub fn missed(&mut self) -> bool {
        self.misses += 1;
        let down = self.up && self.misses >= MISSES_BEFORE_DOWN;
        if down {
            self.up = false;
        }
        down
    }

    /// Takes in what an acknowledged ingest said of one table.
    pub fn absorb(&mut self, table: TableStatus) {
        self.absorbed += 1;
        // Two acknowledgements can come in either order: keep the newer view.
        match self.recent.get_mut(&table.name) {
            Some((number, known)) => {
                *number = self.absorbed;
                if is_newer(&table, known) {
                    *known = table.clone();
                }
            }
            None => {
                let entry = (self.absorbed, table.clone());
                self.recent.insert(table.name.clone(), entry);
            }
        }
        lay_over(self.status.get_or_insert_with(LeafStatus::default), table);
    }
}

/// Whether `table` is a newer view than `known`: rows only grow between
/// status calls, and columns are only added.
fn is_newer(table: &TableStatus, known: &TableStatus) -> bool {
    table.rows > known.rows || table.columns.len() > known.columns.len()
}

/// Puts `table` into `status`, unless `status` has a newer view of it.
fn lay_over(status: &mut LeafStatus, table: TableStatus) {
    match status.tables.iter_mut().find(|t| t.name == table.name) {
        Some(known) => {
            if is_newer(&table, known) {
                // An ingest acknowledgement carries no time spans: the
                // known ones stand until the next status call.
                let spans = std::mem::take(&mut known.spans);
                *known = table;
                if known.spans.is_empty() {
                    known.spans = spans;
                }
            }
        }
        None => status.tables.push(table),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, rows: u64) -> TableStatus {
        TableStatus {
            name: name.to_string(),
            rows,
            ..Default::default()
        }
    }

    fn status(tables: Vec<TableStatus>) -> LeafStatus {
        LeafStatus {
            tables,
            ..Default::default()
        }
    }

    fn rows(state: &ChildState, name: &str) -> Option<u64> {
        let tables = &state.status.as_ref()?.tables;
        tables.iter().find(|t| t.name == name).map(|t| t.rows)
    }

    #[test]
    fn an_answer_older_than_an_ingest_does_not_undo_it() {
        let mut state = ChildState::default();
        // Before the first status call answers, an ingest is known at once.
        state.absorb(table("fresh", 10));
        assert_eq!(rows(&state, "fresh"), Some(10));
        assert!(!state.has_answered());

        let sent_at = state.absorbed();
        state.absorb(table("fresh", 25));
        state.absorb(table("other", 3));
        // The call was answered before those ingests: it lacks them.
        // Acknowledged out of order: the older view comes in last.
        state.absorb(table("fresh", 20));
        assert!(state.answered(status(vec![table("fresh", 10)]), sent_at));
        assert_eq!(rows(&state, "fresh"), Some(25));
        assert_eq!(rows(&state, "other"), Some(3));

        // A call sent after them answers for itself.
        let sent_at = state.absorbed();
        assert!(!state.answered(status(vec![table("fresh", 40)]), sent_at));
        assert_eq!(rows(&state, "fresh"), Some(40));
        assert_eq!(rows(&state, "other"), None);
    }

    #[test]
    fn one_slow_answer_does_not_take_a_child_down_but_a_failure_does() {
        let mut state = ChildState::default();
        state.answered(status(vec![]), 0);
        assert!(!state.missed());
        assert!(state.up);
        assert!(state.missed());
        assert!(!state.up);
        state.answered(status(vec![]), 0);
        assert!(state.failed());
        assert!(!state.up);
    }
}

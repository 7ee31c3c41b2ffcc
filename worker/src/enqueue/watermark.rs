//! The low-water mark of one target's listing: the highest key such that it and every key
//! before it (in listing order) is settled, i.e. has a confirmed job or was skipped by the
//! filter. Confirms are pipelined and arrive in any order, so the mark is not the last key
//! sent: it stops below the oldest publish still waiting for its confirm.
//!
//! Resuming a listing *after* the mark misses no object. What it repeats is at most the
//! publishes made after the mark that was last saved ([`Watermark::unsaved`]); the enqueue
//! loop keeps that number under its window, which bounds the duplicates of a crash. A save
//! takes a [`SaveToken`] of the mark it writes and, once the file is durable, hands it back
//! ([`Watermark::saved`]): the mark may move on while the file is being written.

use std::collections::VecDeque;

/// One publish not yet under the mark.
#[derive(Debug)]
struct Entry {
    key: String,
    confirmed: bool,
    /// The last key skipped after this one and before the next publish: when this entry goes
    /// under the mark, so do those skips.
    skipped_after: Option<String>,
}

/// The mark and the publishes above it, in listing order.
#[derive(Debug)]
pub struct Watermark {
    /// Sequence number of `pending[0]`.
    base: u64,
    /// Publishes from the oldest unconfirmed one on (later ones may be confirmed already).
    pending: VecDeque<Entry>,
    mark: Option<String>,
    /// Publishes that went under the mark in this run.
    covered: u64,
    /// Times the mark moved in this run.
    moves: u64,
    /// `covered` and `moves` as of the last durable save.
    saved: SaveToken,
}

/// The state of a mark as one save writes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaveToken {
    covered: u64,
    moves: u64,
}

impl Watermark {
    /// A mark starting at `start` (the key a listing starts after; `None`: the beginning).
    pub fn new(start: Option<String>) -> Self {
        Watermark {
            base: 0,
            pending: VecDeque::new(),
            mark: start,
            covered: 0,
            moves: 0,
            saved: SaveToken::default(),
        }
    }

    /// `key` (the next in listing order) is being published; returns its sequence number for
    /// [`Watermark::confirm`].
    pub fn publish(&mut self, key: String) -> u64 {
        let seq = self.base + self.pending.len() as u64;
        self.pending.push_back(Entry {
            key,
            confirmed: false,
            skipped_after: None,
        });
        seq
    }

    /// `key` (the next in listing order) needs no job.
    pub fn skip(&mut self, key: String) {
        match self.pending.back_mut() {
            Some(last) => last.skipped_after = Some(key),
            None => {
                self.mark = Some(key);
                self.moves += 1;
            }
        }
    }

    /// The job published as `seq` is confirmed; the mark moves up over every settled entry.
    /// A `seq` that is not waiting (never issued, or confirmed twice) changes nothing.
    pub fn confirm(&mut self, seq: u64) {
        let Some(i) = seq
            .checked_sub(self.base)
            .and_then(|i| usize::try_from(i).ok())
        else {
            return;
        };
        if let Some(e) = self.pending.get_mut(i) {
            e.confirmed = true;
        }
        while self.pending.front().is_some_and(|e| e.confirmed) {
            let e = self.pending.pop_front().expect("front exists");
            self.mark = Some(e.skipped_after.unwrap_or(e.key));
            self.base += 1;
            self.covered += 1;
            self.moves += 1;
        }
    }

    /// The mark: every key up to and including it is settled (`None`: nothing yet, from the
    /// beginning).
    pub fn mark(&self) -> Option<&str> {
        self.mark.as_deref()
    }

    /// Publishes under the mark, in this run.
    pub fn covered(&self) -> u64 {
        self.covered
    }

    /// Publishes above the mark (waiting, or confirmed out of order).
    pub fn above(&self) -> usize {
        self.pending.len()
    }

    /// Publishes made after the last saved mark: what a crash now could publish twice once
    /// resumed from the saved checkpoint.
    pub fn unsaved(&self) -> u64 {
        self.pending.len() as u64 + self.unsaved_covered()
    }

    /// Publishes that went under the mark since the last save.
    pub fn unsaved_covered(&self) -> u64 {
        self.covered - self.saved.covered
    }

    /// Whether the mark moved since the last save.
    pub fn dirty(&self) -> bool {
        self.moves != self.saved.moves
    }

    /// The mark as it stands, for a save of [`Watermark::mark`] to hand back when durable.
    pub fn token(&self) -> SaveToken {
        SaveToken {
            covered: self.covered,
            moves: self.moves,
        }
    }

    /// The mark of `token` is durable (an older token than the last one changes nothing).
    pub fn saved(&mut self, token: SaveToken) {
        if token.moves >= self.saved.moves {
            self.saved = token;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_waits_for_the_oldest_unconfirmed_publish_not_the_last_one_sent() {
        let mut w = Watermark::new(None);
        let a = w.publish("a".into());
        let b = w.publish("b".into());
        let c = w.publish("c".into());
        // The last key sent is `c`, and it is confirmed first: the mark must not move.
        w.confirm(c);
        assert_eq!(w.mark(), None);
        w.confirm(a);
        assert_eq!(w.mark(), Some("a"));
        assert_eq!(w.above(), 2);
        w.confirm(b);
        assert_eq!(w.mark(), Some("c"));
        assert_eq!((w.covered(), w.above()), (3, 0));
    }

    #[test]
    fn skipped_keys_go_under_the_mark_with_the_publish_before_them() {
        let mut w = Watermark::new(Some("start".into()));
        w.skip("s1".into()); // nothing waiting: settled at once
        assert_eq!(w.mark(), Some("s1"));
        let a = w.publish("a".into());
        w.skip("a1".into());
        w.skip("a2".into());
        let b = w.publish("b".into());
        w.skip("b1".into());
        w.confirm(b);
        assert_eq!(w.mark(), Some("s1"), "`a` is still waiting");
        w.confirm(a);
        assert_eq!(w.mark(), Some("b1"));
        w.skip("z".into());
        assert_eq!(w.mark(), Some("z"));
        assert_eq!(w.covered(), 2);
    }

    /// Every order of confirms over a run: the mark is always the longest settled prefix.
    #[test]
    fn any_confirm_order_gives_the_longest_confirmed_prefix() {
        let keys: Vec<String> = (0..6).map(|i| format!("k{i}")).collect();
        // A few fixed permutations, including fully reversed and interleaved.
        let orders: [[usize; 6]; 5] = [
            [0, 1, 2, 3, 4, 5],
            [5, 4, 3, 2, 1, 0],
            [1, 0, 3, 2, 5, 4],
            [2, 5, 0, 4, 1, 3],
            [0, 5, 1, 4, 2, 3],
        ];
        for order in orders {
            let mut w = Watermark::new(None);
            let seqs: Vec<u64> = keys.iter().map(|k| w.publish(k.clone())).collect();
            let mut done = [false; 6];
            for &i in &order {
                w.confirm(seqs[i]);
                done[i] = true;
                let prefix = done.iter().take_while(|d| **d).count();
                let expected = prefix.checked_sub(1).map(|p| keys[p].as_str());
                assert_eq!(w.mark(), expected, "{order:?} after {i}");
            }
        }
    }

    #[test]
    fn unsaved_counts_every_publish_after_the_saved_mark() {
        let mut w = Watermark::new(None);
        let a = w.publish("a".into());
        let b = w.publish("b".into());
        assert_eq!(w.unsaved(), 2);
        w.confirm(a);
        assert_eq!((w.unsaved(), w.unsaved_covered(), w.dirty()), (2, 1, true));
        let t = w.token();
        w.saved(t);
        assert_eq!((w.unsaved(), w.dirty()), (1, false));
        // A save starts, the mark moves on while it is written: what it saved is less.
        let t = w.token();
        w.confirm(b);
        w.confirm(b); // twice: no effect
        w.confirm(99); // never issued: no effect
        w.saved(t);
        assert_eq!((w.unsaved(), w.covered(), w.dirty()), (1, 2, true));
        let newer = w.token();
        w.saved(newer);
        w.saved(t); // an older save finishing late changes nothing
        assert_eq!((w.unsaved(), w.dirty()), (0, false));
    }
}

//! The two work lanes. A job's lane is the queue it arrived on, never anything in its body:
//! bulk work (backfills, `enqueue`) on the jobs queue, urgent work (bucket notifications,
//! `enqueue --priority`) on the priority queue. Both share the one OCR domain; when a slot
//! frees, a waiting priority job goes first, and bulk keeps a floor of the domain's slots
//! while priority work waits ([`bulk_floor_slots`]).

use std::fmt;

/// Which work queue a job came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lane {
    /// The jobs queue: backfills and anything enqueued without `--priority`.
    Bulk,
    /// The priority queue: onboarding uploads (bucket notifications), `enqueue --priority`.
    Priority,
}

impl Lane {
    /// Both lanes, bulk first (the order of metric label initialisation and status rows).
    pub const ALL: [Lane; 2] = [Lane::Bulk, Lane::Priority];

    /// The `lane` label value and the word used in logs and on the status page.
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Bulk => "bulk",
            Lane::Priority => "priority",
        }
    }

    /// Index into per-lane arrays (`[bulk, priority]`).
    pub fn index(self) -> usize {
        match self {
            Lane::Bulk => 0,
            Lane::Priority => 1,
        }
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The domain's bulk floor in OCR slots: `min_share` of `domain_slots`, rounded up so any
/// floor above zero keeps at least one slot (10 % of 8 slots is 1), never the whole domain
/// unless `min_share` is 1.
pub fn domain_bulk_floor(min_share: f64, domain_slots: u32) -> u32 {
    if min_share.is_nan() || min_share <= 0.0 || domain_slots == 0 {
        return 0;
    }
    let want = (min_share.min(1.0) * f64::from(domain_slots) - 1e-9).ceil() as u32;
    want.clamp(1, domain_slots)
}

/// The bulk floor of the replica at `rank` of `replicas`, in slots: the domain's floor
/// ([`domain_bulk_floor`]) dealt out one slot at a time from rank 0, as the concurrency shares
/// are, so the replicas' floors add up to the domain's (a floor of 1 slot over 3 replicas is
/// 1 + 0 + 0: a share of the *domain*, not one slot per replica).
///
/// Below a floor of the whole domain, a replica's floor always leaves it one slot for
/// priority work: a rank's part is at most its share of the domain's slots less one, and what
/// a rank cannot hold goes to the next ranks that can. (8 slots over 8 replicas can hold no
/// floor at all: each replica's one slot serves priority first.) The part is also capped at
/// `share_slots`, the share this replica applies now.
pub fn bulk_floor_slots(
    min_share: f64,
    domain_slots: u32,
    replicas: u32,
    rank: u32,
    share_slots: u32,
) -> u32 {
    let n = replicas.max(1);
    let whole = min_share >= 1.0;
    let room = |r: u32| {
        let share = domain_slots / n + u32::from(r < domain_slots % n);
        if whole {
            share
        } else {
            share.saturating_sub(1)
        }
    };
    let mut left = domain_bulk_floor(min_share, domain_slots);
    let mut dealt = vec![0u32; n as usize];
    while left > 0 {
        let mut progressed = false;
        for r in 0..n {
            if left > 0 && dealt[r as usize] < room(r) {
                dealt[r as usize] += 1;
                left -= 1;
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    dealt
        .get(rank as usize)
        .copied()
        .unwrap_or(0)
        .min(share_slots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_is_a_share_of_the_domain_not_of_each_replica() {
        assert_eq!(domain_bulk_floor(0.10, 8), 1);
        assert_eq!(domain_bulk_floor(0.10, 40), 4);
        assert_eq!(domain_bulk_floor(0.25, 8), 2);
        assert_eq!(domain_bulk_floor(0.0, 8), 0);
        assert_eq!(domain_bulk_floor(1.0, 8), 8);
        assert_eq!(domain_bulk_floor(f64::NAN, 8), 0);
        // 1 slot over 3 replicas: one of them holds it.
        let floors: Vec<u32> = (0..3).map(|r| bulk_floor_slots(0.10, 8, 3, r, 3)).collect();
        assert_eq!(floors, [1, 0, 0]);
        // 4 slots over 3 replicas of 14/13/13 slots.
        let floors: Vec<u32> = (0..3)
            .map(|r| bulk_floor_slots(0.10, 40, 3, r, 13))
            .collect();
        assert_eq!(floors.iter().sum::<u32>(), 4);
        assert_eq!(bulk_floor_slots(0.10, 8, 1, 0, 8), 1);
        assert_eq!(bulk_floor_slots(0.10, 8, 1, 0, 0), 0, "no share, no floor");
        // A replica keeps one slot for priority: 8 slots over 8 replicas hold no floor.
        assert!((0..8).all(|r| bulk_floor_slots(0.10, 8, 8, r, 1) == 0));
        // 3 slots over 2 replicas (2 + 1), floor 2 (0.5): rank 0 can hold 1, rank 1 none.
        let floors: Vec<u32> = (0..2).map(|r| bulk_floor_slots(0.5, 3, 2, r, 2)).collect();
        assert_eq!(floors, [1, 0]);
        // A floor of the whole domain is the whole share.
        assert_eq!(bulk_floor_slots(1.0, 8, 2, 1, 4), 4);
        // More replicas than slots: the ranks without a slot hold nothing.
        let floors: Vec<u32> = (0..5).map(|r| bulk_floor_slots(0.25, 4, 5, r, 1)).collect();
        assert_eq!(floors, [0, 0, 0, 0, 0]);
        let floors: Vec<u32> = (0..2).map(|r| bulk_floor_slots(0.25, 8, 2, r, 4)).collect();
        assert_eq!(floors, [1, 1]);
    }
}

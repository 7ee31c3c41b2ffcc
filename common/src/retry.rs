//! The retry policy: what one finished job attempt turns into. One pure function,
//! [`decide`], so the rule lives in one place and is table-tested.
//!
//! The rule (ARCHITECTURE.md, "Outcome table" and "Attempts are paid OCR calls"):
//! - a result is published;
//! - an error about this job is dead-lettered with its own kind;
//! - a configuration error stops consumption;
//! - a transient error is retried through the broker's delay stages until the job has made
//!   [`RetryPolicy::max_attempts`] *paid* OCR calls; then it is dead-lettered as
//!   [`JobError::RetriesExhausted`], which is built here and nowhere else;
//! - a wait for the domain's quota ([`Disposition::is_quota_wait`]) is always delayed and
//!   never counts as a retry: a job is never dead-lettered because the domain was busy.
//!
//! Broker retries (how many delay stages a job has been through) only choose the next stage;
//! they never exhaust a job, so a job whose calls never reach the OCR service (the object
//! store down, the endpoint unreachable) waits in the last stage until they do.

use std::time::Duration;

use crate::failure::{Disposition, JobError};

/// The knobs of the retry rule, parsed once from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Paid OCR calls a job may make before it is dead-lettered as `retries_exhausted`.
    pub max_attempts: u32,
    /// The broker delay stages, in order; the last one repeats. Never empty once validated.
    pub delays: Vec<Duration>,
}

impl RetryPolicy {
    /// Whether a job that has made `attempts` paid calls may make another one.
    pub fn may_call_again(&self, attempts: u32) -> bool {
        attempts < self.max_attempts
    }

    /// The delay stage for a job that has been through `retries` stages already.
    pub fn stage(&self, retries: u32) -> Option<Duration> {
        let last = self.delays.len().checked_sub(1)?;
        self.delays
            .get(usize::try_from(retries).unwrap_or(usize::MAX).min(last))
            .copied()
    }
}

/// How the broker says a delivery has been handed out before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returns {
    /// A first delivery.
    None,
    /// A quorum queue's `x-delivery-count`: how many times the broker took this message back
    /// unsettled (a crash, a lost session or connection, a nack-requeue).
    Counted(u32),
    /// A classic queue only sets `redelivered`: returned at least once, count unknown.
    AtLeastOnce,
}

impl Returns {
    /// Read the broker's two signs: `x-delivery-count` (0 when absent) wins, the flag alone
    /// means at least one.
    pub fn from_broker(delivery_count: u32, redelivered: bool) -> Returns {
        match delivery_count {
            n if n > 0 => Returns::Counted(n),
            _ if redelivered => Returns::AtLeastOnce,
            _ => Returns::None,
        }
    }

    /// How many returns this stands for, at least.
    pub fn count(self) -> u32 {
        match self {
            Returns::None => 0,
            Returns::Counted(n) => n,
            Returns::AtLeastOnce => 1,
        }
    }

    /// The returns left to charge once `free` of them are known to have paid nothing: the
    /// process itself gave the delivery back before any OCR call (it was waiting for a slot
    /// or an image place when its session ended). Only a count can be reduced: a classic
    /// queue's flag says "at least one" and may hide a paid return behind a free one, so it
    /// stays as it is.
    pub fn less_free(self, free: u32) -> Returns {
        match self {
            Returns::Counted(n) if free >= n => Returns::None,
            Returns::Counted(n) => Returns::Counted(n - free),
            other => other,
        }
    }
}

/// The paid OCR calls to charge a delivery with before it makes any (issue 12, defect 6).
///
/// `carried` is the count a delayed copy carries in its headers; it is only ever written when
/// an outcome is published, so a delivery that made a call and then lost its session (a
/// crash, a dropped connection) before its outcome was confirmed comes back with the old
/// count. Every return is therefore charged as one paid call: the worker cannot tell a return
/// after a call from one before it, and charging the return keeps the bound. A job makes at
/// most `max_attempts` paid calls on a quorum queue, whatever the crashes, because each call
/// is counted either in the copy's header (an outcome was published) or by the broker (it was
/// not). The price is a retry lost to a return that paid nothing (deliveries still buffered
/// at a crash), unless the process that gave it back still knows it paid nothing
/// ([`Returns::less_free`]); the broker's `x-delivery-limit` counts those returns the same way.
///
/// On a classic queue the broker only says "redelivered", so a redelivery is charged one
/// call however often it happened: a job crashing the worker on every delivery pays up to
/// `max_attempts - carried - 1` calls per redelivery, without bound in the number of them
/// (classic queues have no delivery limit either). README.md, "Delivery guarantees", states
/// both bounds.
pub fn charged_attempts(carried: u32, returns: Returns) -> u32 {
    carried.saturating_add(returns.count())
}

/// What to do with a delivery once its attempt is over.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision<T> {
    /// Publish the result.
    Publish(T),
    /// Publish a dead letter for `error`.
    DeadLetter {
        /// Why the job failed for good.
        error: JobError,
        /// Paid OCR calls made for the job over all its deliveries.
        attempts: u32,
    },
    /// Publish a copy to a delay stage; it comes back to the work queue after `stage`.
    Delay {
        /// How long the copy waits.
        stage: Duration,
        /// Paid OCR calls so far, carried in the copy's headers.
        attempts: u32,
        /// Delay stages the copy will have been through, carried in its headers.
        retries: u32,
        /// What made the job wait (for logs, metrics, and `ocr-worker process`).
        error: JobError,
    },
    /// Stop consuming and leave the job queued: the error would hit every job.
    Stop {
        /// The configuration error.
        error: JobError,
    },
}

/// Decide what `outcome` turns into for a job that has made `attempts` paid OCR calls (this
/// delivery included) and been through `retries` delay stages.
pub fn decide<T>(
    outcome: Result<T, JobError>,
    attempts: u32,
    retries: u32,
    policy: &RetryPolicy,
) -> Decision<T> {
    let error = match outcome {
        Ok(result) => return Decision::Publish(result),
        Err(error) => error,
    };
    let disposition = error.disposition();
    match disposition {
        Disposition::DeadLetter(_) => Decision::DeadLetter { error, attempts },
        Disposition::Stop => Decision::Stop { error },
        Disposition::Retry { .. } | Disposition::RateLimited { .. } | Disposition::PauseQuota => {
            let quota_wait = disposition.is_quota_wait();
            let stage = policy.stage(retries);
            match stage {
                Some(stage) if quota_wait || policy.may_call_again(attempts) => Decision::Delay {
                    stage,
                    attempts,
                    // A quota wait is not a failed try: it does not move the job on a stage.
                    retries: if quota_wait {
                        retries
                    } else {
                        retries.saturating_add(1)
                    },
                    error,
                },
                _ => Decision::DeadLetter {
                    error: JobError::RetriesExhausted {
                        attempts,
                        last: Box::new(error),
                    },
                    attempts,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::ErrorKind;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            delays: vec![Duration::from_secs(5), Duration::from_secs(30)],
        }
    }

    fn provider(code: &str) -> JobError {
        JobError::Provider {
            http_status: if code.starts_with('0') && code < "0500" {
                400
            } else {
                500
            },
            code: crate::failure::ProviderCode::parse(code),
            message: String::new(),
            retry_after: None,
        }
    }

    /// What each row must turn into, in words that read like the outcome table.
    #[derive(Debug, PartialEq)]
    enum Want {
        Publish,
        Dead(ErrorKind),
        Delay { stage_secs: u64, retries: u32 },
        Stop,
    }

    fn run(outcome: Result<(), JobError>, attempts: u32, retries: u32) -> Want {
        match decide(outcome, attempts, retries, &policy()) {
            Decision::Publish(()) => Want::Publish,
            Decision::DeadLetter { error, attempts: a } => {
                assert_eq!(a, attempts, "attempts are carried unchanged");
                if let JobError::RetriesExhausted {
                    attempts: inner, ..
                } = &error
                {
                    assert_eq!(*inner, attempts);
                }
                Want::Dead(error.kind())
            }
            Decision::Delay {
                stage,
                attempts: a,
                retries,
                ..
            } => {
                assert_eq!(a, attempts);
                Want::Delay {
                    stage_secs: stage.as_secs(),
                    retries,
                }
            }
            Decision::Stop { .. } => Want::Stop,
        }
    }

    #[test]
    fn only_counted_returns_are_forgiven_and_never_more_than_there_were() {
        assert_eq!(Returns::Counted(3).less_free(1), Returns::Counted(2));
        assert_eq!(Returns::Counted(3).less_free(3), Returns::None);
        assert_eq!(Returns::Counted(2).less_free(7), Returns::None);
        assert_eq!(Returns::Counted(2).less_free(0), Returns::Counted(2));
        assert_eq!(Returns::AtLeastOnce.less_free(5), Returns::AtLeastOnce);
        assert_eq!(Returns::None.less_free(1), Returns::None);
    }

    /// Returns that paid nothing, forgiven, do not use the budget; paid ones still stop the
    /// job at it, however they are interleaved.
    #[test]
    fn forgiven_returns_keep_the_budget_for_paid_calls() {
        let policy = RetryPolicy {
            max_attempts: 3,
            delays: vec![Duration::from_secs(1)],
        };
        // Each delivery: either it waits and its session dies before its call (a free
        // return, known to the process), or it pays and its session dies before the outcome.
        for pattern in [0b0000_u32, 0b1010, 0b0110_1101, 0b0111_1111] {
            let (mut returns, mut free, mut paid) = (0, 0, 0);
            for step in 0..40 {
                let charged = charged_attempts(
                    0,
                    Returns::from_broker(returns, returns > 0).less_free(free),
                );
                if !policy.may_call_again(charged) {
                    break;
                }
                if pattern >> (step % 8) & 1 == 1 {
                    free += 1; // gave back before the call
                } else {
                    paid += 1; // billed, then the session dies before the outcome
                }
                returns += 1;
            }
            assert_eq!(paid, 3, "pattern {pattern:#b}");
        }
    }

    #[test]
    fn every_return_is_charged_as_a_paid_call() {
        assert_eq!(charged_attempts(2, Returns::None), 2);
        assert_eq!(charged_attempts(2, Returns::Counted(3)), 5);
        assert_eq!(charged_attempts(0, Returns::AtLeastOnce), 1);
        assert_eq!(charged_attempts(u32::MAX, Returns::Counted(1)), u32::MAX);
        assert_eq!(Returns::from_broker(2, true), Returns::Counted(2));
        assert_eq!(Returns::from_broker(0, true), Returns::AtLeastOnce);
        // A quorum queue's first delivery has no header (or 0) and no flag.
        assert_eq!(Returns::from_broker(0, false), Returns::None);
    }

    /// Calls counted by header or by the broker never exceed the budget: a job that pays on
    /// every delivery and loses its session before each outcome stops calling at the limit.
    #[test]
    fn crashes_after_each_call_stop_at_the_budget() {
        let policy = RetryPolicy {
            max_attempts: 3,
            delays: vec![Duration::from_secs(1)],
        };
        let mut returns = 0;
        let mut paid = 0;
        loop {
            let charged = charged_attempts(0, Returns::from_broker(returns, returns > 0));
            if !policy.may_call_again(charged) {
                break;
            }
            paid += 1; // the call is billed, then the session dies before the outcome
            returns += 1;
            assert!(returns < 100);
        }
        assert_eq!(paid, 3);
    }

    #[test]
    fn the_outcome_table() {
        use ErrorKind::*;
        /// Name, outcome, paid attempts, broker retries, expected decision.
        type Row = (&'static str, Result<(), JobError>, u32, u32, Want);
        let table: Vec<Row> = vec![
            ("success", Ok(()), 1, 0, Want::Publish),
            (
                "dead letter of its kind",
                Err(JobError::Unrecognized),
                1,
                0,
                Want::Dead(OcrUnrecognized),
            ),
            (
                "0011 is this image's fault",
                Err(provider("0011")),
                1,
                0,
                Want::Dead(OcrRejected),
            ),
            ("0002 stops", Err(provider("0002")), 0, 0, Want::Stop),
            (
                "transient, first stage",
                Err(provider("0501")),
                1,
                0,
                Want::Delay {
                    stage_secs: 5,
                    retries: 1,
                },
            ),
            (
                "transient, second stage",
                Err(provider("0500")),
                2,
                1,
                Want::Delay {
                    stage_secs: 30,
                    retries: 2,
                },
            ),
            (
                "the last stage repeats",
                Err(JobError::StorageTransient("503".into())),
                0,
                7,
                Want::Delay {
                    stage_secs: 30,
                    retries: 8,
                },
            ),
            (
                "paid attempts spent",
                Err(provider("0501")),
                3,
                0,
                Want::Dead(RetriesExhausted),
            ),
            (
                "deadline with the attempts spent",
                Err(JobError::DeadlineExceeded),
                4,
                2,
                Want::Dead(RetriesExhausted),
            ),
            // Broker retries never exhaust a job (the rule in ARCHITECTURE.md); before this
            // policy the consumer dead-lettered here.
            (
                "many broker retries, no paid call",
                Err(JobError::StorageTransient("503".into())),
                0,
                3,
                Want::Delay {
                    stage_secs: 30,
                    retries: 4,
                },
            ),
            (
                "0025 is a quota wait: no stage consumed",
                Err(provider("0025")),
                1,
                1,
                Want::Delay {
                    stage_secs: 30,
                    retries: 1,
                },
            ),
            (
                "waiting for the limiter past the deadline is a quota wait",
                Err(JobError::QuotaWaitPastDeadline),
                5,
                1,
                Want::Delay {
                    stage_secs: 30,
                    retries: 1,
                },
            ),
            (
                "a quota wait never exhausts, even past max_attempts",
                Err(JobError::QuotaPausedPastDeadline),
                5,
                0,
                Want::Delay {
                    stage_secs: 5,
                    retries: 0,
                },
            ),
        ];
        for (name, outcome, attempts, retries, want) in table {
            assert_eq!(run(outcome, attempts, retries), want, "{name}");
        }
    }

    #[test]
    fn without_stages_a_transient_error_is_exhausted() {
        let p = RetryPolicy {
            max_attempts: 3,
            delays: Vec::new(),
        };
        let d = decide::<()>(Err(JobError::OcrTimeout), 1, 0, &p);
        assert!(matches!(
            d,
            Decision::DeadLetter {
                error: JobError::RetriesExhausted { attempts: 1, .. },
                attempts: 1
            }
        ));
    }

    #[test]
    fn may_call_again_counts_paid_calls() {
        let p = policy();
        assert!(p.may_call_again(2));
        assert!(!p.may_call_again(3));
        assert_eq!(p.stage(0), Some(Duration::from_secs(5)));
        assert_eq!(p.stage(u32::MAX), Some(Duration::from_secs(30)));
    }
}

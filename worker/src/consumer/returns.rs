//! Deliveries this process gave back to the broker without a paid OCR call.
//!
//! Every return of a delivery is charged as a paid call (`ocr_common::retry::charged_attempts`),
//! because a worker that crashed cannot say whether it had called. A worker whose *session*
//! ended can: a job waiting for an OCR slot or an image place when its broker session died
//! never called. This process remembers such returns, per message, so that when the broker
//! hands the message back the charge counts only the returns that may have paid
//! (`Returns::less_free`). A crash forgets them, which only charges more. Without this, a
//! job returned a few times while it waited (sessions lost to node restarts on a cluster) was
//! dead-lettered as `retries_exhausted` with fewer calls than its budget, possibly after an
//! earlier delivery's result had reached its queue: a result and a dead letter under one
//! `message_id`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lapin::message::Delivery;

use crate::amqp::{self, ATTEMPTS_HEADER, PUBLISH_ID_HEADER, RETRIES_HEADER};

/// Messages remembered at once; the oldest is forgotten first (it is then charged in full).
const CAPACITY: usize = 4096;
/// How long a free return is remembered: a message given back after a lost session comes
/// back within seconds to minutes, and one that another replica settled meanwhile should not
/// hold a place for long.
const RETENTION: Duration = Duration::from_secs(15 * 60);

/// One message on its queue, the same across its returns and no other: the publish id
/// (unique per publish) that the worker gives every copy it publishes and `ocr-worker
/// enqueue` every job, with the outcome `message_id` and the counts the copy carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessageKey(String);

impl MessageKey {
    /// The key of `delivery`, whose outcome goes out under `message_id`. None without a
    /// publish id (a job from another producer, a bucket event): two such messages can look
    /// the same, and a return of one must never be forgiven to the other, so their returns
    /// are all charged.
    pub fn of(delivery: &Delivery, message_id: &str) -> Option<MessageKey> {
        let props = &delivery.properties;
        let publish_id = amqp::header_str(props, PUBLISH_ID_HEADER)?;
        Some(MessageKey(format!(
            "{publish_id}\u{0}{message_id}\u{0}{}\u{0}{}",
            amqp::header_u32(props, ATTEMPTS_HEADER),
            amqp::header_u32(props, RETRIES_HEADER),
        )))
    }
}

/// Free returns per message, shared by every session of the process.
#[derive(Debug, Default)]
pub struct FreeReturns {
    inner: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    /// Free returns per message, and when the last one was recorded.
    free: HashMap<MessageKey, (u32, Instant)>,
    order: VecDeque<MessageKey>,
}

impl FreeReturns {
    /// Returns of `key` this process knows paid nothing.
    pub fn free(&self, key: &MessageKey) -> u32 {
        self.free_at(key, Instant::now())
    }

    fn free_at(&self, key: &MessageKey, now: Instant) -> u32 {
        match self.lock().free.get(key) {
            Some((n, at)) if now.saturating_duration_since(*at) <= RETENTION => *n,
            _ => 0,
        }
    }

    /// `key` was given back to the broker without a paid call.
    fn record(&self, key: MessageKey) {
        let mut c = self.lock();
        let now = Instant::now();
        if let Some((n, at)) = c.free.get_mut(&key) {
            // An expired count starts again: its returns are charged in full.
            *n = if now.saturating_duration_since(*at) <= RETENTION {
                n.saturating_add(1)
            } else {
                1
            };
            *at = now;
            return;
        }
        while c.order.len() >= CAPACITY {
            if let Some(old) = c.order.pop_front() {
                c.free.remove(&old);
            }
        }
        c.order.push_back(key.clone());
        c.free.insert(key, (1, now));
    }

    /// `key` is settled (acked): it will not come back.
    fn forget(&self, key: &MessageKey) {
        let mut c = self.lock();
        if c.free.remove(key).is_some() {
            c.order.retain(|k| k != key);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A delivery's paid calls, from its charge on arrival. Dropped without [`Charge::settled`]
/// (its session ended, or it was nacked back) and with no call made since arrival, it
/// records a free return of its message.
pub struct Charge {
    returns: Arc<FreeReturns>,
    /// Taken by [`Charge::settled`]: a settled delivery has nothing left to record.
    key: Option<MessageKey>,
    on_arrival: u32,
    /// Paid calls so far, this delivery's and the ones charged on arrival.
    pub attempts: AtomicU32,
}

impl Charge {
    /// Start counting from `on_arrival` paid calls.
    pub fn new(returns: Arc<FreeReturns>, key: Option<MessageKey>, on_arrival: u32) -> Charge {
        Charge {
            returns,
            key,
            on_arrival,
            attempts: AtomicU32::new(on_arrival),
        }
    }

    /// The delivery was acked: nothing to remember, and what was remembered is done with.
    pub fn settled(mut self) {
        if let Some(key) = self.key.take() {
            self.returns.forget(&key);
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if let Some(key) = self.key.take()
            && self.attempts.load(Ordering::Acquire) == self.on_arrival
        {
            self.returns.record(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: usize) -> MessageKey {
        MessageKey(format!("job-{n}\u{0}\u{0}0\u{0}0"))
    }

    #[test]
    fn only_a_delivery_that_made_no_call_and_was_not_settled_is_free() {
        let returns = Arc::new(FreeReturns::default());
        // Given back while it waited: free.
        drop(Charge::new(returns.clone(), Some(key(1)), 2));
        assert_eq!(returns.free(&key(1)), 1);
        // Given back after a call: not free.
        let paid = Charge::new(returns.clone(), Some(key(1)), 2);
        paid.attempts.fetch_add(1, Ordering::AcqRel);
        drop(paid);
        assert_eq!(returns.free(&key(1)), 1);
        // Given back again while it waited: two free returns.
        drop(Charge::new(returns.clone(), Some(key(1)), 3));
        assert_eq!(returns.free(&key(1)), 2);
        // Settled: forgotten, whatever it paid.
        Charge::new(returns.clone(), Some(key(1)), 3).settled();
        assert_eq!(returns.free(&key(1)), 0);
        assert_eq!(returns.free(&key(2)), 0);
        // Without a key (no publish id) nothing is remembered.
        drop(Charge::new(returns.clone(), None, 0));
        assert!(returns.lock().free.is_empty());
    }

    #[test]
    fn a_free_return_is_forgotten_after_the_retention() {
        let returns = Arc::new(FreeReturns::default());
        drop(Charge::new(returns.clone(), Some(key(1)), 0));
        let now = Instant::now();
        assert_eq!(returns.free_at(&key(1), now), 1);
        assert_eq!(
            returns.free_at(&key(1), now + RETENTION + Duration::from_secs(1)),
            0
        );
    }

    #[test]
    fn the_oldest_message_is_forgotten_first() {
        let returns = Arc::new(FreeReturns::default());
        for n in 0..=CAPACITY {
            drop(Charge::new(returns.clone(), Some(key(n)), 0));
        }
        assert_eq!(returns.free(&key(0)), 0, "the oldest went");
        assert_eq!(returns.free(&key(1)), 1);
        assert_eq!(returns.free(&key(CAPACITY)), 1);
        assert_eq!(returns.lock().order.len(), CAPACITY);
    }
}

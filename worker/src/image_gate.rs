//! How many fetched images a process holds at once (issue 15, memory).
//!
//! A job fetches its image before it waits for an OCR slot, so without a bound a process
//! holds every delivery of its prefetch in memory at once: with `OCR_PREFETCH=32` and 5 MB
//! scans, 160 MB of images (twice that counting request bodies) while only the OCR share's
//! worth of them can be sent. The gate lets a bulk job fetch only while fewer than its
//! limit are held; deliveries beyond it wait, acked by nobody and not fetched yet.
//!
//! The limit follows the process's OCR share: [`OcrLimiter`](crate::limiter::OcrLimiter) sets
//! it to the share's slots plus a read-ahead of as many again ([`images_for_share`]), so the
//! next image is in hand when a slot frees. With the default prefetch (twice the share) the
//! gate never binds. Priority jobs pass without a hold: waiting here behind the backfill's
//! images would add an OCR call's latency to onboarding; they hold at most the priority
//! consumer's own prefetch.
//!
//! Waiting for a hold is a wait for quota (the job deadline does not run meanwhile).

use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Images a process with `slots` OCR slots may hold: the slots plus a read-ahead of as many
/// again. Without a share, none: its consumer is cancelled, and what it already holds waits
/// here unfetched until it has a share again (it would wait for a slot anyway).
pub fn images_for_share(slots: u32) -> u32 {
    slots.saturating_mul(2)
}

/// The bound on images held. Resizable: [`ImageGate::set_limit`] adds holds at once and
/// retires extra ones as they are returned.
#[derive(Debug)]
pub struct ImageGate {
    holds: Arc<Semaphore>,
    /// `(holds in circulation, limit)`.
    state: Mutex<(u32, u32)>,
}

/// One fetched image's place; returned (or retired, after a shrink) on drop.
#[derive(Debug)]
pub struct ImageHold {
    permit: Option<OwnedSemaphorePermit>,
    gate: Arc<ImageGate>,
}

impl ImageGate {
    /// A gate holding at most `limit` images.
    pub fn new(limit: u32) -> Arc<ImageGate> {
        Arc::new(ImageGate {
            holds: Arc::new(Semaphore::new(limit as usize)),
            state: Mutex::new((limit, limit)),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, (u32, u32)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hold at most `limit` images from now on: more at once, fewer as holds come back.
    pub fn set_limit(&self, limit: u32) {
        let mut state = self.state();
        let (capacity, _) = *state;
        state.1 = limit;
        if capacity < limit {
            self.holds.add_permits((limit - capacity) as usize);
            state.0 = limit;
            return;
        }
        while state.0 > limit {
            match self.holds.try_acquire() {
                Ok(p) => {
                    p.forget();
                    state.0 -= 1;
                }
                // The rest are held: retired when they are returned.
                Err(_) => break,
            }
        }
    }

    #[cfg(test)]
    fn limit(&self) -> u32 {
        self.state().1
    }

    #[cfg(test)]
    fn held(&self) -> u32 {
        let (capacity, _) = *self.state();
        capacity.saturating_sub(self.holds.available_permits() as u32)
    }

    /// Wait for a place for one more image (FIFO among waiters).
    pub async fn hold(self: &Arc<Self>) -> ImageHold {
        let permit = Arc::clone(&self.holds)
            .acquire_owned()
            .await
            .expect("the gate's semaphore is never closed");
        ImageHold {
            permit: Some(permit),
            gate: Arc::clone(self),
        }
    }
}

impl Drop for ImageHold {
    fn drop(&mut self) {
        let Some(p) = self.permit.take() else {
            return;
        };
        let mut state = self.gate.state();
        if state.0 > state.1 {
            state.0 -= 1;
            p.forget();
        } else {
            drop(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn holds_at_most_the_limit_and_follows_it() {
        let gate = ImageGate::new(2);
        let a = gate.hold().await;
        let b = gate.hold().await;
        assert_eq!(gate.held(), 2);
        let third = tokio::spawn({
            let gate = gate.clone();
            async move { gate.hold().await }
        });
        tokio::task::yield_now().await;
        assert!(!third.is_finished(), "a third image while two are held");
        drop(a);
        let c = tokio::time::timeout(Duration::from_secs(5), third)
            .await
            .expect("a returned hold lets the next image in")
            .unwrap();
        // Shrink to 1 with 2 held: both returns are needed before another may come in.
        gate.set_limit(1);
        drop(b);
        assert_eq!(gate.held(), 1);
        assert!(gate.holds.try_acquire().is_err(), "retired, not returned");
        drop(c);
        assert_eq!(gate.held(), 0);
        let d = gate.hold().await;
        assert!(gate.holds.try_acquire().is_err(), "limit 1");
        gate.set_limit(3);
        let (e, f) = (gate.hold().await, gate.hold().await);
        assert_eq!((gate.held(), gate.limit()), (3, 3));
        drop((d, e, f));
    }

    #[test]
    fn a_share_and_a_read_ahead() {
        assert_eq!(images_for_share(8), 16);
        assert_eq!(images_for_share(1), 2);
        assert_eq!(images_for_share(0), 0);
    }
}

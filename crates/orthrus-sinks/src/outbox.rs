//! A sink's bounded queue, shared between the center (which fills it) and the sender (which
//! drains it): the oldest message goes first when it is full, and every drop is counted.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

pub struct Outbox {
    queue: Mutex<VecDeque<String>>,
    capacity: usize,
    dropped: AtomicU64,
}

impl Outbox {
    pub fn new(capacity: usize) -> Self {
        Self { queue: Mutex::new(VecDeque::new()), capacity: capacity.max(1), dropped: AtomicU64::new(0) }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<String>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a message, dropping (and counting) the oldest when full.
    pub fn push(&self, message: String) {
        let mut queue = self.queue();
        if queue.len() >= self.capacity {
            queue.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        queue.push_back(message);
    }

    /// The oldest waiting message, taken out.
    pub fn pop(&self) -> Option<String> {
        self.queue().pop_front()
    }

    /// A message that could not be sent goes back to the front; if the queue filled meanwhile,
    /// it is the oldest, so it is the one dropped.
    pub fn put_back(&self, message: String) {
        let mut queue = self.queue();
        if queue.len() >= self.capacity {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            queue.push_front(message);
        }
    }

    pub fn len(&self) -> usize {
        self.queue().len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue().is_empty()
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_goes_first_and_a_message_put_back_keeps_its_place() {
        let outbox = Outbox::new(2);
        outbox.push("a".into());
        outbox.push("b".into());
        let first = outbox.pop().unwrap();
        outbox.put_back(first);
        assert_eq!(outbox.pop().as_deref(), Some("a"));
        outbox.push("c".into());
        outbox.push("d".into());
        assert_eq!((outbox.len(), outbox.dropped()), (2, 1));
        assert_eq!(outbox.pop().as_deref(), Some("c"));
        // Full again while "c" was out: "c" is the oldest, so it is dropped.
        outbox.push("e".into());
        outbox.put_back("c".into());
        assert_eq!((outbox.len(), outbox.dropped()), (2, 2));
        assert_eq!(outbox.pop().as_deref(), Some("d"));
    }
}

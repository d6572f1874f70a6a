//! The read buffer: bytes received but not yet handed to Lua.
//!
//! A window `start..end` over an initialized `Vec`, so reads land in place
//! without zeroing on every call; space is reclaimed by moving the window
//! back to the front only when the tail is too small for a useful read.

/// Smallest read worth a syscall; below this the window is compacted.
const MIN_READ: usize = 1024;
/// First allocation: small, so that many idle connections stay cheap; a
/// buffer that fills up doubles (bulk transfers quickly reach 64 KiB+).
const FIRST_SIZE: usize = 4096;
/// A drained buffer larger than this is freed (after a large `"a"` read).
const KEEP_SIZE: usize = 256 * 1024;
/// How many drained buffers a thread keeps for its next reads, and the
/// largest kept (see [`POOL`]).
const POOL_LEN: usize = 16;
const POOL_MAX: usize = 64 * 1024;

thread_local! {
    /// Buffers given back by streams about to wait. A busy connection
    /// waits between every request and the next; taking its buffer from
    /// here instead of the allocator saves a `malloc`, a `free` and the
    /// zeroing of the whole buffer (4 KiB for TCP, 17 KiB for TLS) on
    /// every wait, while idle connections still hold no buffer. At most
    /// `POOL_LEN` buffers of up to `POOL_MAX` bytes stay here.
    static POOL: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Keeps `data` in the pool, or frees it.
fn give_back(data: Vec<u8>) {
    if data.is_empty() || data.len() > POOL_MAX {
        return;
    }
    // `try_with`: a buffer dropped while the thread exits has no pool.
    let _ = POOL.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            if p.len() < POOL_LEN {
                p.push(data);
            }
        }
    });
}

/// A pooled buffer, one of at least `size` bytes if there is one.
fn take_pooled(size: usize) -> Option<Vec<u8>> {
    POOL.try_with(|p| {
        let mut p = p.try_borrow_mut().ok()?;
        let i = p
            .iter()
            .rposition(|b| b.len() >= size)
            .or(p.len().checked_sub(1))?;
        Some(p.swap_remove(i))
    })
    .ok()
    .flatten()
}

impl Drop for ReadBuffer {
    /// A closed stream's buffer goes to the next connection.
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.data));
    }
}

#[derive(Default)]
pub(crate) struct ReadBuffer {
    data: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes the last fill brought: small fills mean a quiet connection.
    last_fill: usize,
}

impl ReadBuffer {
    /// The buffered bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    pub(crate) fn len(&self) -> usize {
        self.end - self.start
    }

    /// Drops `n` bytes from the front.
    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.data.len() > KEEP_SIZE {
                self.data = Vec::new();
            }
        }
    }

    /// The stream is about to wait: give back a drained buffer, so idle
    /// connections hold no read buffer at all (one malloc per wake-up on a
    /// quiet connection is cheaper than 4 KiB and more per idle one).
    pub(crate) fn idle(&mut self) {
        // A bulk transfer drains the socket often too; it keeps its buffer
        // while its fills are large.
        if self.start == self.end && !self.data.is_empty() && self.last_fill < FIRST_SIZE {
            give_back(std::mem::take(&mut self.data));
            self.start = 0;
            self.end = 0;
        }
    }

    /// Free space to read into, at least `min` and at least `MIN_READ`
    /// bytes, growing as needed (a transport that hands over whole
    /// units, such as TLS records, asks for one unit; a read waiting for
    /// a count asks for the rest of it).
    pub(crate) fn spare_at_least(&mut self, min: usize) -> &mut [u8] {
        let min = min.max(MIN_READ);
        if self.data.is_empty() {
            if let Some(pooled) = take_pooled(min.max(FIRST_SIZE)) {
                self.data = pooled;
            }
        }
        if self.data.len() - self.end < min {
            if self.start > 0 && self.start >= self.len() {
                // Cheap compaction: less to move than was consumed.
                self.data.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.data.len() - self.end < min {
                let size = (self.data.len() * 2).max(FIRST_SIZE).max(self.end + min);
                self.data.resize(size, 0);
            }
        }
        &mut self.data[self.end..]
    }

    /// Records that `n` bytes were written into [`Self::spare`].
    pub(crate) fn commit(&mut self, n: usize) {
        self.end += n;
        self.last_fill = n;
        debug_assert!(self.end <= self.data.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_consume_compact() {
        let mut b = ReadBuffer::default();
        let s = b.spare_at_least(0);
        s[..5].copy_from_slice(b"hello");
        b.commit(5);
        assert_eq!(b.bytes(), b"hello");
        b.consume(2);
        assert_eq!(b.bytes(), b"llo");
        b.consume(3);
        assert_eq!(b.len(), 0);
        assert!(b.data.len() >= FIRST_SIZE);
    }

    #[test]
    fn drained_buffers_are_reused_not_reallocated() {
        let mut a = ReadBuffer::default();
        a.spare_at_least(16 * 1024)[..3].copy_from_slice(b"abc");
        a.commit(3);
        a.consume(3);
        let at = a.data.as_ptr();
        a.idle();
        assert!(a.data.is_empty(), "an idle stream holds no buffer");
        let mut b = ReadBuffer::default();
        assert!(b.spare_at_least(16 * 1024).len() >= 16 * 1024);
        assert_eq!(b.data.as_ptr(), at, "the pooled buffer is taken");
        assert_eq!(b.len(), 0, "with nothing in it");
        // The pool is bounded.
        let many: Vec<ReadBuffer> = (0..2 * POOL_LEN)
            .map(|_| {
                let mut r = ReadBuffer::default();
                r.spare_at_least(0);
                r.commit(1);
                r.consume(1);
                r
            })
            .collect();
        for mut r in many {
            r.idle();
        }
        assert!(POOL.with(|p| p.borrow().len()) <= POOL_LEN);
    }

    #[test]
    fn grows_when_full() {
        let mut b = ReadBuffer::default();
        let n = b.spare_at_least(0).len();
        b.commit(n);
        let m = b.spare_at_least(0).len();
        assert!(m >= MIN_READ);
        assert_eq!(b.len(), n);
    }
}

//! rustls' unbuffered connection driven over buffers we own.
//!
//! The buffered `rustls::Connection` keeps a record buffer of 4 KiB or
//! more for the life of the connection, and reads from the socket 4 KiB
//! at a time while it assembles a record. Here the received records live
//! in [`Incoming`], which reads up to 64 KiB per call during a bulk
//! transfer and is freed while the connection is idle; records to send
//! live in [`Outgoing`], freed once sent. [`drive`] answers one
//! `process_tls_records` state, and says whether the caller's goal is
//! reached.
//!
//! rustls 0.23 still copies each decrypted record into a `Vec` of its own
//! (`ReadTraffic::next_record` hands out that `Vec`); the plaintext goes
//! from there straight into the caller's buffer when it fits.

use rustls::client::ClientConnectionData;
use rustls::client::UnbufferedClientConnection;
use rustls::server::ServerConnectionData;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncryptError, InsufficientSizeError, UnbufferedStatus,
};
use rustls::CommonState;

/// The rustls connection, either side.
pub(crate) enum Conn {
    Client(UnbufferedClientConnection),
    Server(UnbufferedServerConnection),
}

impl Conn {
    /// Negotiated parameters, peer certificates, handshake state.
    pub(crate) fn common(&self) -> &CommonState {
        match self {
            Conn::Client(c) => c,
            Conn::Server(s) => s,
        }
    }
}

/// First allocation of [`Incoming`]: a handshake flight or a few short
/// messages fit.
const IN_FIRST: usize = 4096;
/// What [`Incoming`] grows to while reads keep filling it (bulk).
const IN_BULK: usize = 256 * 1024;
/// The most [`Incoming`] holds: a 64 KiB handshake message (rustls'
/// own limit) and a full record.
const IN_MAX: usize = IN_BULK + 16 * 1024 + 2048;
/// Smallest free space worth a read.
const IN_MIN_READ: usize = 1024;

/// Received TLS bytes not yet processed: a window `start..end`.
#[derive(Default)]
pub(crate) struct Incoming {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes the last read brought: a large read means a bulk transfer,
    /// which gets (and keeps) a large buffer.
    last_read: usize,
}

impl Incoming {
    /// Starts with `bytes` (STARTTLS: what arrived before TLS started).
    pub(crate) fn with(bytes: Vec<u8>) -> Self {
        let end = bytes.len();
        Self {
            buf: bytes,
            start: 0,
            end,
            last_read: 0,
        }
    }

    /// The bytes rustls has not taken yet.
    pub(crate) fn filled_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.end]
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Whether a whole record (header and body) is waiting here, so more
    /// can be read without the socket.
    pub(crate) fn has_record(&self) -> bool {
        let b = &self.buf[self.start..self.end];
        b.len() >= 5 && b.len() >= 5 + usize::from(u16::from_be_bytes([b[3], b[4]]))
    }

    /// Drops `n` processed bytes from the front.
    pub(crate) fn discard(&mut self, n: usize) {
        self.start += n;
        debug_assert!(self.start <= self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Free space to read into; empty when a message larger than
    /// `IN_MAX` is being assembled.
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        let want = if self.bulk() { IN_BULK } else { IN_FIRST };
        if self.buf.len() - self.end < IN_MIN_READ || self.buf.len() < want {
            // Move the partial record to the front: less than a record.
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let len = self.end;
            if self.buf.len() - len < IN_MIN_READ || self.buf.len() < want {
                let size = (len + IN_MIN_READ).max(want).max(self.buf.len() * 2);
                self.buf.resize(size.min(IN_MAX), 0);
            }
        }
        &mut self.buf[self.end..]
    }

    /// Records that `n` bytes were read into [`Self::spare`].
    pub(crate) fn commit(&mut self, n: usize) {
        self.end += n;
        self.last_read = n;
        debug_assert!(self.end <= self.buf.len());
    }

    /// Whether reads come in bulk: the last one filled a first-size
    /// buffer or more.
    fn bulk(&self) -> bool {
        self.last_read >= IN_FIRST
    }

    /// The connection is about to wait for the socket: with nothing
    /// pending, give the buffer back, unless reads come in bulk (a bulk
    /// transfer drains the socket often too; freeing and zeroing its
    /// buffer each time would cost more than it saves).
    pub(crate) fn idle(&mut self) {
        if self.is_empty() && !self.bulk() {
            self.buf = Vec::new();
        }
    }

    /// Bytes allocated, for tests of what an idle connection holds.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The handshake is over: its buffer goes unless bytes wait in it.
    pub(crate) fn release(&mut self) {
        if self.is_empty() {
            self.buf = Vec::new();
            self.last_read = 0;
        }
    }
}

/// Records to send: `buf[start..]` is pending.
#[derive(Default)]
pub(crate) struct Outgoing {
    buf: Vec<u8>,
    start: usize,
}

/// Pending output that rustls' own send buffer also allowed (64 KiB):
/// past it a write takes nothing until the socket takes some.
pub(crate) const OUT_LIMIT: usize = 64 * 1024;

impl Outgoing {
    pub(crate) fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// `n` bytes were sent.
    pub(crate) fn sent(&mut self, n: usize) {
        self.start += n;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Nothing pending and the connection waits: free the buffer.
    pub(crate) fn idle(&mut self) {
        if self.len() == 0 {
            self.buf = Vec::new();
        }
    }

    /// Appends what `fill` writes into at least `room` free bytes; when
    /// it asks for more (`Err(Some(required))`), retries with that much.
    fn append(
        &mut self,
        mut room: usize,
        mut fill: impl FnMut(&mut [u8]) -> Result<usize, Result<usize, Failure>>,
    ) -> Result<(), Failure> {
        if self.start > 0 && self.start >= self.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        loop {
            let old = self.buf.len();
            self.buf.resize(old + room, 0);
            match fill(&mut self.buf[old..]) {
                Ok(n) => {
                    self.buf.truncate(old + n);
                    return Ok(());
                }
                Err(Ok(required)) if required > room => {
                    self.buf.truncate(old);
                    room = required;
                }
                // rustls asking for no more room than it had: never seen,
                // but a failure of this connection, not a panic.
                Err(Ok(_)) => {
                    self.buf.truncate(old);
                    return Err(Failure::Unexpected("record size"));
                }
                Err(Err(e)) => {
                    self.buf.truncate(old);
                    return Err(e);
                }
            }
        }
    }
}

/// Plaintext taken from rustls that the caller had no room for.
#[derive(Default)]
pub(crate) struct Plain {
    buf: Vec<u8>,
    start: usize,
}

impl Plain {
    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.buf.len()
    }

    /// Moves as much as fits into `out`; frees the buffer once drained.
    pub(crate) fn take(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.buf.len() - self.start);
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        if self.is_empty() {
            self.buf = Vec::new();
            self.start = 0;
        }
        n
    }

    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

/// What the caller of [`drive`] wants done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Goal {
    /// Plaintext into `out`.
    Read,
    /// Progress on the handshake (any plaintext goes to [`Plain`]).
    Handshake,
    /// Encrypt `data` into [`Outgoing`].
    Write,
    /// Queue close_notify.
    Close,
}

/// Why [`drive`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// rustls needs more bytes from the peer (or, after the handshake,
    /// has nothing more to do with what it has).
    NeedInput,
    /// `out` has no room for the next record (some plaintext was given).
    OutFull,
    /// The goal is reached (`Write`: all of `data` encrypted, `Close`:
    /// close_notify queued).
    Done,
    /// Both sides sent close_notify.
    Closed,
}

/// Where [`drive`] puts what it takes and gives.
pub(crate) struct Io<'a> {
    pub(crate) out: &'a mut [u8],
    /// Bytes given into `out` so far.
    pub(crate) got: usize,
    pub(crate) data: &'a [u8],
    pub(crate) outgoing: &'a mut Outgoing,
    pub(crate) plain: &'a mut Plain,
    pub(crate) peer_closed: &'a mut bool,
}

/// What went wrong in [`drive`].
#[derive(Debug)]
pub(crate) enum Failure {
    Tls(rustls::Error),
    /// Sending is over (the write sequence is exhausted).
    Exhausted,
    /// A state this driver does not expect (early data, which no config
    /// of ours enables).
    Unexpected(&'static str),
}

/// Handles one status of `process_tls_records`: `Ok(None)` to call it
/// again, `Ok(Some(stop))` when done. The `discard` it returns must be
/// applied to the incoming buffer either way.
pub(crate) fn drive<Data>(
    status: UnbufferedStatus<'_, '_, Data>,
    goal: Goal,
    io: &mut Io<'_>,
) -> (usize, Result<Option<Stop>, Failure>) {
    let UnbufferedStatus { mut discard, state } = status;
    let state = match state {
        Ok(s) => s,
        Err(e) => return (discard, Err(Failure::Tls(e))),
    };
    let step = match state {
        ConnectionState::ReadTraffic(mut traffic) => loop {
            let Some(len) = traffic.peek_len() else {
                break Ok(None);
            };
            let room = io.out.len() - io.got;
            if goal == Goal::Read && len.get() > room && io.got > 0 {
                // Left in rustls for the next read.
                break Ok(Some(Stop::OutFull));
            }
            let record = match traffic.next_record() {
                Some(Ok(r)) => r,
                Some(Err(e)) => break Err(Failure::Tls(e)),
                None => break Ok(None),
            };
            discard += record.discard;
            let payload = record.payload;
            if goal == Goal::Read {
                let n = payload.len().min(room);
                io.out[io.got..io.got + n].copy_from_slice(&payload[..n]);
                io.got += n;
                io.plain.push(&payload[n..]);
            } else {
                io.plain.push(payload);
            }
        },
        ConnectionState::EncodeTlsData(mut enc) => io
            .outgoing
            .append(4096, |buf| match enc.encode(buf) {
                Ok(n) => Ok(n),
                Err(EncodeError::InsufficientSize(InsufficientSizeError { required_size })) => {
                    Err(Ok(required_size))
                }
                // Encoded already: nothing more to add.
                Err(EncodeError::AlreadyEncoded) => Ok(0),
            })
            .map(|()| None),
        // The records are in `Outgoing`, which the caller flushes in order.
        ConnectionState::TransmitTlsData(t) => {
            t.done();
            Ok(None)
        }
        ConnectionState::BlockedHandshake => Ok(Some(Stop::NeedInput)),
        ConnectionState::PeerClosed => {
            *io.peer_closed = true;
            Ok(None)
        }
        ConnectionState::Closed => {
            *io.peer_closed = true;
            Ok(Some(Stop::Closed))
        }
        ConnectionState::WriteTraffic(mut traffic) => match goal {
            Goal::Read | Goal::Handshake => Ok(Some(Stop::NeedInput)),
            Goal::Write => {
                let data = io.data;
                io.outgoing
                    .append(data.len() + 1024, |buf| match traffic.encrypt(data, buf) {
                        Ok(n) => Ok(n),
                        Err(EncryptError::InsufficientSize(InsufficientSizeError {
                            required_size,
                        })) => Err(Ok(required_size)),
                        Err(EncryptError::EncryptExhausted) => Err(Err(Failure::Exhausted)),
                    })
                    .map(|()| Some(Stop::Done))
            }
            Goal::Close => io
                .outgoing
                .append(1024, |buf| match traffic.queue_close_notify(buf) {
                    Ok(n) => Ok(n),
                    Err(EncryptError::InsufficientSize(InsufficientSizeError {
                        required_size,
                    })) => Err(Ok(required_size)),
                    Err(EncryptError::EncryptExhausted) => Err(Err(Failure::Exhausted)),
                })
                .map(|()| Some(Stop::Done)),
        },
        _ => Err(Failure::Unexpected("early data")),
    };
    (discard, step)
}

/// `process_tls_records` over `incoming` for either side, then [`drive`]
/// on its status.
pub(crate) fn process(
    conn: &mut Conn,
    incoming: &mut Incoming,
    goal: Goal,
    io: &mut Io<'_>,
) -> Result<Option<Stop>, Failure> {
    let (discard, step) = match conn {
        Conn::Client(c) => {
            drive::<ClientConnectionData>(c.process_tls_records(incoming.filled_mut()), goal, io)
        }
        Conn::Server(s) => {
            drive::<ServerConnectionData>(s.process_tls_records(incoming.filled_mut()), goal, io)
        }
    };
    incoming.discard(discard);
    step
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incoming_moves_a_partial_record_to_the_front_and_grows_in_bulk() {
        let mut b = Incoming::default();
        let s = b.spare();
        assert_eq!(s.len(), IN_FIRST);
        s[..6].copy_from_slice(b"abcdef");
        b.commit(IN_FIRST);
        b.discard(IN_FIRST - 2);
        // The last read filled the buffer: the next is a bulk one, and the
        // two unprocessed bytes lead it.
        let len = b.spare().len();
        assert!(len >= IN_BULK - 2, "{len}");
        assert_eq!(b.filled_mut().len(), 2);
        b.discard(2);
        assert!(b.is_empty());
        b.idle();
        assert!(b.capacity() > 0, "a bulk transfer keeps its buffer");
        b.spare();
        b.commit(10);
        b.discard(10);
        b.idle();
        assert_eq!(b.capacity(), 0, "a quiet one gives it back");
    }

    #[test]
    fn incoming_has_a_ceiling() {
        let mut b = Incoming::default();
        loop {
            let n = b.spare().len();
            if n == 0 {
                break;
            }
            b.commit(n);
        }
        assert_eq!(b.filled_mut().len(), IN_MAX);
    }

    #[test]
    fn outgoing_and_plain_free_what_they_hand_over() {
        let mut o = Outgoing::default();
        o.append(4, |buf| {
            if buf.len() < 8 {
                return Err(Ok(8));
            }
            buf[..8].copy_from_slice(b"records!");
            Ok(8)
        })
        .unwrap();
        assert_eq!(o.pending(), b"records!");
        o.sent(3);
        assert_eq!(o.pending(), b"ords!");
        o.sent(5);
        assert_eq!(o.len(), 0);
        o.idle();
        assert_eq!(o.capacity(), 0);

        let mut p = Plain::default();
        p.push(b"plaintext");
        let mut out = [0u8; 5];
        assert_eq!(p.take(&mut out), 5);
        assert_eq!(&out, b"plain");
        assert_eq!(p.take(&mut out), 4);
        assert_eq!(&out[..4], b"text");
        assert!(p.is_empty());
        assert_eq!(p.capacity(), 0);
    }
}

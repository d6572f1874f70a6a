//! The pure-Rust limit of bench/tcp_roundtrip.lua: the same workload, in
//! one process on one thread with one mio poll, written the way a careful
//! Rust program would (edge-triggered readiness, one read buffer and one
//! write buffer per connection, no allocation per round trip).
//!
//! An echo-uppercase server on 127.0.0.1 and CONNS clients, each doing
//! TRIPS round trips of a 64-byte line: write the line, read the reply
//! line, check it. Wall clock over the whole run, connects included.
//!
//! usage: mio-roundtrip [CONNS [TRIPS]]
//! prints: rust roundtrips_per_sec=N conns=C trips=T seconds=S

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::exit;
use std::time::Instant;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(usize::MAX);

/// One end of a connection: bytes read but not yet consumed, bytes to send.
struct Conn {
    sock: TcpStream,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    wpos: usize,
    /// Clients: the line they send, its expected reply, trips left.
    client: Option<Client>,
    /// Registered for writability too: only while output is blocked (or
    /// a client's connect is pending), so that the ordinary round trip
    /// wakes each side once, for the reply.
    want_write: bool,
}

struct Client {
    line: Vec<u8>,
    want: Vec<u8>,
    left: usize,
}

impl Conn {
    fn new(sock: TcpStream, client: Option<Client>) -> Self {
        Self {
            sock,
            rbuf: Vec::with_capacity(4096),
            wbuf: Vec::with_capacity(128),
            wpos: 0,
            want_write: true,
            client,
        }
    }

    /// Sends what is queued; false when the socket is full.
    fn flush(&mut self) -> io::Result<bool> {
        while self.wpos < self.wbuf.len() {
            match self.sock.write(&self.wbuf[self.wpos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.wbuf.clear();
        self.wpos = 0;
        Ok(true)
    }

    /// Reads until the socket is drained; false at end of stream.
    fn fill(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; 4096];
        loop {
            match self.sock.read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.rbuf.extend_from_slice(&chunk[..n]);
                    if n < chunk.len() {
                        return Ok(true);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let conns: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let trips: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    if let Err(e) = run(conns, trips) {
        eprintln!("mio-roundtrip: {e}");
        exit(1);
    }
}

fn run(conns: usize, trips: usize) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut listener = TcpListener::bind("127.0.0.1:0".parse::<SocketAddr>().unwrap())?;
    let addr = listener.local_addr()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;

    let t0 = Instant::now();
    let mut slots: Vec<Option<Conn>> = Vec::with_capacity(2 * conns);
    for i in 0..conns {
        let sock = TcpStream::connect(addr)?;
        sock.set_nodelay(true)?;
        let line: Vec<u8> =
            format!("client {i:06} says hello to the echo server, mixed Case abcdefgh")
                .into_bytes()[..63]
                .to_vec();
        let want = line.to_ascii_uppercase();
        let mut c = Conn::new(
            sock,
            Some(Client {
                line,
                want,
                left: trips,
            }),
        );
        // The first request goes out as soon as the socket is writable.
        let cl = c.client.as_ref().unwrap();
        c.wbuf.extend_from_slice(&cl.line);
        c.wbuf.push(b'\n');
        poll.registry().register(
            &mut c.sock,
            Token(slots.len()),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        slots.push(Some(c));
        // Take the server's side at once, so the accept queue never fills.
        accept_all(&listener, &poll, &mut slots)?;
    }

    let mut done = 0;
    let mut failures = 0;
    while done < conns {
        poll.poll(&mut events, None)?;
        for ev in events.iter() {
            if ev.token() == LISTENER {
                accept_all(&listener, &poll, &mut slots)?;
                continue;
            }
            let idx = ev.token().0;
            let Some(c) = slots[idx].as_mut() else {
                continue;
            };
            let r = step(c).and_then(|alive| {
                // Writability interest follows whether output is blocked.
                let blocked = c.wpos < c.wbuf.len();
                if alive && blocked != c.want_write {
                    let interest = if blocked {
                        Interest::READABLE | Interest::WRITABLE
                    } else {
                        Interest::READABLE
                    };
                    poll.registry()
                        .reregister(&mut c.sock, ev.token(), interest)?;
                    c.want_write = blocked;
                }
                Ok(alive)
            });
            match r {
                Ok(true) => {}
                Ok(false) => {
                    if c.client.is_some() {
                        done += 1;
                    }
                    slots[idx] = None;
                }
                Err(e) => {
                    if c.client.is_some() {
                        eprintln!("mio-roundtrip: client {idx}: {e}");
                        failures += 1;
                        done += 1;
                    }
                    slots[idx] = None;
                }
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    if failures > 0 {
        return Err(io::Error::other(format!("{failures} clients failed")));
    }
    println!(
        "rust roundtrips_per_sec={:.0} conns={conns} trips={trips} seconds={secs:.3}",
        (conns * trips) as f64 / secs
    );
    Ok(())
}

/// Accepts every pending connection (the server's side of each).
fn accept_all(
    listener: &TcpListener,
    poll: &Poll,
    slots: &mut Vec<Option<Conn>>,
) -> io::Result<()> {
    loop {
        match listener.accept() {
            Ok((mut sock, _)) => {
                sock.set_nodelay(true)?;
                let t = Token(slots.len());
                poll.registry().register(&mut sock, t, Interest::READABLE)?;
                let mut c = Conn::new(sock, None);
                c.want_write = false;
                slots.push(Some(c));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// Advances one connection after an event; false when it is finished.
fn step(c: &mut Conn) -> io::Result<bool> {
    if !c.flush()? {
        return Ok(true);
    }
    let open = c.fill()?;
    let mut start = 0;
    while let Some(nl) = c.rbuf[start..].iter().position(|&b| b == b'\n') {
        let line = &c.rbuf[start..start + nl];
        match c.client.as_mut() {
            None => {
                // The server: echo it uppercased.
                c.wbuf.extend(line.iter().map(u8::to_ascii_uppercase));
                c.wbuf.push(b'\n');
            }
            Some(cl) => {
                if line != cl.want.as_slice() {
                    return Err(io::Error::other("wrong reply"));
                }
                cl.left -= 1;
                if cl.left == 0 {
                    return Ok(false);
                }
                c.wbuf.extend_from_slice(&cl.line);
                c.wbuf.push(b'\n');
            }
        }
        start += nl + 1;
    }
    c.rbuf.drain(..start);
    c.flush()?;
    Ok(open || c.client.is_some())
}

//! Unix domain stream sockets: `unix:/path` and (Linux) `unix:@name`
//! addresses, connecting, and listening with stale socket files cleaned up.

use std::future::poll_fn;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::SocketAddr as UnixAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use super::socket::{Endpoint, StreamSocket};
use crate::error::{NetError, NetResult};
use crate::runtime::deadline::Deadline;
use crate::runtime::reactor::Registration;
use crate::runtime::Runtime;
use crate::stream::transport::Want;

/// `sun_path` holds 108 bytes, one of them the terminating (or, for the
/// abstract namespace, leading) NUL.
pub(crate) const MAX_NAME: usize = 107;

/// Parses the text after `unix:`: `/path` (or a relative path), or
/// `@name`. `Err` says why it is misuse.
pub(crate) fn parse(rest: &str) -> Result<Endpoint, String> {
    let (ep, len) = match rest.strip_prefix('@') {
        Some(name) => (Endpoint::Abstract(name.as_bytes().to_vec()), name.len()),
        None => (Endpoint::Path(PathBuf::from(rest)), rest.len()),
    };
    if rest.is_empty() || rest == "@" {
        return Err("unix: needs a path (unix:/path) or a name (unix:@name)".into());
    }
    if rest.contains('\0') {
        return Err("a unix socket name cannot contain NUL".into());
    }
    if len > MAX_NAME {
        return Err(format!(
            "unix socket name is {len} bytes long; the limit is {MAX_NAME}"
        ));
    }
    Ok(ep)
}

fn std_addr(ep: &Endpoint) -> io::Result<UnixAddr> {
    match ep {
        Endpoint::Path(p) => UnixAddr::from_pathname(p),
        Endpoint::Abstract(n) => UnixAddr::from_abstract_name(n),
        _ => Err(io::ErrorKind::InvalidInput.into()),
    }
}

/// Connects to a Unix socket. A listener whose backlog is full makes a
/// non-blocking connect fail with `EAGAIN`: that is retried until `timeout`.
pub(crate) async fn connect(
    rt: &Rc<Runtime>,
    ep: &Endpoint,
    timeout: Option<Duration>,
) -> NetResult<(StreamSocket, Registration)> {
    let what = format!("connect to {ep}");
    let fail = |e: io::Error| match e.raw_os_error() {
        // Nothing at that path: nothing to connect to, said plainly.
        Some(libc::ENOENT) => NetError::new("notfound", format!("{what}: no such socket file")),
        _ => NetError::from_io(&what, &e),
    };
    let addr = std_addr(ep).map_err(fail)?;
    let mut deadline = Deadline::after(rt, timeout);
    let mut socket = loop {
        match mio::net::UnixStream::connect_addr(&addr) {
            Ok(s) => break s,
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                let mut pause = Deadline::after(rt, Some(Duration::from_millis(5)));
                let timed_out = poll_fn(|cx| {
                    if deadline.poll_expired(cx) {
                        Poll::Ready(true)
                    } else if pause.poll_expired(cx) {
                        Poll::Ready(false)
                    } else {
                        Poll::Pending
                    }
                })
                .await;
                if timed_out {
                    return Err(NetError::new("timeout", format!("{what}: timed out")));
                }
            }
            Err(e) => return Err(fail(e)),
        }
    };
    let registration = Registration::new(rt, &mut socket).map_err(fail)?;
    // Connected at once, or EINPROGRESS: then writable means done.
    poll_fn(|cx| {
        match socket.take_error() {
            Ok(Some(e)) | Err(e) => return Poll::Ready(Err(fail(e))),
            Ok(None) => {}
        }
        match socket.peer_addr() {
            Ok(_) => Poll::Ready(Ok(())),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                if deadline.poll_expired(cx) {
                    return Poll::Ready(Err(NetError::new(
                        "timeout",
                        format!("{what}: timed out"),
                    )));
                }
                registration.park(Want::Write, cx.waker());
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(fail(e))),
        }
    })
    .await?;
    Ok((StreamSocket::Unix(socket), registration))
}

/// A listening Unix socket. A path it bound is removed when it is dropped,
/// if the file there is still the one it created.
pub(crate) struct UnixListener {
    pub(crate) socket: mio::net::UnixListener,
    bound: Option<(PathBuf, u64, u64)>,
}

impl Drop for UnixListener {
    fn drop(&mut self) {
        if let Some((path, dev, ino)) = &self.bound {
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.dev() == *dev && m.ino() == *ino) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// Binds and listens. A socket file left behind by a process that is gone
/// (connecting to it is refused) is removed first; one that something
/// still listens on fails with `addrinuse`, as does any other file.
pub(crate) fn bind(ep: &Endpoint) -> io::Result<UnixListener> {
    let addr = std_addr(ep)?;
    if let Endpoint::Path(p) = ep {
        if std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_socket()) {
            match mio::net::UnixStream::connect_addr(&addr) {
                Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                    std::fs::remove_file(p)?;
                }
                Err(e) if e.raw_os_error() != Some(libc::EAGAIN) => return Err(e),
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        "address already in use (another server listens there)",
                    ))
                }
            }
        }
    }
    // mio listens with a backlog of 128 (`opts.backlog` is for TCP).
    let socket = mio::net::UnixListener::bind_addr(&addr)?;
    let bound = match ep {
        Endpoint::Path(p) => std::fs::symlink_metadata(p)
            .ok()
            .map(|m| (p.clone(), m.dev(), m.ino())),
        _ => None,
    };
    Ok(UnixListener { socket, bound })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths_and_abstract_names() {
        assert_eq!(
            parse("/run/x.sock"),
            Ok(Endpoint::Path("/run/x.sock".into()))
        );
        assert_eq!(parse("rel.sock"), Ok(Endpoint::Path("rel.sock".into())));
        assert_eq!(parse("@name"), Ok(Endpoint::Abstract(b"name".to_vec())));
        assert!(parse("").is_err());
        assert!(parse("@").is_err());
        assert!(parse("a\0b").is_err());
        let long = format!("/{}", "x".repeat(MAX_NAME));
        assert!(parse(&long).unwrap_err().contains("the limit is 107"));
        assert!(parse(&long[..MAX_NAME]).is_ok());
    }

    #[test]
    fn endpoints_display_as_unix_urls() {
        assert_eq!(Endpoint::Path("/a/b".into()).to_string(), "unix:/a/b");
        assert_eq!(Endpoint::Abstract(b"n".to_vec()).to_string(), "unix:@n");
        assert_eq!(Endpoint::Unnamed.to_string(), "unix:");
        let ip: std::net::SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(Endpoint::Ip(ip).to_string(), "[::1]:80");
    }
}

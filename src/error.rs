//! Runtime failures as the Lua surface reports them: `nil, message, code`.
//!
//! Misuse (wrong argument types, unknown formats or options) is raised as a
//! Lua error instead and never goes through this type.

use std::fmt;
use std::io;

/// A runtime failure: a message for people and a short stable code for programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetError {
    /// Stable lowercase word such as `timeout`, `refused`, `certificate`.
    pub code: &'static str,
    /// Names what failed (host, port, reason).
    pub message: String,
}

impl NetError {
    /// A failure with the given code and message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Wraps this failure in an `io::Error`, so transports can report coded
    /// failures (certificate, handshake, truncated) through `io::Result`.
    pub fn into_io(self) -> io::Error {
        let kind = match self.code {
            "timeout" => io::ErrorKind::TimedOut,
            "truncated" => io::ErrorKind::UnexpectedEof,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, self)
    }

    /// Maps an I/O error to a coded failure, `what` naming the operation and
    /// peer (for example `"connect to 127.0.0.1:80"`).
    pub fn from_io(what: &str, err: &io::Error) -> Self {
        if let Some(inner) = err.get_ref().and_then(|e| e.downcast_ref::<NetError>()) {
            // Coded failures from a transport say why; `what` says where.
            if what.is_empty() {
                return inner.clone();
            }
            return Self::new(inner.code, format!("{what}: {}", inner.message));
        }
        let code = io_code(err);
        let reason = match code {
            "refused" => "connection refused".to_string(),
            "reset" => "connection reset by peer".to_string(),
            "closed" => "connection closed by peer".to_string(),
            "timeout" => "timed out".to_string(),
            "truncated" => "connection closed without close_notify (truncated)".to_string(),
            _ => strip_os_error(err),
        };
        if what.is_empty() {
            Self::new(code, reason)
        } else {
            Self::new(code, format!("{what}: {reason}"))
        }
    }
}

/// The code for an I/O error, from its kind and errno.
pub fn io_code(err: &io::Error) -> &'static str {
    if let Some(errno) = err.raw_os_error() {
        match errno {
            libc::ECONNREFUSED => return "refused",
            libc::ECONNRESET | libc::ECONNABORTED => return "reset",
            libc::EPIPE => return "closed",
            libc::ETIMEDOUT => return "timeout",
            libc::ENETUNREACH | libc::EHOSTUNREACH | libc::ENETDOWN | libc::EHOSTDOWN => {
                return "unreachable"
            }
            libc::EADDRINUSE => return "addrinuse",
            libc::EADDRNOTAVAIL => return "addrnotavail",
            libc::EACCES | libc::EPERM => return "permission",
            _ => {}
        }
    }
    match err.kind() {
        io::ErrorKind::ConnectionRefused => "refused",
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => "reset",
        io::ErrorKind::BrokenPipe => "closed",
        io::ErrorKind::TimedOut => "timeout",
        io::ErrorKind::UnexpectedEof => "truncated",
        io::ErrorKind::AddrInUse => "addrinuse",
        io::ErrorKind::AddrNotAvailable => "addrnotavail",
        io::ErrorKind::PermissionDenied => "permission",
        _ => "io",
    }
}

/// `Display` of an OS error without Rust's " (os error N)" suffix.
fn strip_os_error(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_lowercase(),
        None => text,
    }
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NetError {}

/// The result of a call that can fail at run time (outer `mlua::Result`
/// carries misuse, raised as a Lua error).
pub type NetResult<T> = Result<T, NetError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_errno_to_codes() {
        let e = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        let n = NetError::from_io("connect to 127.0.0.1:1", &e);
        assert_eq!(n.code, "refused");
        assert_eq!(n.message, "connect to 127.0.0.1:1: connection refused");
        assert_eq!(
            io_code(&io::Error::from_raw_os_error(libc::EPIPE)),
            "closed"
        );
        assert_eq!(
            io_code(&io::Error::from_raw_os_error(libc::EHOSTUNREACH)),
            "unreachable"
        );
    }

    #[test]
    fn coded_errors_survive_io_wrapping() {
        let io = NetError::new("certificate", "certificate expired").into_io();
        let back = NetError::from_io("", &io);
        assert_eq!(back, NetError::new("certificate", "certificate expired"));
        let io = NetError::new("certificate", "certificate expired").into_io();
        let back = NetError::from_io("handshake with tls localhost", &io);
        assert_eq!(
            back.message,
            "handshake with tls localhost: certificate expired"
        );
    }
}

//! Transport tests over real loopback sockets.

mod buffers;
mod early;
mod harness;
mod loopback;
mod openssl;
mod revocation;

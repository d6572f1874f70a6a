//! Transport tests over real loopback sockets.

mod early;
mod harness;
mod loopback;
mod openssl;
mod revocation;

//! Transport tests over real loopback sockets.

mod harness;
mod loopback;
mod openssl;
mod revocation;

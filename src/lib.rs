//! Non-blocking TCP, TLS and DNS for Lua coroutines.
//!
//! One shared library (`tls.so`) provides the Lua modules `tls`, `tls.loop`,
//! `tls.tcp` and `tls.dns`. See `docs/` for the Lua reference.
#![warn(rust_2018_idioms, unreachable_pub)]
#![forbid(unused_must_use)]

pub mod dns;
pub mod error;
pub mod stream;
pub mod tls;

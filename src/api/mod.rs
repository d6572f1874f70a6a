//! The Lua modules: each builds the table `require` returns.

pub(crate) mod dns_module;
pub(crate) mod loop_module;
pub(crate) mod loop_poll;
pub(crate) mod loop_signal;
pub(crate) mod loop_sync;
pub(crate) mod loop_task;
pub(crate) mod sha256_module;
pub(crate) mod surface;
pub(crate) mod tcp_module;
pub(crate) mod tls_module;
pub(crate) mod udp_module;

//! Sockets: addresses, options, the TCP transport, connecting, listening.

pub(crate) mod accept_errors;
pub(crate) mod addr;
pub(crate) mod connect;
pub(crate) mod conns;
pub(crate) mod listener;
pub(crate) mod options;
pub(crate) mod tcp;

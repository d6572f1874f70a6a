//! Sockets: addresses, options, the TCP transport, UDP, connecting, listening.

pub(crate) mod addr;
pub(crate) mod connect;
pub(crate) mod listener;
pub(crate) mod options;
pub(crate) mod tcp;
pub(crate) mod udp;

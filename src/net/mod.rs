//! Sockets: addresses, TCP and Unix stream sockets, options, the TCP transport, UDP, connecting, listening.

pub(crate) mod accept_errors;
pub(crate) mod addr;
pub(crate) mod connect;
pub(crate) mod conns;
pub(crate) mod listener;
pub(crate) mod options;
pub mod socket;
pub(crate) mod tcp;
pub(crate) mod udp;
pub(crate) mod udp_options;
pub(crate) mod unix;

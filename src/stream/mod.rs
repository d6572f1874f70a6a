//! Streams: the `ios` object over a [`transport::Transport`].

pub(crate) mod buffer;
pub(crate) mod core;
pub(crate) mod format;
pub(crate) mod ios;
pub(crate) mod limits;
pub(crate) mod number;
pub(crate) mod ops;
pub mod transport;

//! Streams: the `ios` object over a [`transport::Transport`].

pub mod transport;

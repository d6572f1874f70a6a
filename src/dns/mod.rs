//! Name resolution: configuration files, the wire codec and the resolver.

pub mod addr;
pub mod cache;
pub mod codec;
pub mod conf;
pub mod hosts;
pub mod name;
pub mod order;
pub mod query;
pub mod search;
pub mod services;

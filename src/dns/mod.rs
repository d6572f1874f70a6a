//! Name resolution: configuration files, the wire codec and the resolver.

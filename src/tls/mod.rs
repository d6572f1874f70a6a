//! TLS on rustls: options from Lua, configs (cached so sessions resume),
//! verification and its error messages, and the `TlsTransport` that the
//! `ios` stream drives.

pub mod cache;
pub mod client_verifier;
pub mod config;
pub mod crl;
pub mod date;
mod delegate;
pub mod depth;
pub mod der;
mod hkdf;
pub mod info;
pub mod lua_config;
pub mod names;
pub mod ocsp;
pub mod option_misuse;
pub mod options;
pub mod pem;
pub mod provider;
mod records;
pub mod revocation;
pub mod revocation_options;
pub mod sessions;
pub mod signing_key;
pub mod sni;
mod sock;
pub mod stamps;
pub mod staple;
pub(crate) mod starttls;
pub mod tickets;
pub mod transport;
pub mod tuning;
pub mod verifier;
pub mod verify_errors;
pub mod x509;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

pub use cache::{shared, TlsConfig};
pub use info::info_table;
pub use lua_config::{new_config, tcp_options, tls_arg, LuaTlsConfig, TlsArg};
pub use options::{TlsOptions, TLS_KEYS};
pub use transport::{TlsSetup, TlsTransport};

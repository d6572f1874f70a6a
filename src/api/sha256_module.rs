//! `tls.sha256`: SHA-256 (FIPS 180-4) by the crypto provider, aws-lc-rs
//! (the same code rustls hashes handshakes with), one-shot and streaming.
//!
//! ```lua
//! local sha256 = require "tls.sha256"
//! sha256.hex("abc")                    --> "ba7816bf..."
//! local h = sha256.new()
//! h:update(chunk1):update(chunk2)
//! h:hexdigest()  -- or h:digest() for the 32 raw bytes
//! ```
//!
//! The Lua strings are hashed where they lie (no copy). After `digest` or
//! `hexdigest` a hash keeps its result: both may be called again, and
//! `update` raises.

use std::cell::RefCell;

use aws_lc_rs::digest::{self, SHA256, SHA256_OUTPUT_LEN};
use mlua::{
    Lua, LuaString, MetaMethod, MultiValue, Table, UserData, UserDataFields, UserDataMethods, Value,
};

use super::surface;

type Digest = [u8; SHA256_OUTPUT_LEN];

/// A hash in progress, or its result once taken.
enum State {
    Open(digest::Context),
    Done(Digest),
}

/// The Lua hash object (`sha256.new()`).
struct Hash(RefCell<State>);

impl Hash {
    fn new() -> Self {
        Self(RefCell::new(State::Open(digest::Context::new(&SHA256))))
    }

    /// The digest, finishing the hash the first time.
    fn digest(&self) -> Digest {
        let mut state = self.0.borrow_mut();
        let done = match std::mem::replace(&mut *state, State::Done([0; SHA256_OUTPUT_LEN])) {
            State::Done(d) => d,
            State::Open(ctx) => finish(ctx.finish()),
        };
        *state = State::Done(done);
        done
    }
}

fn finish(d: digest::Digest) -> Digest {
    let mut out = [0; SHA256_OUTPUT_LEN];
    out.copy_from_slice(d.as_ref());
    out
}

fn hex(d: &Digest) -> [u8; 2 * SHA256_OUTPUT_LEN] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0; 2 * SHA256_OUTPUT_LEN];
    for (i, b) in d.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 15)];
    }
    out
}

/// Argument `n` of `fname` as a Lua string: strictly a string (a number
/// is refused, as the plain-Lua module refused it).
fn string_arg<'a>(v: Option<&'a Value>, n: usize, fname: &str) -> mlua::Result<&'a LuaString> {
    match v {
        Some(Value::String(s)) => Ok(s),
        other => Err(surface::bad_argument(
            n,
            fname,
            format!(
                "string expected, got {}",
                other.map_or("no value", surface::type_name)
            ),
        )),
    }
}

fn one_shot(s: &LuaString) -> Digest {
    finish(digest::digest(&SHA256, &s.as_bytes()))
}

impl UserData for Hash {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_meta_field("__name", "tls.sha256");
        f.add_meta_field_with("__index", |lua| {
            let t = lua.create_table()?;
            // A function, not a method: it returns its receiver.
            t.set(
                "update",
                surface::function(lua, "hash:update", |_, args: MultiValue| {
                    let h = surface::this::<Hash>("hash:update", args.front())?;
                    let s = string_arg(args.get(1), 1, "hash:update")?;
                    match &mut *h.0.borrow_mut() {
                        State::Open(ctx) => ctx.update(&s.as_bytes()),
                        State::Done(_) => {
                            return Err(mlua::Error::runtime(
                                "attempt to update a sha256 hash after digest",
                            ))
                        }
                    }
                    drop(h);
                    Ok(args.front().cloned().unwrap_or(Value::Nil))
                })?,
            )?;
            t.set(
                "digest",
                surface::method(lua, "hash:digest", |lua, h: &Hash, ()| {
                    lua.create_string(h.digest())
                })?,
            )?;
            t.set(
                "hexdigest",
                surface::method(lua, "hash:hexdigest", |lua, h: &Hash, ()| {
                    lua.create_string(hex(&h.digest()))
                })?,
            )?;
            Ok(t)
        });
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::ToString, |_, h, ()| {
            Ok(match &*h.0.borrow() {
                State::Open(_) => "tls.sha256 hash",
                State::Done(_) => "tls.sha256 hash (digested)",
            })
        });
    }
}

/// The table `require "tls.sha256"` returns.
pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    // What the plain-Lua module said about its 32-bit arithmetic; now the
    // same answer on every interpreter.
    t.set("arithmetic", "native")?;
    t.set(
        "new",
        surface::function(lua, "sha256.new", |_, ()| Ok(Hash::new()))?,
    )?;
    t.set(
        "digest",
        surface::function(lua, "sha256.digest", |lua, args: MultiValue| {
            let s = string_arg(args.front(), 1, "sha256.digest")?;
            lua.create_string(one_shot(s))
        })?,
    )?;
    t.set(
        "hex",
        surface::function(lua, "sha256.hex", |lua, args: MultiValue| {
            let s = string_arg(args.front(), 1, "sha256.hex")?;
            lua.create_string(hex(&one_shot(s)))
        })?,
    )?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_pairs() {
        let mut d = [0u8; SHA256_OUTPUT_LEN];
        d[0] = 0xab;
        d[31] = 0x0f;
        let h = hex(&d);
        assert_eq!(&h[..2], b"ab");
        assert_eq!(&h[62..], b"0f");
    }

    #[test]
    fn digest_is_kept_after_finishing() {
        let h = Hash::new();
        if let State::Open(ctx) = &mut *h.0.borrow_mut() {
            ctx.update(b"abc");
        }
        let d = h.digest();
        assert_eq!(d, h.digest());
        assert_eq!(
            &hex(&d)[..],
            b"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

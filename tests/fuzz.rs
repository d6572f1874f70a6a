//! The fuzz targets (`fuzz/`, libFuzzer on nightly) run here too, on
//! stable Rust, for a bounded number of deterministic inputs: the committed
//! seeds, then mutations of them and random bytes from a fixed-seed
//! generator. `FUZZ_ITERS` sets the number of generated inputs per target
//! (default 10000, well under a second each here); `FUZZ_SEED` changes the
//! seed. A failing input is printed in hex, to add to `fuzz/seeds/<target>/`.

use std::path::Path;
use std::time::Instant;

use tls::fuzzing;

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut out: Vec<Vec<u8>> = match std::fs::read_dir(&dir) {
        Ok(entries) => {
            let mut files: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            files.sort();
            files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
        }
        Err(_) => Vec::new(),
    };
    if out.is_empty() {
        out.push(Vec::new());
    }
    out
}

/// One mutation of `input`, libFuzzer-style: flip, set, insert, delete,
/// duplicate a range, splice another seed, or fresh random bytes.
fn mutate(rng: &mut Rng, input: &[u8], pool: &[Vec<u8>]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        let len = v.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = [0, 0xff, 0x7f, 0x80, b'\n', b'.', b'0', b'x'][rng.below(8)];
            }
            2 => {
                let i = rng.below(len + 1);
                v.insert(i, rng.next() as u8);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below(len - i) + 1;
                v.drain(i..i + n);
            }
            4 if len > 0 && len < 4096 => {
                let i = rng.below(len);
                let n = rng.below(len - i) + 1;
                let copy = v[i..i + n].to_vec();
                let at = rng.below(len + 1);
                v.splice(at..at, copy);
            }
            5 => {
                let other = &pool[rng.below(pool.len())];
                let cut = rng.below(v.len() + 1);
                v.truncate(cut);
                v.extend_from_slice(&other[rng.below(other.len() + 1)..]);
            }
            6 => {
                v = (0..rng.below(256)).map(|_| rng.next() as u8).collect();
            }
            _ => {}
        }
    }
    v
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

fn run(target: &str, property: fn(&[u8])) {
    let iters: usize = std::env::var("FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1e55);
    let mut rng = Rng(seed | 1);
    let mut pool = seeds(target);
    let start = Instant::now();
    // The panic's own message is printed by the default hook; this adds
    // the input that caused it.
    let check = |input: &[u8]| {
        if std::panic::catch_unwind(|| property(input)).is_err() {
            panic!("{target}: property failed on input {}", hex(input));
        }
    };
    for s in &pool {
        check(s);
    }
    for _ in 0..iters {
        let base = pool[rng.below(pool.len())].clone();
        let input = mutate(&mut rng, &base, &pool);
        check(&input);
        // Keep a few inputs to mutate further (a crude corpus).
        if pool.len() < 256 && rng.below(16) == 0 {
            pool.push(input);
        }
    }
    eprintln!(
        "fuzz {target}: {} inputs in {:.2} s",
        iters + seeds(target).len(),
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn parse_message() {
    run("parse_message", fuzzing::parse_message);
}

#[test]
fn lookup_answer() {
    run("lookup_answer", fuzzing::lookup_answer);
}

#[test]
fn read_format() {
    run("read_format", fuzzing::read_format);
}

#[test]
fn tls_options() {
    run("tls_options", fuzzing::tls_options);
}

#[test]
fn pem() {
    run("pem", fuzzing::pem);
}

#[test]
fn every_target_is_run_here() {
    let here = [
        "parse_message",
        "lookup_answer",
        "read_format",
        "tls_options",
        "pem",
    ];
    let names: Vec<&str> = fuzzing::TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, here);
    for name in here {
        let target = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/fuzz_targets")
            .join(format!("{name}.rs"));
        assert!(target.exists(), "no fuzz target {}", target.display());
    }
}

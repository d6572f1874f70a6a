//! Interop check against a real server: dnsmasq on a loopback port,
//! driven by a small blocking stand-in for the runtime (std sockets).
//! The dnsmasq test is ignored by default because it needs `dnsmasq`
//! installed; run it with `cargo test ... --lib dns::resolve::live -- --ignored`.

use super::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Dnsmasq {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    // Both UDP and TCP must be free on it; try until one is.
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn start_dnsmasq() -> Dnsmasq {
    let dir = std::env::temp_dir().join(format!("lua-tls-dns-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // 150 addresses for one name: about 2.4 kB of answer, over the
    // advertised 1232 bytes, so the UDP answer comes back truncated.
    let big: String = (0..150)
        .map(|i| format!("10.1.{}.{} big.test\n", i / 200, i % 200 + 1))
        .collect();
    let hosts_file = dir.join("hosts");
    std::fs::write(&hosts_file, big).unwrap();
    let port = free_port();
    let child = Command::new("dnsmasq")
        .args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--user=root",
            "--local=/test/",
            "--host-record=www.test,192.0.2.10,2001:db8::10,300",
            "--host-record=v4only.test,192.0.2.11",
            "--cname=alias.test,www.test",
        ])
        .arg(format!("--port={port}"))
        .arg(format!("--addn-hosts={}", hosts_file.display()))
        .arg(format!("--pid-file={}", dir.join("pid").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dnsmasq is installed");
    // The guard owns the process from here on, so it is reaped on any exit.
    let server = Dnsmasq {
        child,
        port,
        _dir: TempDir(dir),
    };
    // Wait until it answers TCP connections.
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return server;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("dnsmasq did not start");
}

/// A blocking runtime: enough to drive a request against a local server.
fn drive(mut r: Resolve, cache: &mut Cache) -> (Result<Resolved, NetError>, usize) {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut tcp: Option<(ConnId, TcpStream)> = None;
    let mut tcp_uses = 0;
    let mut buf = vec![0u8; 65535];
    loop {
        let now = Instant::now();
        match r.poll(now, cache) {
            ResolveAction::Send { server, packet } => {
                if udp.send_to(&packet, server).is_err() {
                    r.udp_send_failed(Instant::now());
                }
            }
            ResolveAction::SendTcp {
                conn,
                server,
                packet,
            } => {
                tcp_uses += 1;
                match TcpStream::connect_timeout(&server, Duration::from_secs(2)) {
                    Ok(mut s) => {
                        s.write_all(&packet).unwrap();
                        tcp = Some((conn, s));
                    }
                    Err(_) => r.tcp_failed(conn, Instant::now()),
                }
            }
            ResolveAction::CloseTcp { conn } => {
                if tcp.as_ref().is_some_and(|(c, _)| *c == conn) {
                    tcp = None;
                }
            }
            ResolveAction::Wait { until } => {
                let wait = until
                    .saturating_duration_since(now)
                    .max(Duration::from_millis(1));
                if let Some((conn, s)) = tcp.as_mut() {
                    s.set_read_timeout(Some(wait)).unwrap();
                    match s.read(&mut buf) {
                        Ok(0) => r.tcp_failed(*conn, Instant::now()),
                        Ok(n) => r.tcp_received(*conn, &buf[..n], Instant::now()),
                        Err(e)
                            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                        {
                            r.timer(Instant::now())
                        }
                        Err(_) => r.tcp_failed(*conn, Instant::now()),
                    }
                    continue;
                }
                udp.set_read_timeout(Some(wait)).unwrap();
                match udp.recv_from(&mut buf) {
                    Ok((n, from)) => r.udp_received(from, &buf[..n], Instant::now()),
                    Err(_) => r.timer(Instant::now()),
                }
            }
            ResolveAction::Done(result) => return (result, tcp_uses),
        }
    }
}

fn live_conf(port: u16) -> ResolvConf {
    ResolvConf {
        nameservers: vec![SocketAddr::from(([127, 0, 0, 1], port))],
        search: vec![Name::new("test").unwrap()],
        timeout: Duration::from_secs(2),
        ..ResolvConf::default()
    }
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

#[test]
#[ignore = "needs dnsmasq; run with --ignored"]
fn against_dnsmasq() {
    let server = start_dnsmasq();
    let conf = live_conf(server.port);
    let hosts = Hosts::default();
    let mut cache = Cache::default();
    let resolve = |host: &str, family, cache: &mut Cache| {
        drive(Resolve::new(host, family, &conf, &hosts), cache)
    };

    let (result, _) = resolve("www.test", Family::Any, &mut cache);
    let got = result.unwrap();
    assert_eq!(got.addrs, ips(&["192.0.2.10", "2001:db8::10"]));

    // Through the search list, and a CNAME.
    let (result, _) = resolve("alias", Family::V4, &mut cache);
    let got = result.unwrap();
    assert_eq!(got.addrs, ips(&["192.0.2.10"]));
    assert_eq!(got.canonical, Some(Name::new("www.test").unwrap()));

    let (result, _) = resolve("nope.test", Family::Any, &mut cache);
    assert_eq!(result.unwrap_err().code, "nxdomain");

    let (result, _) = resolve("v4only.test.", Family::V6, &mut cache);
    assert_eq!(result.unwrap_err().code, "noaddress");

    // Too big for UDP: truncated, then TCP.
    let (result, tcp_uses) = resolve("big.test", Family::V4, &mut cache);
    let got = result.unwrap();
    assert_eq!(got.addrs.len(), 150);
    assert_eq!(tcp_uses, 1);
}

#[test]
fn silent_server_times_out() {
    // A bound socket that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut conf = live_conf(silent.local_addr().unwrap().port());
    conf.timeout = Duration::from_millis(200);
    conf.attempts = 2;
    let started = Instant::now();
    let (result, _) = drive(
        Resolve::new("x.example.", Family::V4, &conf, &Hosts::default()),
        &mut Cache::default(),
    );
    assert_eq!(result.unwrap_err().code, "timeout");
    assert!(started.elapsed() >= Duration::from_millis(400));
}

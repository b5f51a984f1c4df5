//! [`LatencyProxy`]: a loopback TCP proxy that delays every chunk by a fixed one-way
//! latency in each direction.
//!
//! Delay is not throttling: each direction has a reader that timestamps chunks as they
//! arrive and a writer that sends each one when its time comes, so pipelined data keeps
//! flowing and fifty pipelined requests cost about one round trip, not fifty. A round
//! trip through the proxy costs twice the one-way latency.
//!
//! The proxy also counts round trips ([`LatencyProxy::round_trips`]): each time the
//! client sends after the server has sent, the client waited for an answer. Tests judge
//! pipelining by that count, which a loaded machine cannot change, instead of by time.
//!
//! ```
//! use std::time::Duration;
//! use pop3_server::{LatencyProxy, Server};
//!
//! let server = Server::builder().start()?;
//! let proxy = LatencyProxy::start(server.addr(), Duration::from_millis(20))?;
//! // Point the client at proxy.addr() instead of server.addr(): 40 ms per round trip.
//! # let _ = std::net::TcpStream::connect(proxy.addr())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A chunk of data due at an instant; `None` data is the end of the stream.
type Timed = (Instant, Option<Vec<u8>>);

/// One proxied connection: both sockets (to shut them down) and its threads.
type Relay = (TcpStream, TcpStream, Vec<JoinHandle<()>>);

#[derive(Debug)]
struct Shared {
    target: SocketAddr,
    one_way: Duration,
    shutdown: AtomicBool,
    connections: AtomicUsize,
    round_trips: AtomicUsize,
    /// Sockets to shut down on drop, and the threads to join.
    live: Mutex<Vec<Relay>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A TCP proxy on `127.0.0.1` adding a one-way delay per direction; stops when dropped.
#[derive(Debug)]
pub struct LatencyProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl LatencyProxy {
    /// Listens on `127.0.0.1:0` and forwards every connection to `target`, delaying data
    /// by `one_way` in each direction.
    pub fn start(target: SocketAddr, one_way: Duration) -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            target,
            one_way,
            shutdown: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            round_trips: AtomicUsize::new(0),
            live: Mutex::new(Vec::new()),
        });
        let accept_shared = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name(format!("pop3-server-proxy-{addr}"))
            .spawn(move || accept_loop(&accept_shared, &listener))?;
        Ok(Self {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The one-way latency.
    pub fn one_way(&self) -> Duration {
        self.shared.one_way
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Round trips so far, over every connection: how many times a client sent data
    /// after the server had sent some (its first data counts as one). A TLS handshake
    /// costs two, a lockstep command one, a pipelined batch one.
    pub fn round_trips(&self) -> usize {
        self.shared.round_trips.load(Ordering::SeqCst)
    }
}

/// Which side of a connection sent last, for counting round trips.
#[derive(Debug, Default)]
struct Turns(AtomicU8);

impl Turns {
    const SERVER: u8 = 1;
    const CLIENT: u8 = 2;

    /// Records data from one side; true when the client starts a new round trip.
    fn sent_by(&self, side: u8) -> bool {
        self.0.swap(side, Ordering::SeqCst) != side && side == Self::CLIENT
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener) {
    for client in listener.incoming() {
        if shared.shutdown.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        // A target that refuses: the client sees its connection closed.
        let _ = relay(shared, client);
    }
}

/// Connects to the target and starts the four threads of one proxied connection.
fn relay(shared: &Arc<Shared>, client: TcpStream) -> io::Result<()> {
    let upstream = TcpStream::connect(shared.target)?;
    for socket in [&client, &upstream] {
        socket.set_nodelay(true)?;
    }
    let turns = Arc::new(Turns::default());
    let up = Direction {
        shared: Arc::clone(shared),
        turns: Arc::clone(&turns),
        side: Turns::CLIENT,
        name: "up",
    };
    let down = Direction {
        shared: Arc::clone(shared),
        turns,
        side: Turns::SERVER,
        name: "down",
    };
    let mut threads = pipe(&client, &upstream, up)?;
    threads.extend(pipe(&upstream, &client, down)?);
    let mut live = lock(&shared.live);
    live.retain(|(_, _, threads)| !threads.iter().all(JoinHandle::is_finished));
    live.push((client, upstream, threads));
    Ok(())
}

/// What one direction of a relayed connection needs to know.
struct Direction {
    shared: Arc<Shared>,
    turns: Arc<Turns>,
    side: u8,
    name: &'static str,
}

/// One direction: a reader stamping chunks and a writer delivering them when due.
fn pipe(from: &TcpStream, to: &TcpStream, direction: Direction) -> io::Result<Vec<JoinHandle<()>>> {
    let (tx, rx) = mpsc::channel::<Timed>();
    let mut source = from.try_clone()?;
    let delay = direction.shared.one_way;
    let name = direction.name;
    let reader = std::thread::Builder::new()
        .name(format!("pop3-server-proxy-{name}-read"))
        .spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let chunk = match source.read(&mut buf) {
                    Ok(0) | Err(_) => None,
                    Ok(n) => Some(buf[..n].to_vec()),
                };
                if chunk.is_some() && direction.turns.sent_by(direction.side) {
                    direction.shared.round_trips.fetch_add(1, Ordering::SeqCst);
                }
                let end = chunk.is_none();
                if tx.send((Instant::now() + delay, chunk)).is_err() || end {
                    return;
                }
            }
        })?;
    let mut sink = to.try_clone()?;
    let source = from.try_clone()?;
    let writer = std::thread::Builder::new()
        .name(format!("pop3-server-proxy-{name}-write"))
        .spawn(move || {
            for (due, chunk) in rx {
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                let written = match chunk {
                    Some(data) => sink.write_all(&data).is_ok(),
                    None => false,
                };
                if !written {
                    break;
                }
            }
            // Either side ended (or failed): close both.
            let _ = sink.shutdown(Shutdown::Both);
            let _ = source.shutdown(Shutdown::Both);
        })?;
    Ok(vec![reader, writer])
}

impl Drop for LatencyProxy {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take()
            && TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok()
        {
            let _ = acceptor.join();
        }
        let live = std::mem::take(&mut *lock(&self.shared.live));
        for (client, upstream, _) in &live {
            let _ = client.shutdown(Shutdown::Both);
            let _ = upstream.shutdown(Shutdown::Both);
        }
        for (_, _, threads) in live {
            for thread in threads {
                let _ = thread.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};

    use super::*;

    /// A line echo server; returns its address. It ends when the client disconnects.
    fn echo_server() -> io::Result<SocketAddr> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        std::thread::spawn(move || {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let _ = stream.set_nodelay(true);
            let Ok(mut out) = stream.try_clone() else {
                return;
            };
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { return };
                if out.write_all(format!("{line}\n").as_bytes()).is_err() {
                    return;
                }
            }
        });
        Ok(addr)
    }

    fn read_lines(reader: &mut impl BufRead, count: usize) -> io::Result<()> {
        let mut line = String::new();
        for _ in 0..count {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(())
    }

    #[test]
    fn adds_latency_without_throttling_pipelined_requests() -> io::Result<()> {
        let one_way = Duration::from_millis(20);
        let proxy = LatencyProxy::start(echo_server()?, one_way)?;
        let mut stream = TcpStream::connect(proxy.addr())?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut reader = BufReader::new(stream.try_clone()?);

        stream.write_all(b"ping\n")?;
        read_lines(&mut reader, 1)?;
        assert_eq!(proxy.round_trips(), 1);
        assert_eq!(proxy.one_way(), one_way);

        let mut requests = String::new();
        for i in 0..50 {
            requests.push_str("request ");
            requests.push_str(&i.to_string());
            requests.push('\n');
        }
        stream.write_all(requests.as_bytes())?;
        read_lines(&mut reader, 50)?;
        // Fifty pipelined requests: one more round trip, not fifty.
        assert_eq!(proxy.round_trips(), 2);
        for _ in 0..3 {
            stream.write_all(b"lockstep\n")?;
            read_lines(&mut reader, 1)?;
        }
        assert_eq!(proxy.round_trips(), 5);
        assert_eq!(proxy.connections(), 1);
        Ok(())
    }

    #[test]
    fn closes_the_client_when_the_target_closes() -> io::Result<()> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let target = listener.local_addr()?;
        let server = std::thread::spawn(move || -> io::Result<()> {
            let (mut stream, _) = listener.accept()?;
            stream.write_all(b"bye\n")?;
            Ok(())
        });
        let proxy = LatencyProxy::start(target, Duration::from_millis(5))?;
        let mut stream = TcpStream::connect(proxy.addr())?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut all = Vec::new();
        stream.read_to_end(&mut all)?;
        assert_eq!(all, b"bye\n");
        server
            .join()
            .map_err(|_| io::Error::other("server panicked"))??;
        Ok(())
    }
}

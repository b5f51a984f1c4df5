//! The session layer itself: connectors, bring-your-own streams, shared TLS
//! configuration, over every runtime.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Session, Target};
use pop3_session::{AsyncSession, BlockingSession, Connector, LoginConnector, TlsMode};
use pop3_testkit::mailbox;

/// A connector opens independent, logged-in sessions that work side by side.
async fn connector_opens_logged_in_sessions<S: Session, T: Target>() {
    let Some(server) = T::start(mailbox::generate(4, 1_000, 5)) else {
        return;
    };
    for mode in [TlsMode::Implicit, TlsMode::StartTls] {
        let connector = LoginConnector::<S>::new(server.options(mode), server.login());
        let mut first = connector.connect().await.expect("first session");
        let mut second = connector.connect().await.expect("second session");
        assert!(first.is_tls() && second.is_tls(), "{mode:?}");
        assert_eq!(first.uidl().await.unwrap(), second.uidl().await.unwrap());
        assert_eq!(first.stat().await.unwrap().messages, 4);
        first.quit().await.unwrap();
        second.quit().await.unwrap();
    }
}

/// Sessions opened from one set of options share its TLS configuration, so the second
/// handshake resumes the first session instead of doing a full one.
async fn sessions_from_one_options_resume_tls<S: Session>() {
    let server = pop3_testkit::TestServer::builder()
        .messages(mailbox::generate(1, 500, 1))
        .start();
    let options = <pop3_testkit::TestServer as Target>::options(&server, TlsMode::Implicit);
    let connector = LoginConnector::<S>::new(options, Target::login(&server));
    let first = connector.connect().await.unwrap();
    let info = first.tls_info().expect("TLS info");
    assert!(!info.resumed);
    assert!(!info.peer_certificates.is_empty());
    first.quit().await.unwrap();
    let second = connector.connect().await.unwrap();
    assert!(second.tls_info().expect("TLS info").resumed, "{}", S::NAME);
    second.quit().await.unwrap();
}

every_runtime_and_target!(connector_opens_logged_in_sessions);
on_every_runtime!(sessions_from_one_options_resume_tls);

/// Every adapter runs a session over a stream the caller connected.
#[test]
fn bring_your_own_stream_on_every_adapter() {
    let server = pop3_testkit::TestServer::builder()
        .messages(mailbox::generate(2, 800, 9))
        .start();
    let options = <pop3_testkit::TestServer as Target>::options(&server, TlsMode::Implicit);
    let login = || Target::login(&server);
    let addr = server.tls_addr();

    let tcp = std::net::TcpStream::connect(addr).unwrap();
    let mut sync = pop3_sync::Client::connect_with(tcp, &options).unwrap();
    sync.login(login()).unwrap();
    assert_eq!(BlockingSession::stat(&mut sync).unwrap().messages, 2);

    common::on_tokio(async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut tokio = pop3_tokio::Client::connect_with(tcp, &options)
            .await
            .unwrap();
        tokio.login(login()).await.unwrap();
        assert_eq!(tokio.stat().await.unwrap().messages, 2);
    });

    common::on_smol(async {
        let tcp = async_net::TcpStream::connect(addr).await.unwrap();
        let mut futures = pop3_futures::Client::connect_with(tcp, &options)
            .await
            .unwrap();
        futures.login(login()).await.unwrap();
        assert_eq!(futures.stat().await.unwrap().messages, 2);
    });
}

/// Socket buffers as small as the kernel allows, so that a few KiB fill them.
fn tiny_buffers(socket: &socket2::Socket) {
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket.set_send_buffer_size(4096).expect("SO_SNDBUF");
}

/// A server that writes a large answer to the first RETR before it reads another
/// command, as a server may. Returns its address and, when it ends, how many commands
/// it answered.
fn stubborn_server(big: usize) -> (std::net::SocketAddr, std::thread::JoinHandle<usize>) {
    use std::io::{BufRead, BufReader, Write};
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    tiny_buffers(&socket);
    let addr: std::net::SocketAddr = "127.0.0.1:0".parse().expect("addr");
    socket.bind(&addr.into()).expect("bind");
    socket.listen(1).expect("listen");
    let listener: std::net::TcpListener = socket.into();
    let addr = listener.local_addr().expect("addr");
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut out = stream.try_clone().expect("clone");
        let mut lines = BufReader::new(stream);
        out.write_all(b"+OK stubborn\r\n").expect("greeting");
        let mut answered = 0;
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).unwrap_or(0) == 0 {
                return answered;
            }
            answered += 1;
            let reply: Vec<u8> = match line.trim_end() {
                "CAPA" => b"+OK\r\nPIPELINING\r\nUSER\r\n.\r\n".to_vec(),
                "RETR 1" => {
                    // Written in full before anything else is read.
                    let mut body = b"+OK big\r\n".to_vec();
                    body.extend(
                        std::iter::repeat_n(b"0123456789abcde\r\n".as_slice(), big / 17).flatten(),
                    );
                    body.extend_from_slice(b".\r\n");
                    body
                }
                r if r.starts_with("RETR ") => b"+OK\r\nsmall\r\n.\r\n".to_vec(),
                "QUIT" => {
                    let _ = out.write_all(b"+OK bye\r\n");
                    return answered;
                }
                _ => b"+OK\r\n".to_vec(),
            };
            if out.write_all(&reply).is_err() {
                return answered;
            }
        }
    });
    (addr, server)
}

/// A pipelined batch far larger than the socket buffers, against a server that answers
/// before it reads on: a client that only reads once it has written everything would
/// block in its write while the server blocks in its own, until the timeout. The pump
/// reads while it writes, so the batch completes.
async fn a_large_batch_cannot_deadlock<S: Session>() {
    const BATCH: u32 = 6_000; // about 60 KiB of commands
    const BIG: usize = 4 << 20; // a 4 MiB first answer
    let (addr, server) = stubborn_server(BIG);
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    tiny_buffers(&socket);
    socket.connect(&addr.into()).expect("connect");
    let tcp: std::net::TcpStream = socket.into();
    tcp.set_nodelay(true).expect("nodelay");
    // The window must not be what keeps the batch small here.
    let config = pop3_session::Config::new()
        .window(pop3_session::Window::new().commands(100_000).bytes(1 << 20));
    let options = pop3_session::ConnectOptions::new("127.0.0.1")
        .port(addr.port())
        .tls(TlsMode::Plain)
        .protocol(config)
        .timeout(std::time::Duration::from_secs(20));
    let mut session = S::over(tcp, &options).await.expect("connect");
    session
        .login(
            pop3_session::Login::new("alice", "secret")
                .method(pop3_session::AuthMethod::User)
                .allow_plaintext(true),
        )
        .await
        .expect("login");
    let msgs: Vec<u32> = (1..=BATCH).collect();
    let mut sink = pop3_session::MessageBuffer::default();
    let outcomes = session
        .retr_many(&msgs, &mut sink)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", S::NAME));
    assert_eq!(outcomes.len(), BATCH as usize);
    assert_eq!(sink.messages.len(), BATCH as usize);
    assert_eq!(sink.messages[0].1.len(), BIG / 17 * 17);
    assert_eq!(sink.messages[1].1, b"small\r\n");
    session.quit().await.expect("quit");
    // CAPA, USER, PASS, CAPA, every RETR, QUIT.
    assert_eq!(server.join().expect("server"), 4 + BATCH as usize + 1);
}

on_every_runtime!(a_large_batch_cannot_deadlock);

/// About `size` bytes of message, CRLF, a third of whose lines start with `.` (the
/// server stuffs each, so each unstuffed run reaches the sink as a chunk of its own);
/// a line that is a lone dot among them.
fn dot_heavy(size: usize) -> Vec<u8> {
    let mut message = b"Subject: dots\r\n\r\n".to_vec();
    let mut i = 0;
    while message.len() < size {
        let line = match i % 3 {
            0 if i % 99 == 0 => ".\r\n".to_owned(),
            0 => format!(".line {i} begins with a dot\r\n"),
            _ => format!("line {i} of ordinary text, a little longer\r\n"),
        };
        message.extend_from_slice(line.as_bytes());
        i += 1;
    }
    message
}

/// `retr_to` into a plain writer hands it large blocks, however many unstuffed runs the
/// body arrives in: the writer's calls grow with the bytes (a call per 64 KiB at most,
/// give or take a few), never with the lines; and the bytes are the message exactly.
async fn retr_to_writes_in_large_blocks<S: Session>() {
    const BLOCK: usize = 64 * 1024;
    let message = dot_heavy(1 << 20);
    let server = pop3_testkit::TestServer::builder()
        .messages(vec![message.clone()])
        .start();
    let options = <pop3_testkit::TestServer as Target>::options(&server, TlsMode::Implicit);
    let mut session = S::dial(&options).await.unwrap();
    session.login(Target::login(&server)).await.unwrap();
    let (written, writer) = session.retr_counted(1).await.unwrap();
    assert_eq!(written, message.len() as u64, "{}", S::NAME);
    assert!(
        writer.bytes == message,
        "{}: the writer got {} bytes, not the message's {}",
        S::NAME,
        writer.bytes.len(),
        message.len()
    );
    let bound = message.len() / BLOCK + 4;
    assert!(
        writer.writes <= bound,
        "{}: {} writes for {} bytes (at most {bound})",
        S::NAME,
        writer.writes,
        message.len()
    );
    session.quit().await.unwrap();
}

on_every_runtime!(retr_to_writes_in_large_blocks);

/// Round trips from connect to the first command's answer, counted by the proxy (TLS
/// handshake included), for each TLS mode and the mechanisms `Auto` picks.
async fn connect_to_first_command_round_trips<S: Session>() {
    use pop3_session::MechanismKind;
    let cases = [
        // The TLS 1.3 handshake (2 client flights: hello, then finished, after which
        // the server greets), CAPA (1), AUTH PLAIN with its initial response (1), STAT
        // riding with the post-login CAPA (1).
        (TlsMode::Implicit, vec![MechanismKind::Plain], "PLAIN", 5),
        // USER and PASS pipelined behind each other: the same.
        (TlsMode::Implicit, vec![], "USER", 5),
        // SCRAM-SHA-256 always wins where offered: two more round trips for its proofs.
        (
            TlsMode::Implicit,
            vec![MechanismKind::ScramSha256],
            "SCRAM-SHA-256",
            7,
        ),
        // STLS: CAPA, STLS, the handshake (its finished flight carries CAPA again),
        // AUTH PLAIN, STAT.
        (TlsMode::StartTls, vec![MechanismKind::Plain], "PLAIN", 6),
    ];
    for (mode, sasl, method, expected) in cases {
        let server = pop3_testkit::TestServer::builder()
            .messages(mailbox::generate(3, 500, 2))
            .sasl(sasl)
            .start();
        let target = match mode {
            TlsMode::Implicit => server.tls_addr(),
            _ => server.addr(),
        };
        let proxy =
            pop3_testkit::LatencyProxy::start(target, std::time::Duration::from_millis(1)).unwrap();
        let options = common::options(proxy.addr(), mode, server.ca_pem());
        let mut session = S::dial(&options).await.unwrap();
        let outcome = session.login(Target::login(&server)).await.unwrap();
        assert_eq!(outcome.method, method);
        assert_eq!(session.stat().await.unwrap().messages, 3);
        assert_eq!(
            proxy.round_trips(),
            expected,
            "{} {mode:?} {method}",
            S::NAME
        );
        session.quit().await.unwrap();
    }
}

on_every_runtime!(connect_to_first_command_round_trips);

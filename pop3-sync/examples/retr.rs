//! Streams one message to stdout with the blocking client, never holding it in memory.
//!
//! ```text
//! POP3_PASSWORD=secret cargo run --release -p pop3-sync --example retr -- \
//!     HOST PORT USER MSG [CA.pem] > message.eml
//! ```
//! Implicit TLS; the optional PEM file adds trust anchors (for a test server).

use std::io::{BufWriter, Write};

use pop3_sync::BlockingSession as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port, user, msg, rest @ ..] = args.as_slice() else {
        return Err("usage: retr HOST PORT USER MSG [CA.pem]   (password in POP3_PASSWORD)".into());
    };
    let password = std::env::var("POP3_PASSWORD").map_err(|_| "set POP3_PASSWORD")?;
    let mut options = pop3_sync::ConnectOptions::new(host.as_str()).port(port.parse()?);
    if let Some(ca) = rest.first() {
        options = options.add_root_pem(&std::fs::read(ca)?)?;
    }
    let mut client = pop3_sync::Client::connect(&options)?;
    client.login(pop3_sync::Login::new(user.as_str(), password))?;
    let started = std::time::Instant::now();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let bytes = client.retr_to(msg.parse()?, &mut out)?;
    out.flush()?;
    let seconds = started.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)] // a rate for humans
    let rate = bytes as f64 / seconds / 1e6;
    eprintln!("retrieved {bytes} bytes in {seconds:.2} s ({rate:.0} MB/s)");
    client.quit()?;
    Ok(())
}

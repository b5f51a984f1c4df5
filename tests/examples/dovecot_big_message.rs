//! Starts a real Dovecot holding one message of the given size (default 1 GiB), written
//! to its Maildir in a streaming way, and waits until stdin closes. Prints the pop3s
//! port and the CA file, for measuring a client's memory while it retrieves the message:
//!
//! ```text
//! cargo run --release -p pop3-testkit --example dovecot_big_message -- 1073741824
//! ```

use std::io::{BufWriter, Read, Write};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let size: u64 = std::env::args().nth(1).map_or(Ok(1 << 30), |s| s.parse())?;
    let options = pop3_testkit::DovecotOptions::default();
    let dovecot = pop3_testkit::Dovecot::start(options)?.ok_or("Dovecot is not available")?;
    // Write the message straight into new/: never in memory.
    let path = dovecot.maildir().join("new").join("1.big.pop3-testkit");
    let mut file = BufWriter::new(std::fs::File::create(&path)?);
    file.write_all(b"From: big@example.org\r\nSubject: one big message\r\n\r\n")?;
    let line = [b"x".repeat(70).as_slice(), b".dot after\r\n"].concat();
    let mut written = 0u64;
    let mut n = 0u64;
    while written < size {
        // Every 16th line starts with a dot, so the decoder unstuffs throughout.
        let bytes: &[u8] = if n.is_multiple_of(16) {
            b".stuffed line\r\n"
        } else {
            &line
        };
        file.write_all(bytes)?;
        written += bytes.len() as u64;
        n += 1;
    }
    file.flush()?;
    drop(file);
    std::process::Command::new("chown")
        .args(["65534:65534"])
        .arg(&path)
        .status()?;
    let ca = dovecot.dir().join("client-ca.pem");
    std::fs::write(&ca, dovecot.ca_pem())?;
    println!("{} {}", dovecot.pop3s_addr().port(), ca.display());
    std::io::stdout().flush()?;
    // Keep Dovecot running until the caller closes our stdin.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    Ok(())
}

//! The mbox `From ` separator line: envelope sender and date from the message's own header
//! (`Return-Path`, `Date`), as mutt writes it, with `MAILER-DAEMON` and the time of receipt
//! as fallbacks.

use std::time::{SystemTime, UNIX_EPOCH};

use mail_parser::{HeaderValue, MessageParser};
use memchr::memmem;

/// Only this much of a message is searched for its header block: enough for any sane
/// header, and a bound for the hostile rest.
pub(crate) const HEADER_LIMIT: usize = 64 * 1024;

/// Collects the header block of a message as it streams by (at most [`HEADER_LIMIT`]).
#[derive(Debug, Default)]
pub(crate) struct HeaderScan {
    header: Vec<u8>,
    done: bool,
}

impl HeaderScan {
    /// Looks at the next raw bytes of the message.
    pub(crate) fn push(&mut self, input: &[u8]) {
        if self.done {
            return;
        }
        // A blank line may straddle the previous push: look back three bytes.
        let from = self.header.len().saturating_sub(3);
        let take = input.len().min(HEADER_LIMIT - self.header.len());
        self.header.extend_from_slice(&input[..take]);
        let window = &self.header[from..];
        let end = [&b"\n\n"[..], b"\n\r\n"]
            .iter()
            .filter_map(|blank| memmem::find(window, blank).map(|i| from + i + blank.len()))
            .min();
        if let Some(end) = end {
            self.header.truncate(end);
            self.done = true;
        } else if self.header.len() == HEADER_LIMIT {
            self.done = true;
        }
    }

    /// The `From ` line for this message, received at `received`.
    pub(crate) fn separator(&self, received: SystemTime) -> String {
        let (sender, date) = envelope(&self.header);
        let sender = sender.unwrap_or_else(|| "MAILER-DAEMON".to_owned());
        let secs = date.unwrap_or_else(|| {
            received
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
        format!("From {sender} {}\n", asctime(secs))
    }
}

/// The envelope sender (from `Return-Path`) and the date (from `Date`, as Unix seconds).
fn envelope(header: &[u8]) -> (Option<String>, Option<u64>) {
    let Some(message) = MessageParser::new().parse_headers(header) else {
        return (None, None);
    };
    let sender = match message.return_path() {
        HeaderValue::Text(t) => Some(t.as_ref()),
        HeaderValue::TextList(list) => list.first().map(AsRef::as_ref),
        _ => None,
    }
    // The separator is space-separated: an address that would break it is not used.
    .filter(|s| !s.is_empty() && s.bytes().all(|b| (0x21..=0x7E).contains(&b)))
    .map(str::to_owned);
    let date = message
        .date()
        .filter(|d| d.is_valid())
        .and_then(|d| u64::try_from(d.to_timestamp()).ok())
        // asctime's year has four digits.
        .filter(|&secs| secs < 253_402_300_800);
    (sender, date)
}

/// `asctime`-style UTC date for the `From ` separator line: `Thu Jan  1 00:00:00 1970`.
pub(crate) fn asctime(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {day:2} {:02}:{:02}:{:02} {year}",
        DAYS[(days % 7) as usize],
        MONTHS[usize::try_from(month - 1).unwrap_or(0)],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn line(message: &[u8], chunk: usize) -> String {
        let mut scan = HeaderScan::default();
        for c in message.chunks(chunk) {
            scan.push(c);
        }
        scan.separator(UNIX_EPOCH + Duration::from_secs(1_000_000_000))
    }

    #[test]
    fn asctime_dates() {
        assert_eq!(asctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(asctime(951_782_400), "Tue Feb 29 00:00:00 2000");
        assert_eq!(asctime(1_795_608_000), "Wed Nov 25 12:00:00 2026");
    }

    #[test]
    fn uses_return_path_and_date_in_utc() {
        let m = b"Return-Path: <bob@example.org>\r\nDate: Wed, 25 Nov 2026 14:00:00 +0200\r\n\
                  Subject: hi\r\n\r\nFrom the body: Return-Path: <evil@x>\r\n";
        for chunk in [1, 2, 3, 7, 1000] {
            assert_eq!(
                line(m, chunk),
                "From bob@example.org Wed Nov 25 12:00:00 2026\n"
            );
        }
    }

    #[test]
    fn falls_back_to_mailer_daemon_and_receipt_time() {
        let received = "Sun Sep  9 01:46:40 2001";
        assert_eq!(
            line(b"Subject: x\r\n\r\nbody", 4),
            format!("From MAILER-DAEMON {received}\n")
        );
        // A null sender (bounce) and an unparseable date.
        assert_eq!(
            line(b"Return-Path: <>\r\nDate: yesterday-ish\r\n\r\n", 5),
            format!("From MAILER-DAEMON {received}\n")
        );
        // An address that would break the space-separated line.
        assert_eq!(
            line(
                b"Return-Path: <\"a b\"@x>\nDate: Thu, 1 Jan 2004 00:00:00 +0000\n\n",
                64
            ),
            "From MAILER-DAEMON Thu Jan  1 00:00:00 2004\n"
        );
        // Header lines after the blank line are body, not header.
        assert_eq!(
            line(b"Subject: x\n\nReturn-Path: <late@x>\n", 3),
            format!("From MAILER-DAEMON {received}\n")
        );
    }

    #[test]
    fn the_header_scan_is_bounded() {
        let mut scan = HeaderScan::default();
        let huge = vec![b'x'; 1 << 20];
        scan.push(b"Return-Path: <a@b>\r\nX-Long: ");
        scan.push(&huge);
        scan.push(b"\r\n\r\n");
        assert_eq!(scan.header.len(), HEADER_LIMIT);
        assert!(scan.separator(UNIX_EPOCH).starts_with("From "));
    }
}

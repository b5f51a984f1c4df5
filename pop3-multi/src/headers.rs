//! `list_messages`: what `TOP n 0` says about each message.

use pop3_session::Uid;

/// Header bytes kept per message: enough for any real header block, bounded so that a
/// hostile server cannot make a listing grow without limit.
pub(crate) const MAX_HEADER: usize = 64 * 1024;

/// One message, as `list_messages` reports it (Aspose.Email's `ListMessages`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MessageInfo {
    /// Its number in the snapshot the listing was planned from.
    pub number: u32,
    /// Its unique-id.
    pub uid: Option<Uid>,
    /// Its size in octets, as the server counts them.
    pub size: u64,
    /// `Subject`, RFC 2047-decoded.
    pub subject: Option<String>,
    /// `From`, decoded: `Name <address>`, or the address.
    pub from: Option<String>,
    /// `To`, decoded, addresses separated by `, `.
    pub to: Option<String>,
    /// `Date`, as RFC 3339 when it parses, else as sent.
    pub date: Option<String>,
    /// `Message-ID`, without angle brackets.
    pub message_id: Option<String>,
    /// The raw header block (at most 64 KiB of it), line ends as sent.
    pub raw_headers: Vec<u8>,
}

impl MessageInfo {
    pub(crate) fn parse(number: u32, uid: Uid, size: u64, header: &[u8]) -> Self {
        let mut info = Self {
            number,
            uid: Some(uid),
            size,
            raw_headers: header.to_vec(),
            ..Self::default()
        };
        let Some(message) = mail_parser::MessageParser::new().parse_headers(header) else {
            return info;
        };
        info.subject = message.subject().map(str::to_owned);
        info.from = message.from().map(addresses);
        info.to = message.to().map(addresses);
        info.date = message.date().map(mail_parser::DateTime::to_rfc3339);
        info.message_id = message.message_id().map(str::to_owned);
        info
    }
}

fn addresses(address: &mail_parser::Address<'_>) -> String {
    address
        .iter()
        .map(|a| match (a.name(), a.address()) {
            (Some(name), Some(addr)) => format!("{name} <{addr}>"),
            (Some(name), None) => name.to_owned(),
            (None, Some(addr)) => addr.to_owned(),
            (None, None) => String::new(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_decoded() {
        let header = b"From: =?UTF-8?B?w4lsb2RpZQ==?= <elodie@example.org>\r\n\
To: a@example.org, Bob <b@example.org>\r\n\
Subject: =?UTF-8?Q?caf=C3=A9?= menu\r\n\
Date: Tue, 1 Jul 2025 10:52:37 +0200\r\n\
Message-ID: <42@example.org>\r\n\r\n";
        let info = MessageInfo::parse(3, Uid::new("u3").expect("uid"), 900, header);
        assert_eq!(info.number, 3);
        assert_eq!(info.subject.as_deref(), Some("café menu"));
        assert_eq!(info.from.as_deref(), Some("Élodie <elodie@example.org>"));
        assert_eq!(
            info.to.as_deref(),
            Some("a@example.org, Bob <b@example.org>")
        );
        assert_eq!(info.date.as_deref(), Some("2025-07-01T10:52:37+02:00"));
        assert_eq!(info.message_id.as_deref(), Some("42@example.org"));
        assert_eq!(info.raw_headers, header);
    }

    #[test]
    fn garbage_headers_leave_the_fields_empty() {
        let info = MessageInfo::parse(1, Uid::new("x").expect("uid"), 1, b"\xff\xfe\x00");
        assert_eq!(info.subject, None);
        assert_eq!(info.size, 1);
    }
}

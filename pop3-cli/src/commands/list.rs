//! `pop3 list [--headers]`.

use pop3_tokio::AsyncSession as _;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::process::ExitCode;

use mail_parser::MessageParser;
use pop3_proto::task::BodyEvent;
use pop3_session::AsyncBodySink;

use crate::args::ListArgs;
use crate::connect::Target;
use crate::error::CliError;
use crate::output;

/// The header fields `list --headers` shows, decoded (RFC 2047) and made safe to print.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct HeaderFields {
    pub(crate) date: String,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) subject: String,
    pub(crate) message_id: String,
}

impl HeaderFields {
    /// Parses a header block (the answer to `TOP n 0`).
    pub(crate) fn parse(header: &[u8]) -> Self {
        let Some(message) = MessageParser::default().parse_headers(header) else {
            return Self::default();
        };
        let address = |a: Option<&mail_parser::Address<'_>>| {
            a.and_then(|a| a.first())
                .map(|addr| match (addr.name(), addr.address()) {
                    (Some(name), Some(address)) => format!("{name} <{address}>"),
                    (None, Some(address)) => address.to_owned(),
                    (Some(name), None) => name.to_owned(),
                    (None, None) => String::new(),
                })
                .unwrap_or_default()
        };
        Self {
            date: message
                .date()
                .map(mail_parser::DateTime::to_rfc3339)
                .unwrap_or_default(),
            from: output::clean(&address(message.from())),
            to: output::clean(&address(message.to())),
            subject: output::clean(message.subject().unwrap_or_default()),
            message_id: output::clean(message.message_id().unwrap_or_default()),
        }
    }
}

/// Largest header block kept per message; the rest of a hostile header is ignored.
const MAX_HEADER: usize = 256 * 1024;

/// Collects `TOP n 0` answers and keeps only the parsed fields.
#[derive(Default)]
struct HeaderSink {
    current: Vec<u8>,
    fields: HashMap<u32, HeaderFields>,
}

impl AsyncBodySink for HeaderSink {
    fn body(&mut self, event: BodyEvent) -> impl Future<Output = io::Result<()>> + Send {
        match event {
            BodyEvent::Start { .. } => self.current.clear(),
            BodyEvent::Data { chunk, .. } => {
                let room = MAX_HEADER.saturating_sub(self.current.len());
                self.current
                    .extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            BodyEvent::End { msg } => {
                self.fields.insert(msg, HeaderFields::parse(&self.current));
            }
            _ => {}
        }
        std::future::ready(Ok(()))
    }
}

/// One line per message: `NUMBER UID SIZE`, with `--headers` also date, from and
/// subject, tab-separated.
pub(crate) async fn run(
    target: &Target,
    args: &ListArgs,
    json: bool,
) -> Result<ExitCode, CliError> {
    let mut client = target.session().await?;
    let uids = client.uidl().await?;
    let sizes: HashMap<u32, u64> = client
        .list()
        .await?
        .into_iter()
        .map(|s| (s.msg, s.octets))
        .collect();
    let mut headers = HeaderSink::default();
    if args.headers {
        let msgs: Vec<u32> = uids.iter().map(|u| u.msg).collect();
        client.top_many(&msgs, 0, &mut headers).await?;
    }
    client.quit().await?;
    for item in &uids {
        let size = sizes.get(&item.msg).copied().unwrap_or_default();
        let fields = headers.fields.remove(&item.msg);
        if json {
            let mut object = serde_json::json!({
                "number": item.msg, "uid": item.uid.as_str(), "size": size,
            });
            if let (Some(f), Some(map)) = (&fields, object.as_object_mut()) {
                for (key, value) in [
                    ("date", &f.date),
                    ("from", &f.from),
                    ("to", &f.to),
                    ("subject", &f.subject),
                    ("message_id", &f.message_id),
                ] {
                    map.insert(key.into(), value.as_str().into());
                }
            }
            output::json(&object);
        } else if args.headers {
            let f = fields.unwrap_or_default();
            output::line(&format!(
                "{} {} {size}\t{}\t{}\t{}",
                item.msg, item.uid, f.date, f.from, f.subject
            ));
        } else {
            output::line(&format!("{} {} {size}", item.msg, item.uid));
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_rfc2047_and_formats_addresses() {
        let f = HeaderFields::parse(
            b"From: =?UTF-8?Q?Andr=C3=A9?= <andre@example.org>\r\nTo: bob@example.com\r\n\
              Subject: =?UTF-8?B?w6ljb2xl?= dots\r\nDate: Tue, 25 Nov 2026 10:00:00 +0000\r\n\
              Message-ID: <1@x>\r\n\r\n",
        );
        assert_eq!(f.from, "André <andre@example.org>");
        assert_eq!(f.to, "bob@example.com");
        assert_eq!(f.subject, "école dots");
        assert_eq!(f.date, "2026-11-25T10:00:00Z");
        assert_eq!(f.message_id, "1@x");
        assert_eq!(HeaderFields::parse(b"\r\n"), HeaderFields::default());
    }

    #[test]
    fn hostile_header_text_cannot_drive_the_terminal() {
        let f = HeaderFields::parse(b"Subject: a\x1b[2Jb\r\n\r\n");
        assert!(!f.subject.contains('\x1b'));
    }
}

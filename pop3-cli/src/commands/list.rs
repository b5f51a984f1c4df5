//! `pop3 list [--headers]`: the maildrop by number, UID and size; with `--headers` also
//! date, from and subject, listed by as many connections as `--connections` allows
//! (`pop3-multi`'s `list_messages`, the commercial libraries' `ListMessages`).

use pop3_tokio::AsyncSession as _;
use std::process::ExitCode;

use pop3_multi::MessageInfo;

use crate::args::ListArgs;
use crate::connect::Target;
use crate::error::{CliError, exit};
use crate::output;
use crate::progress::Bar;

pub(crate) async fn run(
    target: &Target,
    args: &ListArgs,
    json: bool,
    quiet: bool,
) -> Result<ExitCode, CliError> {
    if !args.headers {
        // UIDL and LIST, pipelined, on one connection: one round trip.
        let mut client = target.session().await?;
        let entries = client.snapshot().await?;
        client.quit().await?;
        for entry in entries {
            if json {
                output::json(&serde_json::json!({
                    "number": entry.msg, "uid": entry.uid.as_str(), "size": entry.size,
                }));
            } else {
                output::line(&format!("{} {} {}", entry.msg, entry.uid, entry.size));
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let bar = std::sync::Arc::new(Bar::new(!json && !quiet, true));
    let events = std::sync::Arc::clone(&bar);
    let listing = target
        .multi()?
        .on_progress(move |event| events.event(event))
        .list_messages()
        .await;
    bar.finish();
    let listing = listing?;
    tracing::info!(sessions = listing.sessions, "listed");
    for message in &listing.messages {
        print(message, json);
    }
    for (uid, failure) in &listing.failed {
        output::error(&format!(
            "no headers for {}: {}",
            output::clean(uid.as_str()),
            output::clean(&failure.to_string())
        ));
    }
    Ok(if listing.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::PARTIAL)
    })
}

/// One message: `NUMBER UID SIZE\tDATE\tFROM\tSUBJECT`, or its JSON object.
fn print(message: &MessageInfo, json: bool) {
    let field = |value: &Option<String>| output::clean(value.as_deref().unwrap_or_default());
    let uid = message.uid.as_ref().map_or("", |u| u.as_str());
    if json {
        output::json(&serde_json::json!({
            "number": message.number,
            "uid": uid,
            "size": message.size,
            "date": field(&message.date),
            "from": field(&message.from),
            "to": field(&message.to),
            "subject": field(&message.subject),
            "message_id": field(&message.message_id),
        }));
    } else {
        output::line(&format!(
            "{} {uid} {}\t{}\t{}\t{}",
            message.number,
            message.size,
            field(&message.date),
            field(&message.from),
            field(&message.subject)
        ));
    }
}

//! `pop3 dele UID...`: deletion by UID, never by message number across sessions.

use pop3_tokio::AsyncSession as _;
use std::process::ExitCode;

use crate::args::DeleArgs;
use crate::connect::Target;
use crate::error::{CliError, exit};

pub(crate) async fn run(
    target: &Target,
    args: &DeleArgs,
    json: bool,
) -> Result<ExitCode, CliError> {
    let mut client = target.session().await?;
    let listing = client.uidl().await?;
    let found: Vec<(u32, &str)> = args
        .uids
        .iter()
        .filter_map(|uid| {
            listing
                .iter()
                .find(|u| u.uid.as_str() == uid)
                .map(|u| (u.msg, uid.as_str()))
        })
        .collect();
    let msgs: Vec<u32> = found.iter().map(|(msg, _)| *msg).collect();
    let outcomes = client.dele_many(&msgs).await?;
    let quit = client.quit().await?;
    let mut deleted = 0;
    for uid in &args.uids {
        let outcome = found
            .iter()
            .find(|(_, u)| u == uid)
            .and_then(|(msg, _)| outcomes.iter().find(|o| o.msg == *msg));
        let result = super::deletion(outcome, &quit);
        deleted += usize::from(result.is_ok());
        super::report_deletion(uid, &result, json, true);
    }
    Ok(match deleted {
        d if d == args.uids.len() => ExitCode::SUCCESS,
        0 => ExitCode::from(exit::ERROR),
        _ => ExitCode::from(exit::PARTIAL),
    })
}

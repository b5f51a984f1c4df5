//! `pop3 dele UID...`: deletion by UID, never by message number across sessions, through
//! `pop3-multi` (each deletion reported as committed by QUIT, or not and why).

use std::collections::HashMap;
use std::process::ExitCode;

use pop3_multi::{DeletionOutcome, Selection};

use crate::args::DeleArgs;
use crate::connect::Target;
use crate::error::{CliError, exit};

pub(crate) async fn run(
    target: &Target,
    args: &DeleArgs,
    json: bool,
) -> Result<ExitCode, CliError> {
    let report = target
        .multi()?
        .delete(&Selection::Uids(args.uids.clone()))
        .await?;
    let outcomes: HashMap<&str, &DeletionOutcome> = report
        .deletions
        .iter()
        .map(|d| (d.uid.as_str(), &d.outcome))
        .collect();
    let mut deleted = 0;
    for uid in &args.uids {
        let result = match outcomes.get(uid.as_str()) {
            None => Err("no such UID on the server".to_owned()),
            Some(DeletionOutcome::Committed) => Ok(()),
            Some(other) => Err(super::why_not_deleted(other)),
        };
        deleted += usize::from(result.is_ok());
        super::report_deletion(uid, &result, json, true);
    }
    Ok(match deleted {
        d if d == args.uids.len() => ExitCode::SUCCESS,
        0 => ExitCode::from(exit::ERROR),
        _ => ExitCode::from(exit::PARTIAL),
    })
}

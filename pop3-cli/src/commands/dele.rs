//! `pop3 dele UID...`: deletion by UID, never by message number across sessions, through
//! `pop3-multi` (each deletion reported as committed by QUIT, or not and why).

use std::collections::{HashMap, HashSet};
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
    let unknown: HashSet<&str> = report.unknown.iter().map(String::as_str).collect();
    let (mut deleted, mut refused) = (0, 0);
    for uid in &args.uids {
        if unknown.contains(uid.as_str()) {
            // As fetch --uid reports it: a partial result, not a failure of the run.
            super::report_unknown_uid(uid, json);
            continue;
        }
        let result = match outcomes.get(uid.as_str()) {
            Some(DeletionOutcome::Committed) => Ok(()),
            Some(other) => Err(super::why_not_deleted(other)),
            None => Err("not attempted".to_owned()),
        };
        if result.is_ok() {
            deleted += 1;
        } else {
            refused += 1;
        }
        super::report_deletion(uid, &result, json, true);
    }
    // Every UID was deleted, or the result is partial: a deletion refused, rolled back
    // or not sent leaves the message on the server, as an unknown UID names none. Each
    // was reported on its own line; the run itself did not fail.
    Ok(if deleted == args.uids.len() && refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::PARTIAL)
    })
}

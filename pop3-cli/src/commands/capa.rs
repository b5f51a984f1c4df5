//! `pop3 capa`.

use pop3_tokio::AsyncSession as _;
use std::process::ExitCode;

use pop3_proto::task::Negotiate;
use pop3_session::Discard;

use crate::connect::Target;
use crate::error::CliError;
use crate::output;

/// Prints the capabilities as the server sent them, after STLS with `--tls starttls`.
pub(crate) async fn run(target: &Target, json: bool) -> Result<ExitCode, CliError> {
    let mut client = target.connect().await?;
    let capabilities = client.run(Negotiate::new(), &mut Discard).await?;
    // Best effort: the answer is already in hand.
    let _ = client.quit().await;
    let Some(capabilities) = capabilities else {
        // Not an error: such a server is simply older than the command.
        output::note(
            "the server does not support CAPA: it predates RFC 2449 (1998), so it advertises \
             nothing (no PIPELINING, no SASL, no UIDL or TOP guaranteed)",
        );
        if json {
            output::json(&serde_json::json!({ "capa": false }));
        }
        return Ok(ExitCode::SUCCESS);
    };
    for line in capabilities.lines() {
        let line = output::clean(line);
        if json {
            output::json(&serde_json::json!({ "capability": line }));
        } else {
            output::line(&line);
        }
    }
    Ok(ExitCode::SUCCESS)
}

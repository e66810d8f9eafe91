//! `raw`: one WebSocket frame as the step writes it, sent by the client as it is.

use base64::Engine as _;

use super::{Cause, Family, Runner};
use crate::client::Command;
use crate::codec::engine::Frame;
use crate::scenario::RawStep;

impl Family for RawStep {
    async fn run(&self, runner: &mut Runner<'_>) -> Result<(), Cause> {
        let raw = self;
        let frame = match (&raw.text, &raw.binary) {
            (Some(text), _) => Frame::Text(format!(
                "{}{}{}",
                runner.text(raw.prefix.as_deref().unwrap_or_default())?,
                runner.text(text)?.repeat(raw.repeat_text.unwrap_or(1)),
                runner.text(raw.suffix.as_deref().unwrap_or_default())?,
            )),
            (None, Some(encoded)) => Frame::Binary(
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .map_err(|e| Cause::Invalid(format!("binary is not base64: {e}")))?,
            ),
            (None, None) => return Err(Cause::Invalid("`raw` needs `text` or `binary`".into())),
        };
        Ok(runner.slot(&raw.client)?.client.send(Command::Raw(frame))?)
    }
}

//! A client-side reader of Server-Sent Events, for the CLI and the tests: feed it
//! bytes as they arrive, take whole events out.
//!
//! It follows the WHATWG rules that matter here: lines end in LF, CRLF or CR; a
//! blank line ends an event; `:` starts a comment; `data` lines are joined with
//! LF; `id` and `event` apply to the event they are in; an event with no data
//! is not dispatched.

/// One received event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseMessage {
    /// `message` unless the server named it.
    pub event: String,
    pub data: String,
    /// The `id` field, if this event had one.
    pub id: Option<String>,
}

#[derive(Debug, Default)]
pub struct SseParser {
    buffer: Vec<u8>,
    /// A CR ended the last line; an LF right after it belongs to it.
    after_cr: bool,
    event: Option<String>,
    data: Option<String>,
    id: Option<String>,
}

impl SseParser {
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Adds received bytes; returns the events they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseMessage> {
        let mut out = Vec::new();
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.buffer);
                    if let Some(message) = self.line(&String::from_utf8_lossy(&line)) {
                        out.push(message);
                    }
                }
                _ => self.buffer.push(b),
            }
        }
        out
    }

    fn line(&mut self, line: &str) -> Option<SseMessage> {
        if line.is_empty() {
            let id = self.id.take();
            let event = self.event.take();
            let data = self.data.take()?;
            return Some(SseMessage {
                event: event.unwrap_or_else(|| "message".into()),
                data,
                id,
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            "event" => self.event = Some(value.to_string()),
            "id" if !value.contains('\0') => self.id = Some(value.to_string()),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_and_line_endings_are_whole() {
        let mut p = SseParser::new();
        assert!(p
            .feed(b": hello\r\nretry: 1000\r\n\r\nid: 7\ndata: {\"a\"")
            .is_empty());
        let got = p.feed(b":1}\n\nevent: resync\rdata: x\rdata: y\r\r");
        assert_eq!(
            got,
            vec![
                SseMessage {
                    event: "message".into(),
                    data: "{\"a\":1}".into(),
                    id: Some("7".into()),
                },
                SseMessage {
                    event: "resync".into(),
                    data: "x\ny".into(),
                    id: None,
                },
            ]
        );
    }

    #[test]
    fn a_crlf_split_between_chunks_is_one_line_end() {
        let mut p = SseParser::new();
        assert!(p.feed(b"data: a\r").is_empty());
        assert_eq!(p.feed(b"\n\r\n").len(), 1);
    }
}

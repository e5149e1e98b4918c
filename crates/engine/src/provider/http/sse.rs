//! A server-sent events decoder (the WHATWG `text/event-stream` format): bytes
//! in, whole events out. Lines may end in LF, CRLF or CR, and a chunk may end
//! anywhere, even inside a UTF-8 character or between the CR and LF of one line.

/// One dispatched event. `event` is `None` for the default type ("message").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

#[derive(Debug, Default)]
pub(crate) struct SseDecoder {
    /// Bytes of the line being read.
    line: Vec<u8>,
    /// The last byte seen was a CR: a LF right after it ends nothing more.
    after_cr: bool,
    started: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseDecoder {
    /// Feeds bytes; returns the events they complete, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for &b in bytes {
            match b {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    self.end_line(&mut out);
                }
                _ => {
                    self.after_cr = false;
                    self.line.push(b);
                }
            }
        }
        out
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let mut line = std::mem::take(&mut self.line);
        if !self.started {
            self.started = true;
            if line.starts_with("\u{feff}".as_bytes()) {
                line.drain(..3);
            }
        }
        if line.is_empty() {
            // A blank line dispatches the event, if it had data.
            let event = self.event.take();
            if self.has_data {
                self.has_data = false;
                let mut data = std::mem::take(&mut self.data);
                data.pop(); // the LF after the last data line
                out.push(SseEvent { event, data });
            }
            return;
        }
        if line[0] == b':' {
            return; // a comment (keep-alive)
        }
        let text = String::from_utf8_lossy(&line);
        let (field, value) = match text.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (text.as_ref(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_string()),
            "data" => {
                self.has_data = true;
                self.data.push_str(value);
                self.data.push('\n');
            }
            _ => {} // id, retry and unknown fields do not matter here
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut d = SseDecoder::default();
        chunks.iter().flat_map(|c| d.push(c)).collect()
    }

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(String::from),
            data: data.into(),
        }
    }

    #[test]
    fn events_split_anywhere_decode_the_same() {
        let text = "event: a\r\ndata: one\r\n\r\n: ping\n\ndata:two\ndata:  three\n\nevent: b\rdata: é\r\r";
        let want = vec![
            ev(Some("a"), "one"),
            ev(None, "two\n three"),
            ev(Some("b"), "é"),
        ];
        assert_eq!(all(&[text.as_bytes()]), want);
        let bytes = text.as_bytes();
        for cut in 1..bytes.len() {
            assert_eq!(all(&[&bytes[..cut], &bytes[cut..]]), want, "cut at {cut}");
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(all(&singles), want);
    }

    #[test]
    fn an_unterminated_event_is_not_dispatched_and_a_bom_is_skipped() {
        assert_eq!(all(&[b"data: partial"]), vec![]);
        assert_eq!(
            all(&["\u{feff}data: x\n\n".as_bytes()]),
            vec![ev(None, "x")]
        );
        // An event field alone, with no data, dispatches nothing.
        assert_eq!(all(&[b"event: ping\n\n"]), vec![]);
        assert_eq!(all(&[b"data\n\n"]), vec![ev(None, "")]);
    }
}

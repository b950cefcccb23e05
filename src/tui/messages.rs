//! The message log: every notice and error the dashboard shows, kept whole. The status line
//! shows the newest (cut to the screen, with a hint), the log overlay all of them.

/// How a message reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub level: Level,
    pub text: String,
    /// Seconds since the dashboard opened.
    pub at: u64,
}

/// Most messages kept; older ones are dropped first.
const MAX_MESSAGES: usize = 1000;

/// The log.
#[derive(Debug)]
pub struct Messages {
    entries: Vec<Message>,
    opened: std::time::Instant,
    /// Messages before this index were on screen when the user changed tab: the status line
    /// no longer shows them (the log still does).
    seen: usize,
}

impl Default for Messages {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            opened: std::time::Instant::now(),
            seen: 0,
        }
    }
}

impl Messages {
    fn push(&mut self, level: Level, text: String) {
        // One message per line of the log: the text may hold several lines.
        let at = self.opened.elapsed().as_secs();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            self.entries.push(Message {
                level,
                text: line.trim_end().to_string(),
                at,
            });
        }
        if self.entries.len() > MAX_MESSAGES {
            let dropped = self.entries.len() - MAX_MESSAGES;
            self.entries.drain(..dropped);
            self.seen = self.seen.saturating_sub(dropped);
        }
    }

    /// Adds a notice.
    pub fn info(&mut self, text: impl Into<String>) {
        self.push(Level::Info, text.into());
    }

    /// Adds an error.
    pub fn error(&mut self, text: impl Into<String>) {
        self.push(Level::Error, text.into());
    }

    /// The newest message.
    pub fn latest(&self) -> Option<&Message> {
        self.entries.last()
    }

    /// The newest message not yet moved past (see [`Messages::move_on`]).
    pub fn current(&self) -> Option<&Message> {
        self.entries.get(self.seen..).and_then(<[Message]>::last)
    }

    /// The messages so far are old news: the status line is left empty until the next one.
    pub fn move_on(&mut self) {
        self.seen = self.entries.len();
    }

    /// Every message, oldest first.
    pub fn all(&self) -> &[Message] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_and_multi_line_messages_are_kept_whole() {
        let mut m = Messages::default();
        let long = "x".repeat(500);
        m.info(long.clone());
        m.error("first line\n  second line\n");
        assert_eq!(m.all().len(), 3);
        assert_eq!(m.all()[0].text, long);
        assert_eq!(m.latest().unwrap().text, "  second line");
        assert_eq!(m.latest().unwrap().level, Level::Error);
    }
}

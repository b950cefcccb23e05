//! A plain HTTP(S) GET of one file with a bound on every wait: name lookup, connect, the answer
//! and each read of the body. The Hub serves its files as such GETs
//! (`{endpoint}/datasets/{repo}/resolve/{revision}/{file}`).
//!
//! Why not hf-hub 0.4's download: its `ApiBuilder` builds its ureq agents itself with no read
//! timeout and offers no way to set one or to pass an agent, so a Hub that stalls hangs it for
//! ever; it also panics on a 3xx without `Location` and on a status below 100.

use std::io::{Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Why a GET failed: the network or the server (a one-line message, URL not included), or
/// writing what arrived.
#[derive(Debug)]
pub enum GetError {
    Http(String),
    Write(std::io::Error),
}

/// An HTTP client whose every wait ends after `timeout`.
pub struct Client {
    agent: ureq::Agent,
    timeout: Duration,
}

impl Client {
    pub fn new(timeout: Duration) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(timeout)
            .timeout_read(timeout)
            .timeout_write(timeout)
            .resolver(TimedResolver(timeout))
            .try_proxy_from_env(true)
            .user_agent(concat!("classgen/", env!("CARGO_PKG_VERSION")))
            .build();
        Self { agent, timeout }
    }

    /// GETs `url` into `out`: at most `limit` bytes, all that `Content-Length` announces, with a
    /// progress bar on stderr if `progress`. Returns the bytes written.
    pub fn get(
        &self,
        url: &str,
        out: &mut impl Write,
        limit: u64,
        progress: bool,
    ) -> Result<u64, GetError> {
        let http = |message: String| GetError::Http(message);
        let response = self.agent.get(url).call().map_err(|e| match e {
            ureq::Error::Status(code, response) => {
                http(format!("HTTP {code} {}", response.status_text()))
            }
            ureq::Error::Transport(t) => http(self.transport_message(&t)),
        })?;
        match response.status() {
            200 => {}
            code @ 300..=399 => {
                return Err(http(format!(
                    "redirect (HTTP {code} {}) without a Location header",
                    response.status_text()
                )))
            }
            code => {
                return Err(http(format!(
                    "unexpected HTTP status {code:03} {}",
                    response.status_text()
                )))
            }
        }
        let announced = response
            .header("Content-Length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(len) = announced.filter(|&len| len > limit) {
            return Err(http(format!(
                "the file is {len} bytes, more than the {limit}-byte limit"
            )));
        }
        let bar = if progress {
            announced.map_or_else(ProgressBar::no_length, ProgressBar::new)
        } else {
            ProgressBar::hidden()
        };
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style);
        }
        bar.set_message(url.rsplit('/').next().unwrap_or(url).to_string());
        let result = self.copy_body(response.into_reader(), out, limit, announced, &bar);
        bar.finish_and_clear();
        result
    }

    /// Copies the body into `out`, checking it against `limit` and the announced length.
    fn copy_body(
        &self,
        mut body: impl Read,
        out: &mut impl Write,
        limit: u64,
        announced: Option<u64>,
        bar: &ProgressBar,
    ) -> Result<u64, GetError> {
        let of = |received: u64| match announced {
            Some(len) => format!("{received} of {len} bytes"),
            None => format!("{received} bytes"),
        };
        let mut buf = vec![0u8; 64 << 10];
        let mut received = 0u64;
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if is_timeout(&e) => {
                    return Err(GetError::Http(format!(
                        "no data for {:?} after {} (data.hub_timeout_secs)",
                        self.timeout,
                        of(received)
                    )))
                }
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Err(GetError::Http(format!(
                        "the connection closed after {}",
                        of(received)
                    )))
                }
                Err(e) => {
                    return Err(GetError::Http(format!(
                        "the download failed after {}: {e}",
                        of(received)
                    )))
                }
            };
            received += n as u64;
            if received > limit {
                return Err(GetError::Http(format!(
                    "more than the {limit}-byte limit arrived"
                )));
            }
            out.write_all(&buf[..n]).map_err(GetError::Write)?;
            bar.inc(n as u64);
        }
        if announced.is_some_and(|len| len != received) {
            return Err(GetError::Http(format!(
                "the connection closed after {}",
                of(received)
            )));
        }
        Ok(received)
    }

    /// One line for a failure before the answer: what failed and why, each cause once.
    fn transport_message(&self, t: &ureq::Transport) -> String {
        let io = std::error::Error::source(t).and_then(|s| s.downcast_ref::<std::io::Error>());
        if t.kind() != ureq::ErrorKind::Dns && io.is_some_and(is_timeout) {
            return format!(
                "no answer within {:?} (data.hub_timeout_secs)",
                self.timeout
            );
        }
        let what = match t.kind() {
            ureq::ErrorKind::Dns => "cannot look up the host",
            ureq::ErrorKind::ConnectionFailed => "cannot connect",
            ureq::ErrorKind::TooManyRedirects => "too many redirects",
            ureq::ErrorKind::BadStatus => "bad status line",
            ureq::ErrorKind::BadHeader => "bad header",
            ureq::ErrorKind::InvalidUrl | ureq::ErrorKind::UnknownScheme => "bad URL",
            ureq::ErrorKind::Io => "network error",
            _ => "request failed",
        };
        let detail = match (t.message(), std::error::Error::source(t)) {
            (Some(m), Some(s)) => format!("{m}: {s}"),
            (Some(m), None) => m.to_string(),
            (None, Some(s)) => s.to_string(),
            (None, None) => return what.to_string(),
        };
        format!("{what}: {detail}")
    }
}

/// Whether an I/O error is a socket timeout (reported as either kind, depending on the OS).
fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

/// Name lookup bounded by the timeout: the system resolver's own can be much longer offline.
struct TimedResolver(Duration);

impl ureq::Resolver for TimedResolver {
    fn resolve(&self, netloc: &str) -> std::io::Result<Vec<SocketAddr>> {
        let (tx, rx) = std::sync::mpsc::channel();
        let netloc = netloc.to_string();
        // A lookup cannot be cancelled: one that outlives the timeout ends on its own, unread.
        std::thread::Builder::new()
            .name("resolve".into())
            .spawn(move || {
                let _ = tx.send(netloc.to_socket_addrs().map(Iterator::collect));
            })?;
        rx.recv_timeout(self.0).unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the name lookup timed out",
            ))
        })
    }
}

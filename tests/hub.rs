//! The Hub source against a local stand-in for the Hub, through hf-hub: download into the
//! Hugging Face cache, conversion, caches, errors, a Hub that stalls, drips, cuts the body or
//! sends what hf-hub panics on, cancels, offline use, and the pinned revision.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use classgen::data::hub::{fetch, revision, HubError, HubOptions};
use classgen::data::source::{load, load_dir, LoadRequest};
use classgen::data::{DataError, DatasetKind, Origin, SourceKind, Split, PIXELS, SIDE};
use classgen::runs::{DataIdentity, DataSource};
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

/// The commit MNIST is pinned to, as the requests and the data identity must show it.
const COMMIT: &str = "77f3279092a1c1579b2250db8eafed0ad422088c";
/// URL paths of MNIST's two files at the pinned commit.
const TRAIN_PATH: &str = "/datasets/ylecun/mnist/resolve/77f3279092a1c1579b2250db8eafed0ad422088c/mnist/train-00000-of-00001.parquet";
const TEST_PATH: &str = "/datasets/ylecun/mnist/resolve/77f3279092a1c1579b2250db8eafed0ad422088c/mnist/test-00000-of-00001.parquet";
/// The server stops after this many connections whatever happens.
const MAX_CONNECTIONS: usize = 32;
/// How long a dripping stand-in waits between two bytes; it stops after [`DRIP_BYTES`], by
/// which time (80 s) a download with only per-read timeouts would still be running.
const DRIP_EVERY: Duration = Duration::from_millis(200);
const DRIP_BYTES: usize = 400;

/// A deterministic, varied 28x28 image.
fn pixels(seed: usize) -> Vec<u8> {
    (0..PIXELS)
        .map(|p| ((seed * 37 + p * 7) % 256) as u8)
        .collect()
}

/// PNG bytes of a grey image.
fn png(width: u32, height: u32, pixels: Vec<u8>) -> Vec<u8> {
    let image = image::GrayImage::from_raw(width, height, pixels).unwrap();
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A parquet file in the Hub's layout: `image {bytes, path}` and `label`, one row per pair.
fn parquet_file(rows: &[(Vec<u8>, i64)]) -> Vec<u8> {
    let schema = parse_message_type(
        "message schema {
            optional group image { optional binary bytes; optional binary path (STRING); }
            optional int64 label;
        }",
    )
    .unwrap();
    let mut out = Vec::new();
    let mut writer = SerializedFileWriter::new(
        &mut out,
        Arc::new(schema),
        Arc::new(WriterProperties::builder().build()),
    )
    .unwrap();
    let mut group = writer.next_row_group().unwrap();
    let n = rows.len();
    // image.bytes: present (definition level 2).
    let mut column = group.next_column().unwrap().unwrap();
    let bytes: Vec<ByteArray> = rows.iter().map(|(png, _)| png.clone().into()).collect();
    column
        .typed::<ByteArrayType>()
        .write_batch(&bytes, Some(&vec![2; n]), None)
        .unwrap();
    column.close().unwrap();
    // image.path: null inside a present group (definition level 1).
    let mut column = group.next_column().unwrap().unwrap();
    column
        .typed::<ByteArrayType>()
        .write_batch(&[], Some(&vec![1; n]), None)
        .unwrap();
    column.close().unwrap();
    // label: present (definition level 1).
    let mut column = group.next_column().unwrap().unwrap();
    let labels: Vec<i64> = rows.iter().map(|&(_, label)| label).collect();
    column
        .typed::<Int64Type>()
        .write_batch(&labels, Some(&vec![1; n]), None)
        .unwrap();
    column.close().unwrap();
    assert!(group.next_column().unwrap().is_none());
    group.close().unwrap();
    writer.close().unwrap();
    out
}

/// How the stand-in answers a request for one path. A request for the first byte only (how
/// a download starts) gets a plain answer to it, except from [`Reply::Stall`],
/// [`Reply::DripHeaders`] and [`Reply::Raw`].
#[derive(Clone)]
enum Reply {
    /// 200 with the whole file, or 206 with the range asked for.
    File(Vec<u8>),
    /// Reads the request and never answers (until the client hangs up).
    Stall,
    /// Announces the whole file, sends its first `n` bytes, then closes the connection.
    Cut(Vec<u8>, usize),
    /// Announces the whole file, sends its first `n` bytes, then goes silent.
    StallMidBody(Vec<u8>, usize),
    /// Announces the file with a Content-Length, then sends a byte every [`DRIP_EVERY`].
    DripWithLength(Vec<u8>),
    /// No length, the body ends with the connection; a byte every [`DRIP_EVERY`].
    DripUntilClose(Vec<u8>),
    /// Chunked, one byte a chunk, a chunk every [`DRIP_EVERY`].
    DripChunked(Vec<u8>),
    /// The status line and headers themselves, a byte every [`DRIP_EVERY`].
    DripHeaders(Vec<u8>),
    /// An answer written as is (status line, headers, blank line).
    Raw(&'static str),
}

/// One request the stand-in read: method, path, Range and Authorization headers.
#[derive(Debug, Clone, PartialEq)]
struct Request {
    method: String,
    path: String,
    range: Option<String>,
    authorization: Option<String>,
}

/// A stand-in for the Hub on 127.0.0.1, answering GETs for a few paths the way the Hub does
/// (byte ranges, ETag, X-Repo-Commit).
struct Hub {
    endpoint: String,
    thread: JoinHandle<Vec<Request>>,
}

impl Hub {
    /// Serves each path's reply until [`Hub::stop`] or [`MAX_CONNECTIONS`]; other paths get 404.
    fn serve(replies: Vec<(&'static str, Reply)>) -> Hub {
        Hub::serve_telling(replies, None)
    }

    /// [`Hub::serve`], saying on `body_started` when it starts sending a body slowly.
    fn serve_telling(replies: Vec<(&'static str, Reply)>, body_started: Option<Sender<()>>) -> Hub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let thread = std::thread::spawn(move || {
            let mut log = Vec::new();
            for stream in listener.incoming().take(MAX_CONNECTIONS) {
                let Ok(stream) = stream else { continue };
                match answer(stream, &replies, body_started.as_ref()) {
                    Some(request) if request.path == "/quit" => break,
                    Some(request) => log.push(request),
                    None => {}
                }
            }
            log
        });
        Hub { endpoint, thread }
    }

    /// A stand-in serving MNIST's two files.
    fn files(train: Vec<u8>, test: Vec<u8>) -> Hub {
        Hub::serve(vec![
            (TRAIN_PATH, Reply::File(train)),
            (TEST_PATH, Reply::File(test)),
        ])
    }

    /// Stops the server and returns the requests it answered.
    fn stop(self) -> Vec<Request> {
        let address = self.endpoint.trim_start_matches("http://");
        if let Ok(mut stream) = TcpStream::connect(address) {
            let _ = stream.write_all(b"GET /quit HTTP/1.1\r\n\r\n");
        }
        self.thread.join().unwrap()
    }
}

/// The paths of `requests`, without repeats, in order.
fn paths(requests: &[Request]) -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    for r in requests {
        if paths.last() != Some(&r.path) {
            paths.push(r.path.clone());
        }
    }
    paths
}

/// Waits until the client closes the connection (a stalled server's only way out).
fn wait_for_hang_up(stream: &mut TcpStream) {
    let mut buf = [0u8; 256];
    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
}

/// Writes `bytes` one at a time, [`DRIP_EVERY`] apart, until the client hangs up.
fn drip(stream: &mut TcpStream, bytes: &[u8]) {
    for byte in bytes.iter().take(DRIP_BYTES) {
        // The server's own pace, not synchronisation: a Hub that drips.
        std::thread::sleep(DRIP_EVERY);
        if stream
            .write_all(&[*byte])
            .and_then(|()| stream.flush())
            .is_err()
        {
            return;
        }
    }
}

/// A cheap stand-in for the Hub's ETag: a hash of the body.
fn etag(body: &[u8]) -> String {
    let hash = body.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    format!("{hash:016x}{:08x}", body.len())
}

/// The byte range a `Range: bytes=a-b` header asks of a body of `len` bytes.
fn range(header: Option<&str>, len: usize) -> Option<(usize, usize)> {
    let (a, b) = header?.strip_prefix("bytes=")?.split_once('-')?;
    let a: usize = a.parse().ok()?;
    let b = b.parse::<usize>().map_or(len - 1, |b| b.min(len - 1));
    (a <= b).then_some((a, b))
}

/// The status line and headers for `body` (its range `part` if asked), without the blank line.
fn head(body: &[u8], part: Option<(usize, usize)>) -> String {
    let len = body.len();
    let common = format!(
        "ETag: \"{}\"\r\nX-Repo-Commit: {COMMIT}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n",
        etag(body)
    );
    match part {
        Some((a, b)) => format!(
            "HTTP/1.1 206 Partial Content\r\n{common}Content-Range: bytes {a}-{b}/{len}\r\n"
        ),
        None => format!("HTTP/1.1 200 OK\r\n{common}"),
    }
}

/// Answers one request as `replies` say. Returns it, or `None` if it could not be read.
fn answer(
    stream: TcpStream,
    replies: &[(&'static str, Reply)],
    body_started: Option<&Sender<()>>,
) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut parts = request_line.split_whitespace();
    let mut request = Request {
        method: parts.next()?.to_string(),
        path: parts.next()?.to_string(),
        range: None,
        authorization: None,
    };
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = Some(value.trim().to_string());
            match name.trim().to_ascii_lowercase().as_str() {
                "range" => request.range = value,
                "authorization" => request.authorization = value,
                _ => {}
            }
        }
    }
    if request.path == "/quit" {
        return Some(request);
    }
    let mut stream = stream;
    let started = || {
        if let Some(tx) = body_started {
            let _ = tx.send(());
        }
    };
    let reply = replies
        .iter()
        .find(|(p, _)| *p == request.path)
        .map(|(_, r)| r);
    let first_byte = request.range.as_deref() == Some("bytes=0-0");
    match reply {
        None => {
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
        Some(Reply::Stall) => wait_for_hang_up(&mut stream),
        Some(Reply::Raw(text)) => {
            let _ = stream.write_all(text.as_bytes());
        }
        Some(Reply::DripHeaders(body)) => {
            started();
            let text = format!("{}Content-Length: {}\r\n\r\n", head(body, None), body.len());
            drip(&mut stream, text.as_bytes());
        }
        Some(
            Reply::File(body)
            | Reply::Cut(body, _)
            | Reply::StallMidBody(body, _)
            | Reply::DripWithLength(body)
            | Reply::DripUntilClose(body)
            | Reply::DripChunked(body),
        ) => {
            let part = range(request.range.as_deref(), body.len());
            let (a, b) = part.unwrap_or((0, body.len() - 1));
            let content = &body[a..=b];
            let with_length = format!(
                "{}Content-Length: {}\r\n\r\n",
                head(body, part),
                content.len()
            );
            match reply {
                Some(Reply::Cut(_, n)) if !first_byte => {
                    let _ = stream.write_all(with_length.as_bytes());
                    let _ = stream.write_all(&content[..*n]);
                }
                Some(Reply::StallMidBody(_, n)) if !first_byte => {
                    let _ = stream.write_all(with_length.as_bytes());
                    let _ = stream.write_all(&content[..*n]);
                    let _ = stream.flush();
                    wait_for_hang_up(&mut stream);
                }
                Some(Reply::DripWithLength(_)) if !first_byte => {
                    let _ = stream.write_all(with_length.as_bytes());
                    started();
                    drip(&mut stream, content);
                }
                Some(Reply::DripUntilClose(_)) if !first_byte => {
                    let _ = stream.write_all(format!("{}\r\n", head(body, part)).as_bytes());
                    started();
                    drip(&mut stream, content);
                }
                Some(Reply::DripChunked(_)) if !first_byte => {
                    let text = format!("{}Transfer-Encoding: chunked\r\n\r\n", head(body, part));
                    let _ = stream.write_all(text.as_bytes());
                    started();
                    let chunks: Vec<u8> = content
                        .iter()
                        .flat_map(|b| [b'1', b'\r', b'\n', *b, b'\r', b'\n'])
                        .collect();
                    drip(&mut stream, &chunks);
                }
                _ => {
                    let _ = stream.write_all(with_length.as_bytes());
                    let _ = stream.write_all(content);
                }
            }
        }
    }
    Some(request)
}

/// Options for the stand-in at `endpoint`, caching under `cache` (`classgen/` for the
/// conversion, `hf/` for the Hugging Face cache), with a short timeout so stalls end quickly.
fn options(endpoint: &str, cache: &Path) -> HubOptions {
    HubOptions {
        endpoint: endpoint.to_string(),
        cache_dir: cache.join("classgen"),
        hub_cache: cache.join("hf"),
        token: None,
        offline: false,
        progress: false,
        timeout: Duration::from_millis(500),
        cancel: Arc::default(),
    }
}

/// Runs `f` on a thread and fails the test if it has not returned within a generous bound
/// (a hang), or if it panicked.
fn within_bound<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("no result within 60 s: it hung or panicked")
}

/// Rows of a small MNIST-like split, seeded by `first`.
fn rows(first: usize, n: usize) -> Vec<(Vec<u8>, i64)> {
    (first..first + n)
        .map(|i| (pixels(i), (i * 3 % 10) as i64))
        .collect()
}

/// The parquet file of `rows` (PNG-encoded).
fn encode(rows: &[(Vec<u8>, i64)]) -> Vec<u8> {
    let rows: Vec<_> = rows
        .iter()
        .map(|(p, l)| (png(SIDE as u32, SIDE as u32, p.clone()), *l))
        .collect();
    parquet_file(&rows)
}

/// The split `rows` decode to.
fn expected(rows: &[(Vec<u8>, i64)]) -> Split {
    Split {
        images: rows.iter().flat_map(|(p, _)| p.clone()).collect(),
        labels: rows.iter().map(|&(_, l)| l as u8).collect(),
    }
}

/// The conversion's directory under `cache`.
fn converted(cache: &Path) -> PathBuf {
    cache.join("classgen/mnist").join(COMMIT)
}

/// The snapshot of a file of MNIST at the commit in the Hugging Face cache under `cache`.
fn snapshot(cache: &Path, file: &str) -> PathBuf {
    cache
        .join("hf/datasets--ylecun--mnist/snapshots")
        .join(COMMIT)
        .join("mnist")
        .join(file)
}

/// Fetches from a well-behaved stand-in into `cache` and checks it asked for both files and
/// the data are the stand-in's: a failure before left nothing that is trusted instead.
fn assert_a_good_server_is_used(cache: &Path) {
    let (train, test) = (rows(0, 5), rows(5, 3));
    let hub = Hub::files(encode(&train), encode(&test));
    let opts = options(&hub.endpoint, cache);
    let fetched = within_bound(move || fetch(DatasetKind::Mnist, &opts));
    let requests = hub.stop();
    let fetched = fetched.unwrap();
    // The test file may have been kept from before (it was fine); the train file was not.
    assert_eq!(
        paths(&requests).first().map(String::as_str),
        Some(TRAIN_PATH)
    );
    let data = load_dir(&fetched.dir, DatasetKind::Mnist).unwrap();
    assert_eq!((data.train, data.test), (expected(&train), expected(&test)));
}

/// Every file under `dir`, as paths relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

/// Nothing partial anywhere under `cache` (no `.part`, `.incomplete` or lock file), no
/// finished conversion, and no train file in the Hugging Face cache.
fn assert_nothing_cached(cache: &Path) {
    let files = files_under(cache);
    let partial: Vec<_> = files
        .iter()
        .filter(|f| f.contains(".part") || f.contains(".incomplete") || f.ends_with(".lock"))
        .collect();
    assert!(partial.is_empty(), "{partial:?}");
    assert!(!converted(cache).join("complete").exists(), "{files:?}");
    assert!(
        !snapshot(cache, "train-00000-of-00001.parquet").exists(),
        "{files:?}"
    );
}

#[test]
fn downloads_converts_and_then_works_offline() {
    let (train, test) = (rows(0, 5), rows(5, 3));
    let hub = Hub::files(encode(&train), encode(&test));
    let cache = tempfile::tempdir().unwrap();
    let mut opts = options(&hub.endpoint, cache.path());
    opts.token = Some("hf_test_token".into());

    let fetched = fetch(DatasetKind::Mnist, &opts);
    let requests = hub.stop();
    let fetched = fetched.unwrap();
    assert_eq!(fetched.dir, converted(cache.path()));
    assert_eq!(fetched.commit, COMMIT);
    // The pinned commit, not `main`, in every request; the token with each.
    assert_eq!(paths(&requests), [TRAIN_PATH, TEST_PATH]);
    assert!(
        requests.iter().all(
            |r| r.method == "GET" && r.authorization.as_deref() == Some("Bearer hf_test_token")
        ),
        "{requests:?}"
    );
    let data = load_dir(&fetched.dir, DatasetKind::Mnist).unwrap();
    assert_eq!(data.train, expected(&train));
    assert_eq!(data.test, expected(&test));
    assert_nothing_cached_but_the_conversion(&fetched.dir);
    // The downloads stay in the Hugging Face cache, laid out as huggingface_hub lays it out.
    assert_eq!(
        std::fs::read(snapshot(cache.path(), "train-00000-of-00001.parquet")).unwrap(),
        encode(&train)
    );
    let partial: Vec<_> = files_under(cache.path())
        .into_iter()
        .filter(|f| f.contains(".part") || f.ends_with(".lock"))
        .collect();
    assert!(partial.is_empty(), "{partial:?}");

    // The server is gone: a second call is served from the converted cache.
    let again = fetch(DatasetKind::Mnist, &opts).unwrap();
    assert_eq!(again, fetched);
    assert_eq!(
        load_dir(&again.dir, DatasetKind::Mnist).unwrap().train,
        data.train
    );
}

/// The downloads are not in the conversion: only the IDX files and the marker.
fn assert_nothing_cached_but_the_conversion(dir: &Path) {
    assert_eq!(
        files_under(dir),
        [
            "complete",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
        ]
    );
}

#[test]
fn unreachable_endpoint_is_an_error_naming_it() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let cache = tempfile::tempdir().unwrap();
    let opts = options(&endpoint, cache.path());
    let err = within_bound(move || fetch(DatasetKind::Mnist, &opts))
        .unwrap_err()
        .to_string();
    assert!(err.contains(&endpoint), "{err}");
    assert!(err.contains("ylecun/mnist"), "{err}");
    assert!(err.contains("cannot connect"), "{err}");
    assert_nothing_cached(cache.path());
}

/// Checks a failed fetch's error: one line naming the train file's URL and `cause` once.
fn assert_clear_error(err: &str, cause: &str) {
    assert!(err.contains(cause), "{cause}: {err}");
    assert!(err.contains(TRAIN_PATH), "{err}");
    assert_eq!(err.matches(cause).count(), 1, "{err}");
    assert!(!err.contains('\n'), "{err}");
}

/// Every misbehaviour of a server: a clear one-line error naming the file's URL and the cause
/// once, within the bound, no panic, nothing cached; then a good server is used.
#[test]
fn a_misbehaving_hub_gives_a_clear_error_and_poisons_nothing() {
    let good = encode(&rows(0, 5));
    // The test file is the good server's: a commit's file is the same whoever serves it.
    let test_file = encode(&rows(5, 3));
    let truncated = good[..good.len() - 40].to_vec();
    let len = good.len();
    let cases: Vec<(Reply, String)> = vec![
        (
            Reply::Stall,
            "no answer within 500ms (data.hub_timeout_secs)".into(),
        ),
        (
            Reply::StallMidBody(good.clone(), 100),
            format!("stalled: 100 of {len} bytes arrived, less than 2048 in the last 500ms (data.hub_timeout_secs)"),
        ),
        (
            Reply::Cut(good.clone(), 100),
            format!("the connection closed after 100 of {len} bytes"),
        ),
        (
            Reply::Raw("HTTP/1.1 302 Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            "redirect (HTTP 302 Found) without a usable Location header".into(),
        ),
        (
            Reply::Raw("HTTP/1.1 099 Weird\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            "bad answer: invalid HTTP status-code parsed".into(),
        ),
        (
            Reply::Raw("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            "HTTP 503 Service Unavailable".into(),
        ),
        (
            Reply::Raw("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            "HTTP 200 OK without a Content-Range (the Hub serves byte ranges)".into(),
        ),
        (
            Reply::File(b"PAR1 this is not a parquet file PAR1".to_vec()),
            "not a valid parquet file".into(),
        ),
        (Reply::File(truncated), "not a valid parquet file".into()),
    ];
    for (reply, cause) in cases {
        let hub = Hub::serve(vec![
            (TRAIN_PATH, reply),
            (TEST_PATH, Reply::File(test_file.clone())),
        ]);
        let cache = tempfile::tempdir().unwrap();
        let opts = options(&hub.endpoint, cache.path());
        let result = within_bound(move || fetch(DatasetKind::Mnist, &opts));
        hub.stop();
        assert_clear_error(&result.unwrap_err().to_string(), &cause);
        assert_nothing_cached(cache.path());
        assert_a_good_server_is_used(cache.path());
    }
}

/// A Hub that drips a byte every 200 ms, well within a 500 ms timeout for each read, fails
/// within a window or two whatever the framing: a Content-Length, none, chunked, or the
/// headers themselves dripping. (With a deadline on each read only, each ran 80 s.)
#[test]
fn a_dripping_hub_fails_in_bounded_time_and_leaves_nothing_partial() {
    let good = encode(&rows(0, 5));
    let cases = [
        (Reply::DripWithLength(good.clone()), "stalled: "),
        (Reply::DripUntilClose(good.clone()), "stalled: "),
        (Reply::DripChunked(good.clone()), "stalled: "),
        (
            Reply::DripHeaders(good.clone()),
            "no answer within 500ms (data.hub_timeout_secs)",
        ),
    ];
    for (reply, cause) in cases {
        let hub = Hub::serve(vec![
            (TRAIN_PATH, reply),
            (TEST_PATH, Reply::File(good.clone())),
        ]);
        let cache = tempfile::tempdir().unwrap();
        let opts = options(&hub.endpoint, cache.path());
        let result = within_bound(move || fetch(DatasetKind::Mnist, &opts));
        hub.stop();
        let err = result.unwrap_err().to_string();
        assert_clear_error(&err, cause);
        assert!(
            err.contains("in the last 500ms") || err.contains("no answer"),
            "{err}"
        );
        assert_nothing_cached(cache.path());
    }
}

/// The cancel flag (what Ctrl-C, SIGTERM and SIGHUP set) ends a download in progress, with a
/// timeout far away, and leaves nothing partial; under `auto` a cancel is not a fallback.
#[test]
fn a_cancel_ends_a_download_at_once() {
    let good = encode(&rows(0, 5));
    for source in [SourceKind::Hub, SourceKind::Auto] {
        let (tx, started): (Sender<()>, Receiver<()>) = std::sync::mpsc::channel();
        let hub = Hub::serve_telling(
            vec![
                (TRAIN_PATH, Reply::DripWithLength(good.clone())),
                (TEST_PATH, Reply::File(good.clone())),
            ],
            Some(tx),
        );
        let cache = tempfile::tempdir().unwrap();
        let mut hub_options = options(&hub.endpoint, cache.path());
        hub_options.timeout = Duration::from_secs(3600);
        let cancel = hub_options.cancel.clone();
        let request = LoadRequest {
            kind: DatasetKind::Mnist,
            source,
            dir: None,
            hub: hub_options,
        };
        let (done_tx, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done_tx.send(load(&request));
        });
        started
            .recv_timeout(Duration::from_secs(60))
            .expect("the download never started");
        cancel.store(true, Ordering::Relaxed);
        let failure = done
            .recv_timeout(Duration::from_secs(60))
            .expect("the cancel did not end the download")
            .err()
            .expect("a cancelled load is an error, not the sample");
        hub.stop();
        assert!(
            matches!(failure.error, DataError::Hub(HubError::Cancelled { .. })),
            "{:?}",
            failure.error
        );
        let err = failure.error.to_string();
        assert!(
            err.contains("download cancelled (nothing partial was kept)"),
            "{err}"
        );
        assert_nothing_cached(cache.path());
    }
}

/// `source = auto` falls back to the bundled sample, with a one-line notice naming the URL
/// and the cause, whatever the Hub does (including answers that make hf-hub panic).
#[test]
fn auto_falls_back_to_the_sample_when_the_hub_fails() {
    let replies = [
        (Reply::Stall, "no answer within"),
        (Reply::DripChunked(encode(&rows(0, 5))), "stalled: "),
        (
            Reply::Raw("HTTP/1.1 302 Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            "without a usable Location header",
        ),
        (
            Reply::Raw("HTTP/1.1 099 Weird\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            "invalid HTTP status-code",
        ),
        (Reply::File(b"garbage".to_vec()), "not a valid parquet file"),
    ];
    for (reply, cause) in replies {
        let test_file = Reply::File(encode(&rows(0, 2)));
        let hub = Hub::serve(vec![(TRAIN_PATH, reply), (TEST_PATH, test_file)]);
        let cache = tempfile::tempdir().unwrap();
        let request = LoadRequest {
            kind: DatasetKind::Mnist,
            source: SourceKind::Auto,
            dir: None,
            hub: options(&hub.endpoint, cache.path()),
        };
        let loaded = within_bound(move || load(&request));
        hub.stop();
        let loaded = loaded.ok().unwrap();
        assert_eq!(loaded.dataset.origin, Origin::Sample);
        let notice = loaded.notice.unwrap();
        assert!(notice.contains("bundled MNIST sample"), "{notice}");
        assert!(
            notice.contains(TRAIN_PATH) && notice.contains(cause),
            "{notice}"
        );
        assert!(!notice.contains('\n'), "{notice}");
        assert_nothing_cached(cache.path());
    }
}

/// A cached conversion that cannot be read is discarded and made again from the Hugging Face
/// cache, with a notice and no network.
#[test]
fn an_unreadable_conversion_is_made_again_from_the_hugging_face_cache() {
    let cache = tempfile::tempdir().unwrap();
    assert_a_good_server_is_used(cache.path());
    let images = converted(cache.path()).join("train-images-idx3-ubyte.gz");
    let bytes = std::fs::read(&images).unwrap();
    std::fs::write(&images, &bytes[..bytes.len() / 2]).unwrap();

    let hub = Hub::serve(vec![]);
    let request = LoadRequest {
        kind: DatasetKind::Mnist,
        source: SourceKind::Hub,
        dir: None,
        hub: options(&hub.endpoint, cache.path()),
    };
    let loaded = within_bound(move || load(&request));
    assert_eq!(hub.stop(), []);
    let loaded = loaded.ok().unwrap();
    assert_eq!(loaded.dataset.train, expected(&rows(0, 5)));
    let notice = loaded.notice.unwrap();
    assert!(
        notice.contains("discarded the unreadable cached mnist")
            && notice.contains("train-images-idx3-ubyte.gz")
            && notice.ends_with("; converted it again"),
        "{notice}"
    );
}

/// Defect 16: a corrupt conversion, no parquet file to make it again from, and a Hub that
/// answers 503. Under `auto`: the notice says the cache was bad, that getting it again failed
/// and why, and that the sample is used (never "downloaded it again"). Under `hub`: that
/// notice, then the error.
#[test]
fn a_corrupt_cache_and_a_failing_hub_are_both_told() {
    for source in [SourceKind::Auto, SourceKind::Hub] {
        let cache = tempfile::tempdir().unwrap();
        assert_a_good_server_is_used(cache.path());
        std::fs::write(
            converted(cache.path()).join("train-images-idx3-ubyte.gz"),
            b"not gzip",
        )
        .unwrap();
        std::fs::remove_dir_all(cache.path().join("hf")).unwrap();
        let unavailable =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let hub = Hub::serve(vec![
            (TRAIN_PATH, Reply::Raw(unavailable)),
            (TEST_PATH, Reply::Raw(unavailable)),
        ]);
        let request = LoadRequest {
            kind: DatasetKind::Mnist,
            source,
            dir: None,
            hub: options(&hub.endpoint, cache.path()),
        };
        let result = within_bound(move || load(&request));
        hub.stop();
        let (notice, error) = match result {
            Ok(loaded) => {
                assert_eq!(source, SourceKind::Auto);
                assert_eq!(loaded.dataset.origin, Origin::Sample);
                (loaded.notice.unwrap(), None)
            }
            Err(failure) => {
                assert_eq!(source, SourceKind::Hub);
                (failure.notice.unwrap(), Some(failure.error.to_string()))
            }
        };
        assert!(
            notice.contains("discarded the unreadable cached mnist (")
                && notice.contains("train-images-idx3-ubyte.gz")
                && notice.contains("getting it again failed"),
            "{notice}"
        );
        assert!(
            !notice.contains("downloaded it again") && !notice.contains("converted it again"),
            "{notice}"
        );
        match error {
            None => assert!(
                notice.contains("using the bundled MNIST sample")
                    && notice.contains("HTTP 503 Service Unavailable"),
                "{notice}"
            ),
            Some(error) => assert!(error.contains("HTTP 503 Service Unavailable"), "{error}"),
        }
        assert!(!notice.contains('\n'), "{notice}");
    }
}

/// Lays out MNIST's two files in a Hugging Face cache under `cache` as Python's
/// huggingface_hub does for a commit: blobs, and relative symlinks in the snapshot, no ref.
fn python_cache(cache: &Path, train: &[u8], test: &[u8]) {
    let repo = cache.join("hf/datasets--ylecun--mnist");
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    let snapshot = repo.join("snapshots").join(COMMIT).join("mnist");
    std::fs::create_dir_all(&snapshot).unwrap();
    for (name, body) in [
        ("train-00000-of-00001.parquet", train),
        ("test-00000-of-00001.parquet", test),
    ] {
        let blob = etag(body);
        std::fs::write(repo.join("blobs").join(&blob), body).unwrap();
        std::os::unix::fs::symlink(Path::new("../../../blobs").join(&blob), snapshot.join(name))
            .unwrap();
    }
}

/// A data set Python's huggingface_hub fetched is used without asking the Hub, online or with
/// HF_HUB_OFFLINE; offline with a cold cache is a clear error that asks nothing; the commit
/// is the run's data identity.
#[test]
fn the_hugging_face_cache_is_shared_and_offline_mode_asks_nothing() {
    let (train, test) = (rows(30, 4), rows(40, 2));
    for offline in [false, true] {
        let cache = tempfile::tempdir().unwrap();
        python_cache(cache.path(), &encode(&train), &encode(&test));
        let hub = Hub::serve(vec![]);
        let mut hub_options = options(&hub.endpoint, cache.path());
        hub_options.offline = offline;
        let request = LoadRequest {
            kind: DatasetKind::Mnist,
            source: SourceKind::Hub,
            dir: None,
            hub: hub_options,
        };
        let loaded = within_bound(move || load(&request));
        assert_eq!(hub.stop(), []);
        let loaded = loaded.ok().unwrap();
        assert_eq!(loaded.notice, None);
        assert_eq!(
            (&loaded.dataset.train, &loaded.dataset.test),
            (&expected(&train), &expected(&test))
        );
        let identity = DataIdentity::of(&loaded.dataset);
        assert_eq!(
            identity.source,
            DataSource::Hub {
                repo: "ylecun/mnist".into(),
                revision: COMMIT.into()
            }
        );
        assert!(
            identity
                .to_string()
                .contains(&format!("Hub ylecun/mnist@{COMMIT}")),
            "{identity}"
        );
    }

    let cache = tempfile::tempdir().unwrap();
    let hub = Hub::serve(vec![]);
    let mut opts = options(&hub.endpoint, cache.path());
    opts.offline = true;
    let err = within_bound(move || fetch(DatasetKind::Mnist, &opts))
        .unwrap_err()
        .to_string();
    assert_eq!(hub.stop(), []);
    assert!(
        err.contains(TRAIN_PATH) && err.contains("HF_HUB_OFFLINE is set") && err.contains("hf"),
        "{err}"
    );
    assert_nothing_cached(cache.path());
}

#[test]
fn the_pinned_revision_is_a_commit() {
    assert_eq!(revision(DatasetKind::Mnist), COMMIT);
    assert!(TRAIN_PATH.contains(COMMIT) && TEST_PATH.contains(COMMIT));
}

#[test]
fn bad_rows_name_the_file_and_the_row() {
    let good = || (png(SIDE as u32, SIDE as u32, pixels(0)), 1);
    let cases = [
        (
            vec![good(), (png(SIDE as u32, SIDE as u32, pixels(1)), 10)],
            "label 10",
        ),
        (vec![good(), (png(27, 28, vec![0; 27 * 28]), 2)], "27x28"),
    ];
    for (rows, what) in cases {
        let hub = Hub::files(parquet_file(&rows), encode(&self::rows(5, 3)));
        let cache = tempfile::tempdir().unwrap();
        let result = fetch(DatasetKind::Mnist, &options(&hub.endpoint, cache.path()));
        hub.stop();
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("train-00000-of-00001.parquet: row 1:"),
            "{err}"
        );
        assert!(err.contains(what), "{err}");
        assert_nothing_cached(cache.path());
        assert_a_good_server_is_used(cache.path());
    }
}

/// SIGTERM, SIGINT and SIGHUP to a real `classgen train` downloading from a dripping Hub (the
/// timeout an hour away): it ends at once with the signal's exit status, saying the download
/// was cancelled, and leaves nothing partial in either cache.
#[test]
fn a_signal_ends_a_download_in_a_real_process() {
    let good = encode(&rows(0, 5));
    for (signal, status) in [
        (libc::SIGTERM, 143),
        (libc::SIGINT, 130),
        (libc::SIGHUP, 129),
    ] {
        let (tx, started) = std::sync::mpsc::channel();
        let hub = Hub::serve_telling(
            vec![
                (TRAIN_PATH, Reply::DripChunked(good.clone())),
                (TEST_PATH, Reply::File(good.clone())),
            ],
            Some(tx),
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[data]\nsource = \"hub\"\nhub_timeout_secs = 3600\ncache_dir = \"{}\"\n",
                dir.path().join("classgen").display()
            ),
        )
        .unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_classgen"))
            .current_dir(dir.path())
            .args(["--config", "config.toml", "train", "--epochs", "1"])
            .env("HF_ENDPOINT", &hub.endpoint)
            .env("HF_HUB_CACHE", dir.path().join("hf"))
            .env("HF_HOME", dir.path().join("hf-home"))
            .env_remove("HF_TOKEN")
            .env_remove("HF_HUB_OFFLINE")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        started
            .recv_timeout(Duration::from_secs(60))
            .expect("the download never started");
        // SAFETY: plain kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        let mut stderr = child.stderr.take().unwrap();
        let exited = within_bound(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            (child.wait().unwrap().code(), text)
        });
        hub.stop();
        let (code, text) = exited;
        assert_eq!(code, Some(status), "{text}");
        assert!(
            text.contains("download cancelled (nothing partial was kept)")
                && text.contains(TRAIN_PATH),
            "{text}"
        );
        assert_nothing_cached(dir.path());
    }
}

/// A cancel during the conversion ends it too, with nothing converted, and keeps the parquet
/// files, which were fine, in the Hugging Face cache.
#[test]
fn a_cancel_ends_the_conversion_and_keeps_the_downloads() {
    let cache = tempfile::tempdir().unwrap();
    python_cache(cache.path(), &encode(&rows(0, 4)), &encode(&rows(4, 2)));
    let hub = Hub::serve(vec![]);
    let opts = options(&hub.endpoint, cache.path());
    opts.cancel.store(true, Ordering::Relaxed);
    let result = within_bound(move || fetch(DatasetKind::Mnist, &opts));
    assert_eq!(hub.stop(), []);
    assert!(
        matches!(result, Err(HubError::Cancelled { .. })),
        "{result:?}"
    );
    assert!(!converted(cache.path()).join("complete").exists());
    assert!(snapshot(cache.path(), "train-00000-of-00001.parquet").is_file());
}

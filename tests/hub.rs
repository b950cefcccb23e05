//! The Hub source against a local stand-in for the Hub: download, conversion, cache, errors,
//! and a Hub that stalls, cuts the body or sends what hf-hub 0.4 panicked on.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use classgen::data::hub::{fetch, HubOptions};
use classgen::data::source::{load, load_dir, LoadRequest};
use classgen::data::{DatasetKind, Origin, SourceKind, Split, PIXELS, SIDE};
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

/// URL paths of MNIST's two files.
const TRAIN_PATH: &str = "/datasets/ylecun/mnist/resolve/main/mnist/train-00000-of-00001.parquet";
const TEST_PATH: &str = "/datasets/ylecun/mnist/resolve/main/mnist/test-00000-of-00001.parquet";
/// The server stops after this many connections whatever happens.
const MAX_CONNECTIONS: usize = 16;

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

/// How the stand-in answers a request for one path.
#[derive(Clone)]
enum Reply {
    /// 200 with the whole file.
    File(Vec<u8>),
    /// Reads the request and never answers (until the client hangs up).
    Stall,
    /// Announces the whole file, sends its first `n` bytes, then closes the connection.
    Cut(Vec<u8>, usize),
    /// Announces the whole file, sends its first `n` bytes, then goes silent.
    StallMidBody(Vec<u8>, usize),
    /// An answer written as is (status line, headers, blank line).
    Raw(&'static str),
}

/// A stand-in for the Hub on 127.0.0.1, answering GETs for a few paths.
struct Hub {
    endpoint: String,
    thread: JoinHandle<Vec<String>>,
}

impl Hub {
    /// Serves each path's reply until [`Hub::stop`] or [`MAX_CONNECTIONS`]; other paths get 404.
    fn serve(replies: Vec<(&'static str, Reply)>) -> Hub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let thread = std::thread::spawn(move || {
            let mut log = Vec::new();
            for stream in listener.incoming().take(MAX_CONNECTIONS) {
                let Ok(stream) = stream else { continue };
                match answer(stream, &replies) {
                    Some(request) if request == "GET /quit" => break,
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

    /// Stops the server and returns the requests it answered (`GET path`).
    fn stop(self) -> Vec<String> {
        let address = self.endpoint.trim_start_matches("http://");
        if let Ok(mut stream) = TcpStream::connect(address) {
            let _ = stream.write_all(b"GET /quit HTTP/1.1\r\n\r\n");
        }
        self.thread.join().unwrap()
    }
}

/// Waits until the client closes the connection (a stalled server's only way out).
fn wait_for_hang_up(stream: &mut TcpStream) {
    let mut buf = [0u8; 256];
    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
}

/// Answers one request as `replies` say. Returns `GET path`, or `None` if it could not be read.
fn answer(stream: TcpStream, replies: &[(&'static str, Reply)]) -> Option<String> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 || line.trim().is_empty() {
            break;
        }
    }
    let request = format!("{method} {path}");
    if path == "/quit" {
        return Some(request);
    }
    let mut stream = stream;
    let head = |len: usize| {
        format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
    };
    match replies.iter().find(|(p, _)| *p == path).map(|(_, r)| r) {
        None => {
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
        Some(Reply::File(body)) => {
            let _ = stream.write_all(head(body.len()).as_bytes());
            let _ = stream.write_all(body);
        }
        Some(Reply::Stall) => wait_for_hang_up(&mut stream),
        Some(Reply::Cut(body, n)) => {
            let _ = stream.write_all(head(body.len()).as_bytes());
            let _ = stream.write_all(&body[..*n]);
        }
        Some(Reply::StallMidBody(body, n)) => {
            let _ = stream.write_all(head(body.len()).as_bytes());
            let _ = stream.write_all(&body[..*n]);
            let _ = stream.flush();
            wait_for_hang_up(&mut stream);
        }
        Some(Reply::Raw(text)) => {
            let _ = stream.write_all(text.as_bytes());
        }
    }
    Some(request)
}

/// Options for the stand-in at `endpoint`, with a short timeout so stalls end quickly.
fn options(endpoint: &str, cache_dir: PathBuf) -> HubOptions {
    HubOptions {
        endpoint: endpoint.to_string(),
        cache_dir,
        progress: false,
        timeout: Duration::from_millis(500),
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

/// Fetches from a well-behaved stand-in into `cache` and checks it asked for both files and
/// the data are the stand-in's: a failure before left nothing that is trusted instead.
fn assert_a_good_server_is_used(cache: &Path) {
    let (train, test) = (rows(0, 5), rows(5, 3));
    let hub = Hub::files(encode(&train), encode(&test));
    let opts = options(&hub.endpoint, cache.to_path_buf());
    let dir = within_bound(move || fetch(DatasetKind::Mnist, &opts));
    let requests = hub.stop();
    let dir = dir.unwrap();
    assert_eq!(
        requests,
        [format!("GET {TRAIN_PATH}"), format!("GET {TEST_PATH}")]
    );
    let data = load_dir(&dir, DatasetKind::Mnist).unwrap();
    assert_eq!((data.train, data.test), (expected(&train), expected(&test)));
}

/// Nothing but a finished conversion may stay in the cache: no marker, no partial download.
fn assert_nothing_cached(cache: &Path) {
    let dir = cache.join("mnist");
    assert!(!dir.join("complete").exists());
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.contains(".part"))
                .collect()
        })
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn downloads_converts_and_then_works_offline() {
    let (train, test) = (rows(0, 5), rows(5, 3));
    let hub = Hub::files(encode(&train), encode(&test));
    let cache = tempfile::tempdir().unwrap();
    let opts = options(&hub.endpoint, cache.path().to_path_buf());

    let dir = fetch(DatasetKind::Mnist, &opts);
    let requests = hub.stop();
    let dir = dir.unwrap();
    assert_eq!(dir, cache.path().join("mnist"));
    // One plain GET per file.
    assert_eq!(
        requests,
        [format!("GET {TRAIN_PATH}"), format!("GET {TEST_PATH}")]
    );
    let data = load_dir(&dir, DatasetKind::Mnist).unwrap();
    assert_eq!(data.train, expected(&train));
    assert_eq!(data.test, expected(&test));
    assert_nothing_cached_but_the_conversion(&dir);

    // The server is gone: a second call is served from the converted cache.
    let again = fetch(DatasetKind::Mnist, &opts).unwrap();
    assert_eq!(again, dir);
    assert_eq!(
        load_dir(&again, DatasetKind::Mnist).unwrap().train,
        data.train
    );
}

/// The downloads are gone once converted: only the IDX files and the marker remain.
fn assert_nothing_cached_but_the_conversion(dir: &Path) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
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
    let opts = options(&endpoint, cache.path().to_path_buf());
    let err = within_bound(move || fetch(DatasetKind::Mnist, &opts))
        .unwrap_err()
        .to_string();
    assert!(err.contains(&endpoint), "{err}");
    assert!(err.contains("ylecun/mnist"), "{err}");
    assert!(err.contains("cannot connect"), "{err}");
    assert_nothing_cached(cache.path());
}

/// Every misbehaviour of a server: a clear one-line error naming the file's URL and the cause
/// once, within the bound, no panic, nothing cached; then a good server is used.
#[test]
fn a_misbehaving_hub_gives_a_clear_error_and_poisons_nothing() {
    let good = encode(&rows(0, 5));
    let truncated = good[..good.len() - 40].to_vec();
    let len = good.len();
    let cases: Vec<(Reply, String)> = vec![
        (
            Reply::Stall,
            "no answer within 500ms (data.hub_timeout_secs)".into(),
        ),
        (
            Reply::StallMidBody(good.clone(), 100),
            format!("no data for 500ms after 100 of {len} bytes (data.hub_timeout_secs)"),
        ),
        (
            Reply::Cut(good.clone(), 100),
            format!("the connection closed after 100 of {len} bytes"),
        ),
        (
            Reply::Raw("HTTP/1.1 302 Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            "redirect (HTTP 302 Found) without a Location header".into(),
        ),
        (
            Reply::Raw("HTTP/1.1 099 Weird\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            "unexpected HTTP status 099 Weird".into(),
        ),
        (
            Reply::Raw("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            "HTTP 503 Service Unavailable".into(),
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
            (TEST_PATH, Reply::File(good.clone())),
        ]);
        let cache = tempfile::tempdir().unwrap();
        let opts = options(&hub.endpoint, cache.path().to_path_buf());
        let result = within_bound(move || fetch(DatasetKind::Mnist, &opts));
        hub.stop();
        let err = result.unwrap_err().to_string();
        assert!(err.contains(&cause), "{cause}: {err}");
        assert!(err.contains(TRAIN_PATH), "{err}");
        assert_eq!(err.matches(&cause).count(), 1, "{err}");
        assert!(!err.contains('\n'), "{err}");
        assert_nothing_cached(cache.path());
        assert_a_good_server_is_used(cache.path());
    }
}

/// `source = auto` falls back to the bundled sample, with a one-line notice naming the URL
/// and the cause, whatever the Hub does (including answers that made hf-hub 0.4 panic).
#[test]
fn auto_falls_back_to_the_sample_when_the_hub_fails() {
    let replies = [
        (Reply::Stall, "no answer within"),
        (
            Reply::Raw("HTTP/1.1 302 Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            "without a Location header",
        ),
        (
            Reply::Raw("HTTP/1.1 099 Weird\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            "unexpected HTTP status 099",
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
            hub: options(&hub.endpoint, cache.path().to_path_buf()),
        };
        let loaded = within_bound(move || load(&request));
        hub.stop();
        let loaded = loaded.unwrap();
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

/// A cached conversion that cannot be read is discarded and downloaded again, with a notice;
/// when the Hub is gone too, the error says which file and what happened.
#[test]
fn an_unreadable_cache_is_discarded_and_fetched_again() {
    let cache = tempfile::tempdir().unwrap();
    assert_a_good_server_is_used(cache.path());
    let images = cache.path().join("mnist/train-images-idx3-ubyte.gz");
    let bytes = std::fs::read(&images).unwrap();
    std::fs::write(&images, &bytes[..bytes.len() / 2]).unwrap();

    let (train, test) = (rows(10, 4), rows(20, 2));
    let hub = Hub::files(encode(&train), encode(&test));
    let request = LoadRequest {
        kind: DatasetKind::Mnist,
        source: SourceKind::Hub,
        dir: None,
        hub: options(&hub.endpoint, cache.path().to_path_buf()),
    };
    let loaded = within_bound(move || load(&request));
    assert_eq!(hub.stop().len(), 2);
    let loaded = loaded.unwrap();
    assert_eq!(loaded.dataset.train, expected(&train));
    let notice = loaded.notice.unwrap();
    assert!(
        notice.contains("discarded the unreadable cached mnist")
            && notice.contains("train-images-idx3-ubyte.gz"),
        "{notice}"
    );

    // Damaged again, and no Hub: under auto, the sample, and the notice says both things.
    std::fs::write(&images, b"not gzip").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let request = LoadRequest {
        kind: DatasetKind::Mnist,
        source: SourceKind::Auto,
        dir: None,
        hub: options(&endpoint, cache.path().to_path_buf()),
    };
    let loaded = within_bound(move || load(&request)).unwrap();
    assert_eq!(loaded.dataset.origin, Origin::Sample);
    let notice = loaded.notice.unwrap();
    assert!(
        notice.contains("train-images-idx3-ubyte.gz") && notice.contains("cannot connect"),
        "{notice}"
    );
    assert_nothing_cached(cache.path());
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
        let file = parquet_file(&rows);
        let hub = Hub::files(file.clone(), file);
        let cache = tempfile::tempdir().unwrap();
        let result = fetch(
            DatasetKind::Mnist,
            &options(&hub.endpoint, cache.path().into()),
        );
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

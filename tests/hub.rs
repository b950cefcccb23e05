//! The Hub source against a local stand-in for the Hub: download, conversion, cache, errors.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use classgen::data::hub::{fetch, HubOptions};
use classgen::data::source::load_dir;
use classgen::data::{DatasetKind, Split, PIXELS, SIDE};
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

/// URL paths hf-hub requests for MNIST's two files.
const TRAIN_PATH: &str = "/datasets/ylecun/mnist/resolve/main/mnist/train-00000-of-00001.parquet";
const TEST_PATH: &str = "/datasets/ylecun/mnist/resolve/main/mnist/test-00000-of-00001.parquet";
/// The commit the stand-in claims to serve.
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
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

/// A stand-in for the Hub on 127.0.0.1, answering hf-hub's ranged GETs for a few files.
struct Hub {
    endpoint: String,
    thread: JoinHandle<Vec<String>>,
}

impl Hub {
    /// Serves `files` (URL path, bytes) until [`Hub::stop`] or [`MAX_CONNECTIONS`].
    fn serve(files: Vec<(&'static str, Vec<u8>)>) -> Hub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let thread = std::thread::spawn(move || {
            let mut log = Vec::new();
            for stream in listener.incoming().take(MAX_CONNECTIONS) {
                let Ok(stream) = stream else { continue };
                match answer(stream, &files) {
                    Some(request) if request == "GET /quit" => break,
                    Some(request) => log.push(request),
                    None => {}
                }
            }
            log
        });
        Hub { endpoint, thread }
    }

    /// Stops the server and returns the requests it answered (`GET path range`).
    fn stop(self) -> Vec<String> {
        let address = self.endpoint.trim_start_matches("http://");
        if let Ok(mut stream) = TcpStream::connect(address) {
            let _ = stream.write_all(b"GET /quit HTTP/1.1\r\n\r\n");
        }
        self.thread.join().unwrap()
    }
}

/// Answers one request: 206 with the asked range of a known file, else 404.
/// Returns `GET path range`, or `None` if the request could not be read.
fn answer(stream: TcpStream, files: &[(&'static str, Vec<u8>)]) -> Option<String> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("range") {
                range = Some(value.trim().to_string());
            }
        }
    }
    let request = format!("{method} {path} {}", range.as_deref().unwrap_or("-"));
    if path == "/quit" {
        return Some("GET /quit".into());
    }
    let mut stream = stream;
    let found = files.iter().enumerate().find(|(_, (p, _))| *p == path);
    let Some((index, (_, body))) = found else {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return Some(request);
    };
    // "bytes=START-" or "bytes=START-END"; no range means the whole file.
    let (start, end) = match range.as_deref().and_then(|r| r.strip_prefix("bytes=")) {
        Some(r) => {
            let (s, e) = r.split_once('-')?;
            let end = if e.is_empty() {
                body.len() - 1
            } else {
                e.parse().ok()?
            };
            (s.parse().ok()?, end)
        }
        None => (0, body.len() - 1),
    };
    let chunk = &body[start..=end];
    let head = format!(
        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{end}/{}\r\nETag: \"etag-{index}\"\r\nX-Repo-Commit: {COMMIT}\r\nConnection: close\r\n\r\n",
        chunk.len(),
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(chunk);
    Some(request)
}

fn options(endpoint: &str, cache_dir: PathBuf) -> HubOptions {
    HubOptions {
        endpoint: endpoint.to_string(),
        cache_dir,
        progress: false,
    }
}

#[test]
fn downloads_converts_and_then_works_offline() {
    let train: Vec<(Vec<u8>, i64)> = (0..5).map(|i| (pixels(i), (i * 3 % 10) as i64)).collect();
    let test: Vec<(Vec<u8>, i64)> = (5..8).map(|i| (pixels(i), (i % 10) as i64)).collect();
    let encode = |rows: &[(Vec<u8>, i64)]| {
        let rows: Vec<_> = rows
            .iter()
            .map(|(p, l)| (png(SIDE as u32, SIDE as u32, p.clone()), *l))
            .collect();
        parquet_file(&rows)
    };
    let hub = Hub::serve(vec![
        (TRAIN_PATH, encode(&train)),
        (TEST_PATH, encode(&test)),
    ]);
    let cache = tempfile::tempdir().unwrap();
    let opts = options(&hub.endpoint, cache.path().to_path_buf());

    let dir = fetch(DatasetKind::Mnist, &opts);
    let requests = hub.stop();
    let dir = dir.unwrap();
    assert_eq!(dir, cache.path().join("mnist"));
    // hf-hub asks for the first byte (metadata), then the whole body, for each file.
    assert_eq!(
        requests,
        [
            format!("GET {TRAIN_PATH} bytes=0-0"),
            format!("GET {TRAIN_PATH} bytes=0-"),
            format!("GET {TEST_PATH} bytes=0-0"),
            format!("GET {TEST_PATH} bytes=0-"),
        ]
    );
    let expected = |rows: &[(Vec<u8>, i64)]| Split {
        images: rows.iter().flat_map(|(p, _)| p.clone()).collect(),
        labels: rows.iter().map(|&(_, l)| l as u8).collect(),
    };
    let data = load_dir(&dir, DatasetKind::Mnist).unwrap();
    assert_eq!(data.train, expected(&train));
    assert_eq!(data.test, expected(&test));

    // The server is gone: a second call is served from the converted cache.
    let again = fetch(DatasetKind::Mnist, &opts).unwrap();
    assert_eq!(again, dir);
    assert_eq!(
        load_dir(&again, DatasetKind::Mnist).unwrap().train,
        data.train
    );
}

#[test]
fn unreachable_endpoint_is_an_error_naming_it() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let cache = tempfile::tempdir().unwrap();
    let err = fetch(
        DatasetKind::Mnist,
        &options(&endpoint, cache.path().to_path_buf()),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains(&endpoint), "{err}");
    assert!(err.contains("ylecun/mnist"), "{err}");
    assert!(!cache.path().join("mnist").join("complete").exists());
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
        let hub = Hub::serve(vec![(TRAIN_PATH, file.clone()), (TEST_PATH, file)]);
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
        assert!(!cache.path().join("mnist").join("complete").exists());
    }
}

//! The webhook sink against a real HTTP server on 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use promodb::PromoDb;
use promodb::alerts::{
    AlertEvent, AlertSink, Alerts, Route, Rule, Severity, Transition, WebhookConfig, WebhookSink,
};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// 200 and record the body.
    Up,
    /// 503.
    Down,
    /// Hold the request until the mode changes, then answer by the new mode.
    Hold,
}

/// The server's mode and the bodies it accepted, with a condvar for mode changes.
type State = (Mutex<(Mode, Vec<String>)>, Condvar);

/// A tiny HTTP server recording the bodies it accepted.
struct Server {
    url: String,
    state: Arc<State>,
}

impl Server {
    fn start(mode: Mode) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks/alerts", listener.local_addr().unwrap());
        let state = Arc::new((Mutex::new((mode, Vec::new())), Condvar::new()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || handle(stream, &shared));
            }
        });
        Server { url, state }
    }

    fn set(&self, mode: Mode) {
        self.state.0.lock().unwrap().0 = mode;
        self.state.1.notify_all();
    }

    fn received(&self) -> Vec<String> {
        self.state.0.lock().unwrap().1.clone()
    }
}

fn handle(stream: TcpStream, state: &State) {
    let mut reader = BufReader::new(&stream);
    let mut length = 0;
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    assert!(
        request_line.starts_with("POST /hooks/alerts HTTP/1.1"),
        "{request_line}"
    );
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let mut guard = state.0.lock().unwrap();
    while guard.0 == Mode::Hold {
        guard = state.1.wait(guard).unwrap();
    }
    let status = if guard.0 == Mode::Up {
        guard.1.push(String::from_utf8(body).unwrap());
        "200 OK"
    } else {
        "503 Service Unavailable"
    };
    drop(guard);
    let _ =
        (&stream).write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes());
}

fn event(key: &str) -> AlertEvent {
    AlertEvent {
        at: Utc.with_ymd_and_hms(2026, 11, 11, 9, 45, 0).unwrap(),
        rule: "payment success".to_string(),
        key: key.to_string(),
        transition: Transition::Firing,
        severity: Severity::Critical,
        owner: "payments".to_string(),
        value: Some(0.42),
        message: format!("{key} success rate 42%"),
        actor: None,
    }
}

fn quick() -> WebhookConfig {
    WebhookConfig {
        timeout: Duration::from_millis(500),
        attempts: 2,
        backoff: Duration::from_millis(10),
    }
}

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn each_event_is_posted_once_as_json() {
    let server = Server::start(Mode::Up);
    let dir = tempfile::tempdir().unwrap();
    let sink = WebhookSink::new(&server.url, dir.path().join("dead.jsonl"), quick()).unwrap();
    for key in ["wechat", "alipay", "card"] {
        sink.deliver(&event(key)).unwrap();
    }
    assert!(sink.wait_idle(WAIT));
    let received = server.received();
    assert_eq!(received.len(), 3, "{received:?}");
    assert!(
        received[0].starts_with(
            r#"{"id":"payment success|wechat|firing|1794390300000000","ts":"2026-11-11T09:45:00Z","rule":"payment success","key":"wechat""#
        ),
        "{}",
        received[0]
    );
    assert!(received[2].contains(r#""value":0.42,"message":"card success rate 42%""#));
}

#[test]
fn an_endpoint_down_then_up_loses_nothing_and_gets_nothing_twice() {
    let server = Server::start(Mode::Down);
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.jsonl");
    let sink = WebhookSink::new(&server.url, &dead, quick()).unwrap();
    sink.deliver(&event("wechat")).unwrap();
    sink.deliver(&event("alipay")).unwrap();
    assert!(sink.wait_idle(WAIT));
    assert!(server.received().is_empty());
    let letters = std::fs::read_to_string(&dead).unwrap();
    assert_eq!(letters.lines().count(), 2, "{letters}");

    server.set(Mode::Up);
    sink.deliver(&event("card")).unwrap();
    assert!(sink.wait_idle(WAIT));
    let keys: Vec<String> = server
        .received()
        .iter()
        .map(|body| {
            body.split(r#""key":""#)
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    // The new event first, then the dead letters in order; the file is empty again.
    assert_eq!(keys, ["card", "wechat", "alipay"]);
    assert_eq!(std::fs::read_to_string(&dead).unwrap(), "");

    sink.deliver(&event("bank")).unwrap();
    assert!(sink.wait_idle(WAIT));
    assert_eq!(server.received().len(), 4, "nothing accepted is sent again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_endpoint_does_not_stall_evaluation() {
    let server = Server::start(Mode::Hold);
    let dir = tempfile::tempdir().unwrap();
    let db = PromoDb::in_memory().unwrap();
    let mut alerts = Alerts::new(&db).unwrap();
    alerts
        .add(Rule::sql("always", "SELECT 1 AS one"))
        .await
        .unwrap();
    let sink = Arc::new(
        WebhookSink::new(
            &server.url,
            dir.path().join("dead.jsonl"),
            WebhookConfig {
                timeout: Duration::from_secs(60),
                ..quick()
            },
        )
        .unwrap(),
    );
    alerts.add_sink(Route::all(), SharedSink(Arc::clone(&sink)));
    let t0 = Utc.with_ymd_and_hms(2026, 11, 11, 0, 0, 0).unwrap();
    let events = alerts.evaluate(t0).await.unwrap();
    assert!(events.iter().any(|e| e.transition == Transition::Firing));
    // The endpoint has not answered (it holds every request): evaluation went on anyway.
    assert!(server.received().is_empty());
    server.set(Mode::Up);
    assert!(sink.wait_idle(WAIT));
    assert_eq!(server.received().len(), 1);
}

#[test]
fn events_still_queued_when_the_sink_closes_are_dead_lettered() {
    let server = Server::start(Mode::Hold);
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.jsonl");
    let sink = WebhookSink::new(
        &server.url,
        &dead,
        WebhookConfig {
            timeout: Duration::from_millis(300),
            attempts: 5,
            backoff: Duration::from_millis(10),
        },
    )
    .unwrap();
    for key in ["wechat", "alipay", "card"] {
        sink.deliver(&event(key)).unwrap();
    }
    drop(sink);
    let letters = std::fs::read_to_string(&dead).unwrap();
    assert_eq!(letters.lines().count(), 3, "{letters}");
    server.set(Mode::Up);
}

#[derive(Debug)]
struct SharedSink(Arc<WebhookSink>);

impl AlertSink for SharedSink {
    fn deliver(&self, event: &AlertEvent) -> promodb::Result<()> {
        self.0.deliver(event)
    }
}

#[test]
fn a_url_that_is_not_http_is_refused() {
    let err = WebhookSink::new(
        "https://example.com/x",
        "dead.jsonl",
        WebhookConfig::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("only http://"), "{err}");
}

//! [`WebhookSink`]: alerts POSTed as JSON to an HTTP endpoint, off the caller's thread,
//! with a timeout, retries with backoff, and a dead-letter file.

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::event_log::AlertEvent;
use super::sink::{AlertSink, to_json};
use crate::error::{Error, Result};

/// POSTs each event as one JSON object (the same object as a [`super::JsonLinesSink`]
/// line, with an `id` to deduplicate on) to an `http://` URL.
///
/// Delivery runs on a thread of its own, so a slow or dead endpoint never stalls the
/// evaluation (nor the appends behind it): [`AlertSink::deliver`] only queues the event.
/// Each event is tried up to `attempts` times, with a timeout per try and a backoff that
/// doubles between tries; an event that still fails is appended to the dead-letter file
/// (JSON lines). After the next successful delivery, the dead letters are sent again, in
/// order, and removed from the file once accepted: while the endpoint is down no alert is
/// lost, and none is sent twice after it was accepted (a 2xx answer). Events still queued
/// when the sink is dropped go to the dead-letter file.
///
/// Only plain `http://` is spoken (a war room's webhook relay usually sits next to it);
/// for HTTPS, put a relay in front.
#[derive(Debug)]
pub struct WebhookSink {
    queue: Mutex<Option<Sender<AlertEvent>>>,
    idle: Arc<Idle>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

/// How a [`WebhookSink`] retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Time allowed for one try (connect, send, answer). By default, 2 s.
    pub timeout: Duration,
    /// Tries per event before it goes to the dead-letter file. By default, 4.
    pub attempts: u32,
    /// Wait after the first failed try; doubled after each. By default, 250 ms.
    pub backoff: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            timeout: Duration::from_secs(2),
            attempts: 4,
            backoff: Duration::from_millis(250),
        }
    }
}

/// Events queued and not yet delivered or dead-lettered, and whether the sink closes.
#[derive(Debug, Default)]
struct Idle {
    in_flight: Mutex<usize>,
    changed: Condvar,
    closing: AtomicBool,
}

impl Idle {
    fn add(&self, n: isize) {
        let mut count = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        *count = count.saturating_add_signed(n);
        self.changed.notify_all();
    }
}

impl WebhookSink {
    /// A sink POSTing to `url` (`http://host[:port]/path`), with dead letters in
    /// `dead_letters` (created when needed).
    pub fn new(url: &str, dead_letters: impl AsRef<Path>, config: WebhookConfig) -> Result<Self> {
        let endpoint = Endpoint::parse(url)?;
        if config.attempts == 0 {
            return Err(Error::InvalidArgument(
                "a webhook needs at least 1 attempt".to_string(),
            ));
        }
        let (sender, receiver) = mpsc::channel();
        let idle = Arc::new(Idle::default());
        let worker = Worker {
            endpoint,
            config,
            dead_letters: dead_letters.as_ref().to_path_buf(),
            idle: Arc::clone(&idle),
        };
        let handle = thread::Builder::new()
            .name("promodb-webhook".to_string())
            .spawn(move || worker.run(&receiver))
            .map_err(|e| Error::Internal(format!("cannot start the webhook thread: {e}")))?;
        Ok(WebhookSink {
            queue: Mutex::new(Some(sender)),
            idle,
            worker: Mutex::new(Some(handle)),
        })
    }

    /// Waits until every event handed to the sink is delivered or dead-lettered, for at
    /// most `timeout`; returns whether it is.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut count = self
            .idle
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        while *count > 0 {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            count = self
                .idle
                .changed
                .wait_timeout(count, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

impl AlertSink for WebhookSink {
    fn deliver(&self, event: &AlertEvent) -> Result<()> {
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let sender = queue
            .as_ref()
            .ok_or_else(|| Error::Internal("the webhook sink is closed".to_string()))?;
        self.idle.add(1);
        sender
            .send(event.clone())
            .map_err(|_| Error::Internal("the webhook thread is gone".to_string()))
    }
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        // The worker dead-letters what is left without trying it, and stops.
        self.idle.closing.store(true, Ordering::SeqCst);
        drop(self.queue.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(handle) = self.worker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = handle.join();
        }
    }
}

/// The event as the webhook's JSON body: the JSON-lines object with an `id` first.
fn body(event: &AlertEvent) -> String {
    let id = format!(
        "{}|{}|{}|{}",
        event.rule,
        event.key,
        event.transition.name(),
        event.at.timestamp_micros()
    );
    let object = to_json(event);
    format!("{{\"id\":{},{}", json_string(&id), &object[1..])
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Worker {
    endpoint: Endpoint,
    config: WebhookConfig,
    dead_letters: PathBuf,
    idle: Arc<Idle>,
}

impl Worker {
    fn run(self, queue: &Receiver<AlertEvent>) {
        loop {
            match queue.recv_timeout(Duration::from_secs(30)) {
                Ok(event) => {
                    let body = body(&event);
                    if self.idle.closing.load(Ordering::SeqCst) {
                        self.dead_letter(&body);
                    } else if self.send_with_retries(&body) {
                        self.resend_dead_letters();
                    } else {
                        self.dead_letter(&body);
                    }
                    self.idle.add(-1);
                }
                // Quiet for a while: a good moment to try the dead letters again.
                Err(RecvTimeoutError::Timeout) => self.resend_dead_letters(),
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn send_with_retries(&self, body: &str) -> bool {
        let mut wait = self.config.backoff;
        for attempt in 1..=self.config.attempts {
            if self.endpoint.post(body, self.config.timeout).is_ok() {
                return true;
            }
            // Closing: no more tries, the event goes to the dead-letter file.
            if attempt < self.config.attempts && !self.idle.closing.load(Ordering::SeqCst) {
                thread::sleep(wait);
                wait = wait.saturating_mul(2);
            }
        }
        false
    }

    fn dead_letter(&self, body: &str) {
        let appended = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.dead_letters)
            .and_then(|mut file| {
                file.write_all(format!("{body}\n").as_bytes())?;
                file.sync_data()
            });
        if let Err(e) = appended {
            // Nowhere else to put it: say so where an operator looks.
            eprintln!(
                "promodb: cannot write the webhook dead-letter file {}: {e}",
                self.dead_letters.display()
            );
        }
    }

    /// Sends the dead letters again, oldest first, once each; keeps those not accepted.
    fn resend_dead_letters(&self) {
        let Ok(text) = fs::read_to_string(&self.dead_letters) else {
            return;
        };
        let letters: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        if letters.is_empty() {
            return;
        }
        let sent = letters
            .iter()
            .take_while(|body| self.endpoint.post(body, self.config.timeout).is_ok())
            .count();
        if sent == 0 {
            return;
        }
        let rest: String = letters[sent..].iter().map(|l| format!("{l}\n")).collect();
        let temp = self.dead_letters.with_extension("tmp");
        let replaced = fs::write(&temp, rest).and_then(|()| fs::rename(&temp, &self.dead_letters));
        if let Err(e) = replaced {
            eprintln!(
                "promodb: cannot rewrite the webhook dead-letter file {}: {e}",
                self.dead_letters.display()
            );
        }
    }
}

/// Where a webhook POSTs.
#[derive(Debug, Clone)]
struct Endpoint {
    host: String,
    port: u16,
    path: String,
}

impl Endpoint {
    fn parse(url: &str) -> Result<Endpoint> {
        let bad = |why: &str| Error::InvalidArgument(format!("webhook URL '{url}': {why}"));
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// is supported (put a relay in front for https)"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().map_err(|_| bad("bad port"))?),
            None => (authority, 80),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Endpoint {
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }

    /// One POST; Ok on a 2xx answer.
    fn post(&self, body: &str, timeout: Duration) -> std::io::Result<()> {
        let deadline = Instant::now() + timeout;
        let left = || {
            deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"))
        };
        let address = (self.host.as_str(), self.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::other("the host has no address"))?;
        let mut stream = TcpStream::connect_timeout(&address, left()?)?;
        stream.set_write_timeout(Some(left()?))?;
        let request = format!(
            "POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.path,
            self.host,
            self.port,
            body.len()
        );
        stream.write_all(request.as_bytes())?;
        stream.set_read_timeout(Some(left()?))?;
        let mut status_line = String::new();
        BufReader::new((&stream).take(8192)).read_line(&mut status_line)?;
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad answer: {status_line:?}")))?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(std::io::Error::other(format!("HTTP {status}")))
        }
    }
}

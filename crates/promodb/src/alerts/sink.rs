//! Where alerts go: sinks, and routes that pick them by owner and severity.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::event_log::AlertEvent;
use super::rule::Severity;
use crate::error::{Error, Result};

/// Receives the events that notify (firing, repeat, resolved).
pub trait AlertSink: Send + Sync + std::fmt::Debug {
    /// Delivers one event. An error is returned from [`super::Alerts::evaluate`] after
    /// every other sink has had the event; the event stays in `alert_events`.
    fn deliver(&self, event: &AlertEvent) -> Result<()>;
}

/// Which events a sink gets: an owner (or any) and a minimum severity.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Route {
    /// Only rules of this owner; `None` for every owner.
    pub owner: Option<String>,
    /// Only events at least this severe; `None` for all.
    pub min_severity: Option<Severity>,
}

impl Route {
    /// Every event.
    pub fn all() -> Route {
        Route::default()
    }

    /// Events of rules owned by `owner`.
    pub fn owner(owner: impl Into<String>) -> Route {
        Route {
            owner: Some(owner.into()),
            min_severity: None,
        }
    }

    /// Only events at least `severity`.
    pub fn at_least(mut self, severity: Severity) -> Route {
        self.min_severity = Some(severity);
        self
    }

    pub(crate) fn matches(&self, event: &AlertEvent) -> bool {
        self.owner.as_ref().is_none_or(|o| *o == event.owner)
            && self.min_severity.is_none_or(|s| event.severity >= s)
    }
}

/// Calls a function: an action hook, e.g. open a replenishment request.
pub struct CallbackSink<F>(pub F);

impl<F> std::fmt::Debug for CallbackSink<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallbackSink")
    }
}

impl<F> AlertSink for CallbackSink<F>
where
    F: Fn(&AlertEvent) -> Result<()> + Send + Sync,
{
    fn deliver(&self, event: &AlertEvent) -> Result<()> {
        (self.0)(event)
    }
}

/// Appends one JSON object per event to a file (created if missing), flushed per event.
#[derive(Debug)]
pub struct JsonLinesSink {
    path: PathBuf,
    file: Mutex<File>,
}

impl JsonLinesSink {
    /// A sink appending to `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        Ok(JsonLinesSink {
            path,
            file: Mutex::new(file),
        })
    }
}

impl AlertSink for JsonLinesSink {
    fn deliver(&self, event: &AlertEvent) -> Result<()> {
        let mut line = to_json(event);
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|source| Error::Io {
                path: self.path.clone(),
                source,
            })
    }
}

/// The event as one JSON object.
pub(crate) fn to_json(event: &AlertEvent) -> String {
    let text = |s: &str| {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    };
    let value = match event.value {
        Some(v) if v.is_finite() => v.to_string(),
        _ => "null".to_string(),
    };
    format!(
        "{{\"ts\":{},\"rule\":{},\"key\":{},\"transition\":{},\"severity\":{},\"owner\":{},\"value\":{},\"message\":{},\"actor\":{}}}",
        text(
            &event
                .at
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        ),
        text(&event.rule),
        text(&event.key),
        text(event.transition.name()),
        text(event.severity.name()),
        text(&event.owner),
        value,
        text(&event.message),
        event.actor.as_deref().map_or("null".to_string(), text),
    )
}

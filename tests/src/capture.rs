//! A tracing subscriber for tests: keeps every span's fields and every
//! event's target, level and fields, so tests can assert on what was logged
//! and on what never is (secrets).

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

type FieldMap = BTreeMap<String, String>;
/// Span id to span name and fields.
type SpanMap = BTreeMap<u64, (String, FieldMap)>;

/// A subscriber that keeps every span's fields and every event.
#[derive(Clone, Default)]
pub struct Capture {
    next: Arc<AtomicU64>,
    spans: Arc<Mutex<SpanMap>>,
    events: Arc<Mutex<Vec<Captured>>>,
}

/// One event as it was emitted.
#[derive(Debug, Clone)]
pub struct Captured {
    /// Its target (by default the emitting module's path).
    pub target: String,
    /// Its level.
    pub level: Level,
    /// Every field, the message included (as `message`), as text.
    pub fields: BTreeMap<String, String>,
}

impl Captured {
    /// A field's text, if the event has it.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// The message, if any.
    pub fn message(&self) -> Option<&str> {
        self.field("message")
    }
}

impl fmt::Display for Captured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {:?}", self.level, self.target, self.fields)
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let name = attrs.metadata().name().to_owned();
        self.spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, (name, fields));
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some((_, fields)) = self
            .spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(&span.into_u64())
        {
            values.record(&mut Fields(fields));
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let metadata = event.metadata();
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Captured {
                target: metadata.target().to_owned(),
                level: *metadata.level(),
                fields,
            });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Capture {
    /// The fields of every span with this name.
    pub fn spans(&self, name: &str) -> Vec<BTreeMap<String, String>> {
        let spans = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        spans
            .values()
            .filter(|(n, _)| n == name)
            .map(|(_, f)| f.clone())
            .collect()
    }
    /// Every span and event as text.
    pub fn everything(&self) -> String {
        let mut all = String::new();
        for (name, fields) in self
            .spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            let _ = writeln!(all, "{name} {fields:?}");
        }
        for e in self
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(all, "{e}");
        }
        all
    }

    /// The events' text, in order.
    pub fn events(&self) -> Vec<String> {
        self.captured().iter().map(ToString::to_string).collect()
    }

    /// Every event, in order.
    pub fn captured(&self) -> Vec<Captured> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

//! Logging: `tracing`, level and format from the config file or `RUST_LOG`.

use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::reload;

type Handle = reload::Handle<EnvFilter, tracing_subscriber::Registry>;

static HANDLE: OnceLock<Handle> = OnceLock::new();

/// Installs the global subscriber (once; later calls are ignored).
pub fn init(level: &str, json: bool) {
    use tracing_subscriber::prelude::*;
    let filter = std::env::var("RUST_LOG").ok().and_then(|v| EnvFilter::try_new(v).ok()).unwrap_or_else(|| filter_for(level));
    let (layer, handle) = reload::Layer::new(filter);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false);
    let result = if json {
        tracing_subscriber::registry().with(layer).with(fmt.json()).try_init()
    } else {
        tracing_subscriber::registry().with(layer).with(fmt).try_init()
    };
    if result.is_ok() {
        let _ = HANDLE.set(handle);
    }
}

fn filter_for(level: &str) -> EnvFilter {
    EnvFilter::try_new(format!("{level},datafusion=warn,sqlparser=warn")).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Applies a new level (config reload), unless RUST_LOG pins it.
pub fn set_level(level: &str) {
    if std::env::var("RUST_LOG").is_ok() {
        return;
    }
    if let Some(h) = HANDLE.get() {
        let _ = h.reload(filter_for(level));
    }
}

//! Logging and tracing: human-readable logs on stderr (`RUST_LOG`, default `info`), and
//! OpenTelemetry span export over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (nothing is
//! sent otherwise).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Keeps the exporter alive; flushes spans when dropped.
pub struct Telemetry {
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown();
        }
    }
}

/// Installs the global subscriber. `default_level` applies when `RUST_LOG` is unset.
pub fn init(default_level: &str) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{default_level},openraft=warn,h2=warn,hyper=warn,rustls=warn"
        ))
    });
    // Colours for a terminal only: a node's log file stays plain text.
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|s| !s.is_empty());
    let provider = endpoint.and_then(|_| {
        use opentelemetry::trace::TracerProvider;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
            .ok()?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name("kumo")
            .build();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("kumo");
        Some((provider, tracer))
    });
    match provider {
        Some((provider, tracer)) => {
            let otel = tracing_opentelemetry::layer().with_tracer(tracer);
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(fmt)
                .with(otel)
                .try_init();
            Telemetry {
                provider: Some(provider),
            }
        }
        None => {
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(fmt)
                .try_init();
            Telemetry { provider: None }
        }
    }
}

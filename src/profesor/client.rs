//! How Tareo and Docencio call Profesor: one pooled keep-alive HTTP client
//! per process, with a timeout on every request.

use std::time::Duration;

use super::routes::{Texto, REQUEST_ID};
use crate::stats::RoleReport;

/// A report is worth little once the next one is due.
const REPORT_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a call to Profesor did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum ProfesorError {
    #[error("URL de Profesor inválida '{0}'")]
    BadUrl(String),
    #[error("sin respuesta en {0:?}")]
    Timeout(Duration),
    #[error("no se pudo conectar")]
    Unreachable,
    #[error("respondió HTTP {0}")]
    Status(u16),
    #[error("respuesta inesperada: {0}")]
    BadBody(String),
    #[error("{0}")]
    Other(String),
}

/// Profesor's answer to `POST /preguntas`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conteo {
    /// "Llevamos: N preguntas respondidas".
    pub texto: String,
    /// The numeric count; `None` from a Profesor written from the notebook,
    /// which also means it ignores `{"cantidad": k}`.
    pub total: Option<u64>,
}

/// A client of Profesor's API.
#[derive(Debug, Clone)]
pub struct ProfesorClient {
    http: reqwest::Client,
    base: String,
    /// The routes, parsed once: a hard question costs a clone, not a parse.
    respuesta_url: reqwest::Url,
    preguntas_url: reqwest::Url,
    informes_url: reqwest::Url,
    timeout: Duration,
}

impl ProfesorClient {
    /// A client for the API at `base_url` (e.g. `http://127.0.0.1:4444`);
    /// every request gives up after `timeout`.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, ProfesorError> {
        let base = normalize_base_url(base_url)?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .tcp_nodelay(true)
            // Loopback traffic must never go through a proxy from the environment.
            .no_proxy()
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|err| ProfesorError::Other(err.to_string()))?;
        let route = |path: &str| {
            reqwest::Url::parse(&format!("{base}{path}"))
                .map_err(|_| ProfesorError::BadUrl(base.clone()))
        };
        Ok(ProfesorClient {
            respuesta_url: route("/respuesta")?,
            preguntas_url: route("/preguntas")?,
            informes_url: route("/informes")?,
            http,
            base,
            timeout,
        })
    }

    /// The base URL, for log lines and errors.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `GET /respuesta`: Profesor's answer to a hard question (its `texto`).
    /// `request_id` (the question's id) goes in `X-Request-Id`, so
    /// Profesor's log line for it carries the same id as Tareo's.
    pub async fn respuesta(&self, request_id: &str) -> Result<String, ProfesorError> {
        let request = self
            .http
            .get(self.respuesta_url.clone())
            .header(REQUEST_ID, request_id);
        let texto: Texto = self.send(request).await?;
        Ok(texto.texto)
    }

    /// `POST /informes`: a role's counters, for Profesor's metrics and panel.
    pub async fn informar(&self, report: &RoleReport) -> Result<(), ProfesorError> {
        let response = self
            .http
            .post(self.informes_url.clone())
            .timeout(REPORT_TIMEOUT.min(self.timeout))
            .json(report)
            .send()
            .await
            .map_err(|err| self.classify(err))?;
        match response.status() {
            status if status.is_success() => Ok(()),
            status => Err(ProfesorError::Status(status.as_u16())),
        }
    }

    /// `POST /preguntas`: tells Profesor that `cantidad` more questions were
    /// answered. One is sent with no body, exactly as the notebook does, so
    /// any Profesor understands it. The same `idempotency_key` sent again
    /// (a retry) is counted once by a Profesor that supports it.
    /// `request_id` names the answers counted, for Profesor's log.
    pub async fn contar(
        &self,
        cantidad: u64,
        idempotency_key: Option<&str>,
        request_id: Option<&str>,
    ) -> Result<Conteo, ProfesorError> {
        let mut request = self.http.post(self.preguntas_url.clone());
        if let Some(request_id) = request_id {
            request = request.header(REQUEST_ID, request_id);
        }
        if let Some(key) = idempotency_key {
            request = request.header(super::routes::IDEMPOTENCY_KEY, key);
        }
        if cantidad != 1 {
            request = request.json(&serde_json::json!({ "cantidad": cantidad }));
        }
        let texto: Texto = self.send(request).await?;
        Ok(Conteo {
            texto: texto.texto,
            total: texto.total,
        })
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Texto, ProfesorError> {
        let response = request.send().await.map_err(|err| self.classify(err))?;
        let status = response.status();
        if !status.is_success() {
            return Err(ProfesorError::Status(status.as_u16()));
        }
        response.json::<Texto>().await.map_err(|err| {
            if err.is_timeout() {
                ProfesorError::Timeout(self.timeout)
            } else {
                ProfesorError::BadBody(err.to_string())
            }
        })
    }

    fn classify(&self, err: reqwest::Error) -> ProfesorError {
        if err.is_timeout() {
            ProfesorError::Timeout(self.timeout)
        } else if err.is_connect() {
            ProfesorError::Unreachable
        } else {
            ProfesorError::Other(error_chain(&err))
        }
    }
}

/// Profesor's base URL without a trailing `/`, or why it is not one: it must
/// be `http://` (or `https://`) with a host, as in `http://127.0.0.1:4444`.
pub fn normalize_base_url(base_url: &str) -> Result<String, ProfesorError> {
    let base = base_url.trim_end_matches('/').to_owned();
    match reqwest::Url::parse(&base) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(base),
        _ => Err(ProfesorError::BadUrl(base)),
    }
}

/// reqwest's top-level message hides the cause; join the chain for a person.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_url_without_scheme_or_host() {
        for bad in ["127.0.0.1:4444", "localhost", "ftp://x", ""] {
            assert!(
                ProfesorClient::new(bad, Duration::from_secs(1)).is_err(),
                "{bad}"
            );
        }
        let ok = ProfesorClient::new("http://127.0.0.1:4444/", Duration::from_secs(1)).unwrap();
        assert_eq!(ok.base_url(), "http://127.0.0.1:4444");
    }
}

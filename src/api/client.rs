//! How Tareo and Docencio call Profesor: one pooled keep-alive HTTP client
//! per process, with a timeout on every request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{ChatRelay, Informe, Texto, IDEMPOTENCY_KEY, REQUEST_ID};

/// An informe is worth little once the next one is due.
const INFORME_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a call to Profesor did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum ProfesorError {
    #[error("URL de Profesor inválida '{0}': se espera http://HOST:PUERTO, sin usuario, consulta ni fragmento, p. ej. http://127.0.0.1:4444")]
    BadUrl(String),
    #[error(
        "URL de Profesor '{0}': https no está disponible (aula habla HTTP sin TLS); usa http://"
    )]
    Https(String),
    #[error("sin respuesta en {0:?}")]
    Timeout(Duration),
    #[error("no se pudo conectar")]
    Unreachable,
    #[error("respondió HTTP {0}")]
    Status(u16),
    #[error("el token no puede ir en una cabecera HTTP (solo texto ASCII visible)")]
    BadToken,
    #[error("respuesta inesperada: {0}")]
    BadBody(String),
    /// Profesor refused, saying why (its JSON `error`).
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Other(String),
}

/// Profesor's answer to `POST /preguntas`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountReply {
    /// "Llevamos: N preguntas respondidas".
    pub texto: String,
    /// The numeric count; `None` from a Profesor written from the notebook,
    /// which also means it ignores `{"cantidad": k}`.
    pub total: Option<u64>,
}

/// One Profesor of the class, its routes parsed once: a hard question
/// costs a clone, not a parse.
#[derive(Debug)]
struct Replica {
    base: String,
    respuesta_url: reqwest::Url,
    preguntas_url: reqwest::Url,
    informes_url: reqwest::Url,
    chat_url: reqwest::Url,
}

impl Replica {
    fn new(base: String) -> Result<Self, ProfesorError> {
        let route = |path: &str| {
            reqwest::Url::parse(&format!("{base}{path}"))
                .map_err(|_| ProfesorError::BadUrl(base.clone()))
        };
        Ok(Replica {
            respuesta_url: route("/respuesta")?,
            preguntas_url: route("/preguntas")?,
            informes_url: route("/informes")?,
            chat_url: route("/sala/chat")?,
            base,
        })
    }
}

/// A client of Profesor's API: one Profesor, or several replicas of it
/// (sharing one count). A request goes to the replica that answered last;
/// when that one is down, times out or fails (5xx), the same request goes
/// to the next one, within the same time budget. Notices carry their
/// idempotency key, so one retried on another replica is counted once.
#[derive(Debug, Clone)]
pub struct ProfesorClient {
    http: reqwest::Client,
    replicas: Arc<[Replica]>,
    /// The replica that answered last.
    preferred: Arc<AtomicUsize>,
    /// Every base URL, for log lines.
    bases: Arc<str>,
    timeout: Duration,
}

impl ProfesorClient {
    /// A client for the API at `base_urls` (e.g. `http://127.0.0.1:4444`,
    /// or several replicas separated by commas); every request gives up
    /// after `timeout`, whichever replicas it tried.
    pub fn new(
        base_urls: &str,
        timeout: Duration,
        token: Option<&str>,
    ) -> Result<Self, ProfesorError> {
        let replicas = split_urls(base_urls)
            .map(|url| normalize_base_url(url).and_then(Replica::new))
            .collect::<Result<Vec<_>, _>>()?;
        if replicas.is_empty() {
            return Err(ProfesorError::BadUrl(base_urls.to_owned()));
        }
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = token.map(str::trim).filter(|token| !token.is_empty()) {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| ProfesorError::BadToken)?;
            // Kept out of debug output.
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(timeout)
            .connect_timeout(timeout)
            .tcp_nodelay(true)
            // Loopback traffic must never go through a proxy from the environment.
            .no_proxy()
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|err| ProfesorError::Other(err.to_string()))?;
        let bases: Vec<&str> = replicas
            .iter()
            .map(|replica| replica.base.as_str())
            .collect();
        Ok(ProfesorClient {
            bases: bases.join(", ").into(),
            replicas: replicas.into(),
            preferred: Arc::new(AtomicUsize::new(0)),
            http,
            timeout,
        })
    }

    /// The base URL(s), for log lines and errors.
    pub fn base_url(&self) -> &str {
        &self.bases
    }

    /// Each replica's base URL, normalized, preferred first: for a client
    /// of Profesor's other routes (the event stream).
    pub fn replica_urls(&self) -> Vec<String> {
        let count = self.replicas.len();
        let first = self.preferred.load(Ordering::Relaxed) % count;
        (0..count)
            .map(|offset| self.replicas[(first + offset) % count].base.clone())
            .collect()
    }

    /// `GET /respuesta`: Profesor's answer to a hard question (its `texto`).
    /// `request_id` (the question's id) goes in `X-Request-Id`, so
    /// Profesor's log line for it carries the same id as Tareo's.
    pub async fn respuesta(&self, request_id: &str) -> Result<String, ProfesorError> {
        let texto = self
            .with_failover(|replica, budget| async move {
                let request = self
                    .http
                    .get(replica.respuesta_url.clone())
                    .timeout(budget)
                    .header(REQUEST_ID, request_id);
                self.send(request).await
            })
            .await?;
        Ok(texto.texto)
    }

    /// `POST /informes`: a role's counters, for Profesor's metrics and
    /// panel; sent to every replica (each shows the class on its own
    /// panel). Fine when one took it.
    pub async fn send_informe(&self, informe: &Informe) -> Result<(), ProfesorError> {
        let sends = self.replicas.iter().map(|replica| async move {
            self.post_json(
                &replica.informes_url,
                INFORME_TIMEOUT.min(self.timeout),
                informe,
            )
            .await
        });
        let results = futures::future::join_all(sends).await;
        let mut first_error = None;
        for result in results {
            match result {
                Ok(()) => return Ok(()),
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        Err(first_error.unwrap_or(ProfesorError::Unreachable))
    }

    /// `POST /preguntas`: tells Profesor that `cantidad` more questions were
    /// answered. One is sent with no body, exactly as the notebook does, so
    /// any Profesor understands it. The same `idempotency_key` sent again
    /// (a retry, on this replica or another) is counted once by a Profesor
    /// that supports it. `request_id` names the answers counted, for
    /// Profesor's log.
    pub async fn count(
        &self,
        cantidad: u64,
        idempotency_key: Option<&str>,
        request_id: Option<&str>,
    ) -> Result<CountReply, ProfesorError> {
        let texto = self
            .with_failover(|replica, budget| async move {
                let mut request = self
                    .http
                    .post(replica.preguntas_url.clone())
                    .timeout(budget);
                if let Some(request_id) = request_id {
                    request = request.header(REQUEST_ID, request_id);
                }
                if let Some(key) = idempotency_key {
                    request = request.header(IDEMPOTENCY_KEY, key);
                }
                if cantidad != 1 {
                    request = request.json(&serde_json::json!({ "cantidad": cantidad }));
                }
                self.send(request).await
            })
            .await?;
        Ok(CountReply {
            texto: texto.texto,
            total: texto.total,
        })
    }

    /// `POST /sala/chat`: chat lines of this Docencio's students, for the
    /// students of the other Docencios (to one replica, with failover).
    pub async fn send_chat(&self, relay: &ChatRelay) -> Result<(), ProfesorError> {
        self.with_failover(|replica, budget| async move {
            self.post_json(&replica.chat_url, budget, relay).await
        })
        .await
    }

    /// POSTs `body` as JSON to `url` within `timeout`; any 2xx is fine, and
    /// its body (if any) is not read.
    async fn post_json(
        &self,
        url: &reqwest::Url,
        timeout: Duration,
        body: &impl serde::Serialize,
    ) -> Result<(), ProfesorError> {
        let response = self
            .http
            .post(url.clone())
            .timeout(timeout)
            .json(body)
            .send()
            .await
            .map_err(|err| self.classify(err))?;
        match response.status() {
            status if status.is_success() => Ok(()),
            status => Err(ProfesorError::Status(status.as_u16())),
        }
    }

    /// Tries `call` on the preferred replica, then on the next ones while
    /// the answer is worth another try (down, timed out, 5xx) and time is
    /// left; remembers the replica that answered.
    async fn with_failover<'a, T, F, Fut>(&'a self, call: F) -> Result<T, ProfesorError>
    where
        F: Fn(&'a Replica, Duration) -> Fut,
        Fut: std::future::Future<Output = Result<T, ProfesorError>>,
    {
        let deadline = Instant::now() + self.timeout;
        let count = self.replicas.len();
        let first = self.preferred.load(Ordering::Relaxed) % count;
        let mut last_error = ProfesorError::Timeout(self.timeout);
        for offset in 0..count {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            // A replica that hangs (accepts, never answers) must leave the
            // others time: each try gets its share of what is left.
            let budget = left / u32::try_from(count - offset).unwrap_or(1);
            let index = (first + offset) % count;
            match call(&self.replicas[index], budget).await {
                Ok(texto) => {
                    if index != first {
                        self.preferred.store(index, Ordering::Relaxed);
                        tracing::info!(
                            "Profesor en {} responde; se usa desde ahora",
                            self.replicas[index].base
                        );
                    }
                    return Ok(texto);
                }
                Err(err) if err.is_worth_another_replica() => {
                    // The next call starts at the next replica.
                    if count > 1 && offset == 0 {
                        let _ = self.preferred.compare_exchange(
                            first,
                            (first + 1) % count,
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        );
                    }
                    last_error = err;
                }
                Err(err) => return Err(err),
            }
        }
        Err(last_error)
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
/// be `http://` with a host, as in `http://127.0.0.1:4444`. `https://` is
/// refused with its own message: the client is built without TLS (the
/// class talks over loopback or a lab network), and a URL that could never
/// work is better refused when flags are read than at the first question.
pub fn normalize_base_url(base_url: &str) -> Result<String, ProfesorError> {
    let base = base_url.trim().trim_end_matches('/').to_owned();
    match reqwest::Url::parse(&base) {
        // Routes are appended to the base: a query or fragment would swallow
        // them, and credentials would end up in every log line.
        Ok(url)
            if url.query().is_some()
                || url.fragment().is_some()
                || !url.username().is_empty()
                || url.password().is_some() =>
        {
            Err(ProfesorError::BadUrl(base))
        }
        Ok(url) if url.scheme() == "http" && url.host().is_some() => Ok(base),
        Ok(url) if url.scheme() == "https" => Err(ProfesorError::Https(base)),
        _ => Err(ProfesorError::BadUrl(base)),
    }
}

/// Refuses a bad Profesor URL when flags are read, before anything binds a
/// port (a clap `value_parser`).
pub fn parse_profesor_url(text: &str) -> Result<String, String> {
    normalize_base_url(text).map_err(|err| err.to_string())
}

/// The URLs of a comma-separated list, without blanks.
pub(super) fn split_urls(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|url| !url.is_empty())
}

impl ProfesorError {
    /// Whether another replica might answer where this one did not: it is
    /// down, silent, failing (5xx), or refusing this client (401, 403: a
    /// replica set up with another token or other host names). Any other
    /// 4xx is Profesor's answer.
    fn is_worth_another_replica(&self) -> bool {
        match self {
            ProfesorError::Status(status) => *status >= 500 || matches!(*status, 401 | 403),
            ProfesorError::BadUrl(_) | ProfesorError::Https(_) | ProfesorError::BadToken => false,
            _ => true,
        }
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
        for bad in [
            "127.0.0.1:4444",
            "localhost",
            "ftp://x",
            "",
            "http://h:1?x=1",
            "http://h:1#f",
            "http://user:pw@h:1",
        ] {
            assert!(
                ProfesorClient::new(bad, Duration::from_secs(1), None).is_err(),
                "{bad}"
            );
        }
        let ok =
            ProfesorClient::new("http://127.0.0.1:4444/", Duration::from_secs(1), None).unwrap();
        assert_eq!(ok.base_url(), "http://127.0.0.1:4444");
    }

    #[test]
    fn refuses_https_saying_why() {
        let err = normalize_base_url("https://profesor.example:4444").unwrap_err();
        assert!(matches!(err, ProfesorError::Https(_)), "{err:?}");
        assert!(err.to_string().contains("usa http://"), "{err}");
    }
}

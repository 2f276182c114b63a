//! Docencio's client of Profesor's material (`/material`, `/entregas`):
//! lists, downloads from an offset, hands in. Apart from
//! [`super::ProfesorClient`] because a file takes as long as it takes: no
//! deadline for the whole request, only for connecting and for each read
//! or write that makes no progress.

use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use reqwest::header;

use super::client::{normalize_base_url, split_urls, ProfesorError};
use super::{Archivo, Entrega, ErrorBody, ListaMaterial, SHA256_HEADER};

/// A transfer that moves nothing for this long is given up.
const STALLED: Duration = Duration::from_secs(30);

/// The material of the Profesors at some base URLs (preferred first).
#[derive(Debug, Clone)]
pub struct MaterialClient {
    http: reqwest::Client,
    bases: Vec<reqwest::Url>,
}

/// A download under way: what the file is, and its bytes from the offset
/// asked for.
pub struct Descarga {
    pub nombre: String,
    /// The whole file's size.
    pub tamano: u64,
    /// The whole file's SHA-256.
    pub sha256: String,
    pub response: reqwest::Response,
}

impl MaterialClient {
    pub fn new(
        base_urls: &str,
        token: Option<&str>,
        connect_timeout: Duration,
    ) -> Result<Self, ProfesorError> {
        let bases = split_urls(base_urls)
            .map(|url| {
                normalize_base_url(url).and_then(|base| {
                    reqwest::Url::parse(&base).map_err(|_| ProfesorError::BadUrl(base))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if bases.is_empty() {
            return Err(ProfesorError::BadUrl(base_urls.to_owned()));
        }
        let mut headers = header::HeaderMap::new();
        if let Some(token) = token.map(str::trim).filter(|token| !token.is_empty()) {
            let mut value = header::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| ProfesorError::BadToken)?;
            value.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            // A Profesor busy serving files accepts late, not never.
            .connect_timeout(connect_timeout.max(Duration::from_secs(30)))
            .read_timeout(STALLED)
            .tcp_nodelay(true)
            .no_proxy()
            .build()
            .map_err(|err| ProfesorError::Other(err.to_string()))?;
        Ok(MaterialClient { http, bases })
    }

    /// `base` + the path segments, each percent-encoded as needed.
    fn url(base: &reqwest::Url, segments: &[&str]) -> reqwest::Url {
        let mut url = base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Sends what `request` makes for each Profesor in turn until one
    /// answers (a refusal is an answer).
    async fn first_answer(
        &self,
        request: impl Fn(&reqwest::Url) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ProfesorError> {
        let mut last = ProfesorError::Unreachable;
        for base in &self.bases {
            match request(base).send().await {
                Ok(response) if response.status().is_server_error() => {
                    last = ProfesorError::Status(response.status().as_u16());
                }
                Ok(response) => return Ok(response),
                Err(err) if err.is_timeout() => last = ProfesorError::Timeout(STALLED),
                Err(err) if err.is_connect() => last = ProfesorError::Unreachable,
                Err(err) => last = ProfesorError::Other(err.to_string()),
            }
        }
        Err(last)
    }

    /// `GET /material`.
    pub async fn list(&self) -> Result<Vec<Archivo>, ProfesorError> {
        let response = self
            .first_answer(|base| self.http.get(Self::url(base, &["material"])))
            .await?;
        let response = refused_as_error(response).await?;
        let lista: ListaMaterial = response
            .json()
            .await
            .map_err(|err| ProfesorError::BadBody(err.to_string()))?;
        Ok(lista.archivos)
    }

    /// `GET /material/{nombre}` from byte `desde`.
    pub async fn open(&self, nombre: &str, desde: u64) -> Result<Descarga, ProfesorError> {
        let response = self
            .first_answer(|base| {
                let request = self.http.get(Self::url(base, &["material", nombre]));
                if desde > 0 {
                    request.header(header::RANGE, format!("bytes={desde}-"))
                } else {
                    request
                }
            })
            .await?;
        let sha256 = response
            .headers()
            .get(SHA256_HEADER)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let status = response.status();
        let tamano = match status {
            reqwest::StatusCode::OK => response.content_length(),
            reqwest::StatusCode::PARTIAL_CONTENT => response
                .headers()
                .get(header::CONTENT_RANGE)
                .and_then(|value| value.to_str().ok())
                .and_then(|range| range.rsplit('/').next())
                .and_then(|total| total.parse().ok()),
            // Asked from the very end (or past it).
            reqwest::StatusCode::RANGE_NOT_SATISFIABLE => response
                .headers()
                .get(header::CONTENT_RANGE)
                .and_then(|value| value.to_str().ok())
                .and_then(|range| range.rsplit('/').next())
                .and_then(|total| total.parse().ok()),
            _ => None,
        };
        if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE {
            let tamano = tamano.unwrap_or(0);
            if desde == tamano {
                // From the very end: a resume of a download cut after its
                // last byte. Nothing is left to send but its end, and HEAD
                // says the size and the SHA-256 (its body is empty).
                return self.open_at_end(nombre, tamano).await;
            }
            return Err(ProfesorError::Refused(format!(
                "desde {desde} está más allá del final del archivo ({tamano} bytes)"
            )));
        }
        let response = refused_as_error(response).await?;
        let tamano = tamano.ok_or_else(|| ProfesorError::BadBody("sin tamaño".into()))?;
        Ok(Descarga {
            nombre: nombre.to_owned(),
            tamano,
            sha256,
            response,
        })
    }

    /// A download of `nombre` from its end (`tamano`): the HEAD response,
    /// whose body is empty.
    async fn open_at_end(&self, nombre: &str, tamano: u64) -> Result<Descarga, ProfesorError> {
        let response = self
            .first_answer(|base| self.http.head(Self::url(base, &["material", nombre])))
            .await?;
        let response = refused_as_error(response).await?;
        let sha256 = response
            .headers()
            .get(SHA256_HEADER)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        // The header itself: for a HEAD, reqwest's content_length() is the
        // (empty) body's.
        let length = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if length != Some(tamano) {
            return Err(ProfesorError::BadBody(format!(
                "el archivo cambió: ya no tiene {tamano} bytes"
            )));
        }
        Ok(Descarga {
            nombre: nombre.to_owned(),
            tamano,
            sha256,
            response,
        })
    }

    /// `PUT /entregas/{estudiante}/{nombre}` with `body` (exactly `tamano`
    /// bytes), checked by Profesor against `sha256`.
    pub async fn hand_in<S>(
        &self,
        estudiante: &str,
        nombre: &str,
        tamano: u64,
        sha256: &str,
        body: S,
    ) -> Result<Entrega, ProfesorError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        // The body can be sent once: to the preferred Profesor only.
        let url = Self::url(&self.bases[0], &["entregas", estudiante, nombre]);
        let response = self
            .http
            .put(url)
            .header(SHA256_HEADER, sha256)
            .header(header::CONTENT_LENGTH, tamano)
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .map_err(|err| {
                if err.is_connect() {
                    ProfesorError::Unreachable
                } else {
                    ProfesorError::Other(err.to_string())
                }
            })?;
        let response = refused_as_error(response).await?;
        response
            .json()
            .await
            .map_err(|err| ProfesorError::BadBody(err.to_string()))
    }
}

/// A 4xx/5xx with Profesor's JSON error, as an error saying it.
async fn refused_as_error(response: reqwest::Response) -> Result<reqwest::Response, ProfesorError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    match response.json::<ErrorBody>().await {
        Ok(body) => Err(ProfesorError::Refused(body.error)),
        Err(_) => Err(ProfesorError::Status(status.as_u16())),
    }
}

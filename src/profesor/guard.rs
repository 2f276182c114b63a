//! Who may talk to Profesor, and who may change the count: one middleware
//! in front of every route.
//!
//! - **Host.** Only `Host` values that name this server are answered: an IP
//!   address, `localhost`, this machine's name, or one given with
//!   `--allowed-host`. A web page that rebinds its own domain name to
//!   127.0.0.1 (DNS rebinding) sends its own name and is refused, so it
//!   cannot read Profesor either.
//! - **Origin.** A request that changes state (any method but GET, HEAD and
//!   OPTIONS) from a browser carries an `Origin`; it must be Profesor's own.
//!   A page elsewhere (even one on this machine, whose bodyless
//!   `fetch(..., {mode: 'no-cors'})` a browser sends without asking) is
//!   refused. Programs (Tareo, Docencio, curl) send no `Origin`.
//! - **Token.** With `--token T`, a request that changes state needs
//!   `Authorization: Bearer T`, compared in constant time; reads stay open.
//!
//! Refusals are JSON like every other error: 403 for a foreign host or
//! origin, 401 (with `WWW-Authenticate`) for a missing or wrong token.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};
use subtle::ConstantTimeEq;

use super::http::ApiError;
use crate::telemetry::for_log;

/// What the guard lets through; one per Profesor.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    token: Option<String>,
    /// Lower-case host names answered besides IP addresses, `localhost`
    /// and this machine's name.
    allowed_hosts: Vec<String>,
}

impl Guard {
    pub fn new(token: Option<String>, allowed_hosts: &[String]) -> Self {
        let mut allowed: Vec<String> = allowed_hosts
            .iter()
            .map(|host| host.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|host| !host.is_empty())
            .collect();
        allowed.push("localhost".to_owned());
        if let Some(name) = crate::machine::name() {
            allowed.push(name);
        }
        Guard {
            // The header's value is read trimmed: so is the token (a
            // stray space from a file or an `export` can never match).
            token: token
                .map(|token| token.trim().to_owned())
                .filter(|token| !token.is_empty()),
            allowed_hosts: allowed,
        }
    }

    /// Whether changing state needs a token.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Why this request may not go on, if it may not.
    pub fn check(&self, method: &Method, headers: &HeaderMap) -> Result<(), AccessDenied> {
        let host = headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok());
        if let Some(host) = host {
            if !self.answers_host(host) {
                return Err(AccessDenied::Host(host.to_owned()));
            }
        }
        if changes_state(method) {
            if let Some(origin) = headers.get(header::ORIGIN) {
                let origin = origin.to_str().unwrap_or("?");
                let own = host.is_some_and(|host| same_origin(origin, host));
                if !own {
                    return Err(AccessDenied::Origin(origin.to_owned()));
                }
            } else if headers
                .get("sec-fetch-site")
                .is_some_and(|site| site.as_bytes() != b"same-origin" && site.as_bytes() != b"none")
            {
                return Err(AccessDenied::Origin("(otro sitio)".to_owned()));
            }
            if let Some(token) = &self.token {
                let given = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| {
                        // The scheme is case-insensitive (RFC 7235).
                        let (scheme, token) = value.split_once(' ')?;
                        scheme.eq_ignore_ascii_case("bearer").then_some(token)
                    })
                    .map(str::trim);
                let matches =
                    given.is_some_and(|given| bool::from(given.as_bytes().ct_eq(token.as_bytes())));
                if !matches {
                    return Err(if given.is_some() {
                        AccessDenied::WrongToken
                    } else {
                        AccessDenied::NoToken
                    });
                }
            }
        }
        Ok(())
    }

    fn answers_host(&self, host: &str) -> bool {
        let name = host_name(host).trim_end_matches('.').to_ascii_lowercase();
        if name.parse::<std::net::IpAddr>().is_ok() {
            return true;
        }
        // `*.localhost` always names this machine (RFC 6761).
        name.ends_with(".localhost") || self.allowed_hosts.contains(&name)
    }
}

/// Why the guard refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessDenied {
    #[error("Host no permitido: '{}' no nombra a este Profesor (se aceptan direcciones IP, localhost, el nombre de esta máquina y los dados con --allowed-host)", for_log(.0))]
    Host(String),
    #[error("origen no permitido: '{}' no puede cambiar la cuenta de este Profesor", for_log(.0))]
    Origin(String),
    #[error("falta el token: este Profesor pide Authorization: Bearer <token> para cambiar su estado (--token / AULA_TOKEN en tareo y docencio)")]
    NoToken,
    #[error("token incorrecto")]
    WrongToken,
}

impl From<AccessDenied> for ApiError {
    fn from(denied: AccessDenied) -> Self {
        let text = denied.to_string();
        match denied {
            AccessDenied::Host(_) | AccessDenied::Origin(_) => ApiError::Forbidden(text),
            AccessDenied::NoToken | AccessDenied::WrongToken => ApiError::Unauthorized(text),
        }
    }
}

/// The middleware: every request goes through [`Guard::check`].
pub async fn guard(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    // Reading a session consumes its output, and its id is all that
    // protects it: with a token, the sessions' reads need it too.
    let method = if request.path().starts_with("/api/") {
        &Method::POST
    } else {
        request.method()
    };
    let refused = request
        .app_data::<web::Data<Guard>>()
        .and_then(|guard| guard.check(method, request.headers()).err());
    match refused {
        Some(refusal) => {
            tracing::info!(
                "{} {} rechazada: {refusal}",
                request.method(),
                for_log(request.path())
            );
            Ok(request
                .into_response(ApiError::from(refusal).error_response())
                .map_into_right_body())
        }
        None => Ok(next.call(request).await?.map_into_left_body()),
    }
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The name part of a `Host` value: without the port, and without the
/// brackets of an IPv6 address.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Whether `origin` (`scheme://host[:port]`) is the server's own, as
/// named by the request's `Host`.
fn same_origin(origin: &str, host: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    rest.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                header::HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    #[test]
    fn reads_are_open_to_any_ip_and_localhost_but_not_to_a_foreign_name() {
        let guard = Guard::new(None, &[]);
        for host in [
            "127.0.0.1:4444",
            "localhost:4444",
            "[::1]:4444",
            "10.1.2.3",
            "LOCALHOST",
        ] {
            assert_eq!(
                guard.check(&Method::GET, &headers(&[("host", host)])),
                Ok(()),
                "{host}"
            );
        }
        assert!(matches!(
            guard.check(&Method::GET, &headers(&[("host", "evil.example:4444")])),
            Err(AccessDenied::Host(_))
        ));
        let named = Guard::new(None, &["Profesor.Lab".to_owned()]);
        assert_eq!(
            named.check(&Method::GET, &headers(&[("host", "profesor.lab:4444")])),
            Ok(())
        );
    }

    #[test]
    fn a_foreign_origin_may_not_change_state_even_with_the_token() {
        let guard = Guard::new(Some("t".into()), &[]);
        let foreign = headers(&[
            ("host", "127.0.0.1:4444"),
            ("origin", "http://evil.example"),
            ("authorization", "Bearer t"),
        ]);
        assert!(matches!(
            guard.check(&Method::POST, &foreign),
            Err(AccessDenied::Origin(_))
        ));
        let own = headers(&[
            ("host", "127.0.0.1:4444"),
            ("origin", "http://127.0.0.1:4444"),
            ("authorization", "Bearer t"),
        ]);
        assert_eq!(guard.check(&Method::POST, &own), Ok(()));
        let cross_site = headers(&[("host", "127.0.0.1:4444"), ("sec-fetch-site", "cross-site")]);
        assert!(Guard::new(None, &[])
            .check(&Method::POST, &cross_site)
            .is_err());
        assert_eq!(
            guard.check(&Method::GET, &foreign),
            Ok(()),
            "reads stay open"
        );
    }

    #[test]
    fn changing_state_needs_the_exact_token() {
        let guard = Guard::new(Some("secreto".into()), &[]);
        let host = ("host", "127.0.0.1:4444");
        assert_eq!(
            guard.check(&Method::POST, &headers(&[host])),
            Err(AccessDenied::NoToken)
        );
        let lower = headers(&[host, ("authorization", "bearer secreto")]);
        assert_eq!(guard.check(&Method::POST, &lower), Ok(()));
        for wrong in [
            "Bearer secret",
            "Bearer secreto2",
            "Bearer ",
            "Basic secreto",
        ] {
            let refused = guard.check(&Method::POST, &headers(&[host, ("authorization", wrong)]));
            assert!(refused.is_err(), "{wrong}");
        }
        let right = headers(&[host, ("authorization", "Bearer secreto")]);
        assert_eq!(guard.check(&Method::POST, &right), Ok(()));
        assert_eq!(guard.check(&Method::DELETE, &right), Ok(()));
        assert_eq!(guard.check(&Method::GET, &headers(&[host])), Ok(()));
    }
}

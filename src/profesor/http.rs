//! The HTTP machinery every Profesor route uses, below all of them: the one
//! error type ([`ApiError`]) and the one place an error becomes JSON
//! (`{"error": "..."}` with its status), how a JSON body is taken
//! ([`json_body`]), and the rewrite of actix's own refusals into the same
//! JSON ([`json_errors`]).
//!
//! Each domain error (of the store, the folders, the sessions, the
//! informes) becomes an [`ApiError`] through a `From` here; a route's own
//! error (a bad `cantidad`, say) has its `From` beside it.

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::ServiceResponse;
use actix_web::error::JsonPayloadError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, HttpResponse, ResponseError};

use super::class_state::InformeError;
use super::store::StoreError;
use crate::api::{ErrorBody, MAX_BODY_BYTES, MAX_INFORME_BYTES};
use crate::archivos::CarpetaError;
use crate::sesiones::SesionError;

/// Why a request was not done, as its client sees it: the variant is the
/// status, the text is the `error` of the JSON body (in Spanish).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 400: the request itself is unreadable.
    #[error("{0}")]
    BadRequest(String),
    /// 401, with `WWW-Authenticate`: a credential is missing or wrong.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: not from here (a foreign `Host` or `Origin`).
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 405, with `Allow` naming the methods the path takes.
    #[error("método no permitido aquí; se permite: {0}")]
    MethodNotAllowed(&'static str),
    /// 409: something of that name is in the way.
    #[error("{0}")]
    Conflict(String),
    /// 413.
    #[error("{0}")]
    TooLarge(String),
    /// 415.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: readable, but not acceptable.
    #[error("{0}")]
    Unprocessable(String),
    /// 429: a limit of things open at once.
    #[error("{0}")]
    TooManyRequests(String),
    /// 503: the store (or what the request needs) is not available now.
    #[error("{0}")]
    Unavailable(String),
    /// 500.
    #[error("{0}")]
    Internal(String),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"aula\""));
            }
            ApiError::MethodNotAllowed(allow) => {
                response.insert_header((header::ALLOW, *allow));
            }
            _ => {}
        }
        response.json(ErrorBody {
            error: self.to_string(),
        })
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::KeyReused { .. } | StoreError::ListFull => {
                ApiError::Unprocessable(err.to_string())
            }
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

impl From<CarpetaError> for ApiError {
    fn from(err: CarpetaError) -> Self {
        let text = err.to_string();
        match &err {
            CarpetaError::Nombre(_) | CarpetaError::BadHash(_) | CarpetaError::Mismatch { .. } => {
                ApiError::Unprocessable(text)
            }
            CarpetaError::NotFound(_) => ApiError::NotFound(text),
            CarpetaError::TooLarge { .. } => ApiError::TooLarge(text),
            CarpetaError::Io(io) => match io.raw_os_error() {
                // A folder of that name is in the way.
                Some(libc::EISDIR | libc::ENOTEMPTY | libc::EEXIST | libc::ENOTDIR) => {
                    ApiError::Conflict(text)
                }
                Some(libc::ENAMETOOLONG) => ApiError::Unprocessable(text),
                // A symbolic link out of the folder.
                Some(libc::EXDEV | libc::ELOOP) => ApiError::NotFound(text),
                _ => ApiError::Internal(text),
            },
        }
    }
}

impl From<SesionError> for ApiError {
    fn from(err: SesionError) -> Self {
        let text = err.to_string();
        match err {
            SesionError::NotFound => ApiError::NotFound(text),
            SesionError::TooMany(_) => ApiError::TooManyRequests(text),
            SesionError::Ended(_) => ApiError::Conflict(text),
            SesionError::Spawn(_) => ApiError::Unavailable(text),
        }
    }
}

impl From<InformeError> for ApiError {
    fn from(err: InformeError) -> Self {
        match err {
            InformeError::UnknownRole(_) | InformeError::NameTooLong => {
                ApiError::BadRequest(err.to_string())
            }
            InformeError::TooManyRoles => ApiError::TooManyRequests(err.to_string()),
        }
    }
}

/// The answer of a path to a method it does not take: a JSON 405 with
/// `Allow`.
pub async fn method_not_allowed(allow: &'static str) -> HttpResponse {
    ApiError::MethodNotAllowed(allow).error_response()
}

/// How a route takes a JSON body of at most `limit` bytes, refusing what it
/// can't take in Spanish, as the JSON error every route gives: 415 for
/// another content type, 413 past the limit, 400 for a body that is not
/// `what` ("un informe", "un anuncio"...).
pub fn json_body(limit: usize, what: &'static str) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err, _| {
            let refusal = match &err {
                JsonPayloadError::ContentType => {
                    ApiError::UnsupportedMediaType(format!("{what} se envía como application/json"))
                }
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => ApiError::TooLarge(format!(
                    "cuerpo demasiado grande (máximo {limit} bytes para {what})"
                )),
                JsonPayloadError::Deserialize(cause) => {
                    ApiError::BadRequest(format!("no es {what}: {cause}"))
                }
                other => ApiError::BadRequest(format!("{what} ilegible: {other}")),
            };
            actix_web::error::InternalError::from_response(err, refusal.error_response()).into()
        })
}

/// Rewrites any 4xx/5xx that is not already JSON (actix's own refusals, such
/// as 413 for a body over [`MAX_BODY_BYTES`]) into `{"error": ...}`, keeping
/// status and headers.
pub fn json_errors<B: 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new()
        .default_handler_client(to_json_error)
        .default_handler_server(to_json_error)
}

fn to_json_error<B: 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let detail = if status == StatusCode::PAYLOAD_TOO_LARGE {
        match res.request().path() {
            "/informes" => {
                let limit = MAX_INFORME_BYTES;
                format!("cuerpo demasiado grande (máximo {limit} bytes para un informe)")
            }
            "/preguntas" => format!("cuerpo demasiado grande (máximo {MAX_BODY_BYTES} bytes); se espera {{\"cantidad\": k}} o ningún cuerpo"),
            path => format!("cuerpo demasiado grande para {} {path}", res.request().method()),
        }
    } else {
        res.response()
            .error()
            .map(|err| err.to_string())
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned())
    };
    let body = serde_json::to_string(&ErrorBody { error: detail })
        .unwrap_or_else(|_| String::from("{\"error\":\"error\"}"));
    let (req, mut res) = res.into_parts();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let res: actix_web::HttpResponse<EitherBody<B, BoxBody>> =
        res.set_body(BoxBody::new(body)).map_into_right_body();
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(
        req, res,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_are_the_client_s_or_the_store_s() {
        let reused = ApiError::from(StoreError::KeyReused {
            counted: 1,
            asked: 2,
        });
        assert_eq!(reused.status_code(), StatusCode::UNPROCESSABLE_ENTITY);
        let full = ApiError::from(StoreError::ListFull);
        assert_eq!(full.status_code(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(full.to_string(), "lista llena: 100000 estudiantes");
        let down = ApiError::from(StoreError::Closed);
        assert_eq!(down.status_code(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn a_folder_in_the_way_is_a_conflict_and_a_link_out_is_not_found() {
        let in_the_way = CarpetaError::Io(std::io::Error::from_raw_os_error(libc::EISDIR));
        assert_eq!(
            ApiError::from(in_the_way).status_code(),
            StatusCode::CONFLICT
        );
        let link_out = CarpetaError::Io(std::io::Error::from_raw_os_error(libc::ELOOP));
        assert_eq!(
            ApiError::from(link_out).status_code(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn a_wrong_method_says_which_ones_are_allowed() {
        let response = ApiError::MethodNotAllowed("GET, POST").error_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers().get(header::ALLOW).unwrap(), "GET, POST");
        let response = ApiError::Unauthorized("falta el token".into()).error_response();
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
    }
}

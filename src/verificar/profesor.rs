//! The cases of a Profesor: its HTTP JSON API, exact keys and texts
//! (`método` with its accent), JSON errors, an exact count under
//! concurrent `POST /preguntas`, and, when it offers them, la sala's and
//! the material's routes (read, or asked for what must be refused: a
//! grader never posts to a live class).

use std::time::Duration;

use serde_json::{json, Value};

use super::caso::{Reporte, Veredicto};
use crate::wire::texts::{is_known_answer, SALUDO};

/// Longest body kept from the target (the notebook's answers are tens of
/// bytes).
const MAX_BODY: usize = 1 << 20;

/// Longest a request may take, answer included.
const HTTP_WAIT: Duration = Duration::from_secs(7);

/// What went wrong, as a person acts on it: the timeout said as such, the
/// system's reason (connection refused, ...) rather than reqwest's
/// "error sending request".
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return format!("sin respuesta completa en {HTTP_WAIT:?}");
    }
    let mut why = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        why = format!("{why}: {cause}");
        source = cause.source();
    }
    why
}

/// Concurrent POSTs in the count case (bounded load).
const CONCURRENT_POSTS: usize = 50;

struct Cliente {
    http: reqwest::Client,
    url: String,
}

struct Respuesta {
    status: u16,
    allow: Option<String>,
    content_type: String,
    body: String,
}

impl Respuesta {
    fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    fn shown(&self) -> String {
        let body: String = self.body.chars().take(200).collect();
        format!("HTTP {} {body:?}", self.status)
    }
}

impl Cliente {
    async fn request(&self, method: reqwest::Method, path: &str) -> Result<Respuesta, String> {
        self.send(method, path, None).await
    }

    /// `method path`, with `body` as JSON when given.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Respuesta, String> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let mut response = request
            .send()
            .await
            .map_err(|err| format!("{method} {path}: {}", describe(&err)))?;
        let status = response.status().as_u16();
        let header = |name: reqwest::header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let allow = header(reqwest::header::ALLOW);
        let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
        // At most MAX_BODY bytes are kept: a target may send gigabytes.
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| format!("{method} {path}: {}", describe(&err)))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(format!(
                    "{method} {path}: la respuesta pasa de {MAX_BODY} bytes (HTTP {status})"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        Ok(Respuesta {
            status,
            allow,
            content_type,
            body,
        })
    }
}

/// `Llevamos: N preguntas respondidas` → N.
fn count_in(texto: &str) -> Option<u64> {
    texto
        .strip_prefix("Llevamos: ")?
        .strip_suffix(" preguntas respondidas")?
        .parse()
        .ok()
}

fn json_with(respuesta: &Respuesta, what: &str, check: impl Fn(&Value) -> bool) -> Veredicto {
    match respuesta.json() {
        Some(body) if respuesta.status == 200 && check(&body) => {
            if respuesta.content_type.starts_with("application/json") {
                Veredicto::Pasa
            } else {
                Veredicto::Observacion(format!("Content-Type {:?}", respuesta.content_type))
            }
        }
        _ => Veredicto::Falla(format!(
            "se esperaba 200 {what}; llegó {}",
            respuesta.shown()
        )),
    }
}

/// `GET path` is 404 with a JSON `{"error": ...}`.
async fn not_found_json(cliente: &Cliente, path: &str) -> Veredicto {
    match cliente.request(reqwest::Method::GET, path).await {
        Ok(respuesta) => json_error(&respuesta, 404, &format!("GET {path}")),
        Err(why) => Veredicto::Falla(why),
    }
}

/// An error the contract's way: `status`, a JSON `{"error": ...}`, and
/// said to be JSON (an HTML Content-Type fails even with a JSON body: a
/// browser or a client would take it as a page).
fn json_error(respuesta: &Respuesta, status: u16, request: &str) -> Veredicto {
    let is_error_json = respuesta
        .json()
        .is_some_and(|body| body["error"].is_string());
    if respuesta.status != status || !is_error_json {
        return Veredicto::Falla(format!(
            "{request}: se esperaba {status} {{\"error\": ...}}; llegó {}",
            respuesta.shown()
        ));
    }
    if respuesta.content_type.contains("html") {
        Veredicto::Falla(format!(
            "{request}: {status} con cuerpo JSON pero Content-Type {:?}",
            respuesta.content_type
        ))
    } else if !respuesta.content_type.starts_with("application/json") {
        Veredicto::Observacion(format!("Content-Type {:?}", respuesta.content_type))
    } else {
        Veredicto::Pasa
    }
}

async fn count(cliente: &Cliente, method: reqwest::Method) -> Result<u64, String> {
    let respuesta = cliente.request(method, "/preguntas").await?;
    respuesta
        .json()
        .and_then(|body| body["texto"].as_str().and_then(count_in))
        .ok_or_else(|| format!("/preguntas: {}", respuesta.shown()))
}

/// Every case for the Profesor at `url` (a token, when it asks for one).
pub async fn casos(url: &str, token: Option<&str>) -> Reporte {
    let mut informe = Reporte::new("profesor", url);
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(value) = token
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .and_then(|token| reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).ok())
    {
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    let cliente = match reqwest::Client::builder()
        .default_headers(headers)
        .no_proxy()
        .timeout(HTTP_WAIT)
        // Only the address the user named: a redirect elsewhere is
        // graded as it is, never followed.
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(http) => Cliente {
            http,
            url: url.trim_end_matches('/').to_owned(),
        },
        Err(err) => {
            informe
                .run("0.1", "0 conexión", "un cliente HTTP", async {
                    Veredicto::Falla(err.to_string())
                })
                .await;
            return informe;
        }
    };
    let cliente = &cliente;
    let routes = "1 rutas del cuaderno";
    informe
        .run(
            "1.1",
            routes,
            "GET / → {\"saludo\": \"Bienvenido a la clase\"}",
            async {
                match cliente.request(reqwest::Method::GET, "/").await {
                    Ok(respuesta) => json_with(
                        &respuesta,
                        "{\"saludo\": \"Bienvenido a la clase\"}",
                        |body| body["saludo"] == SALUDO,
                    ),
                    Err(why) => Veredicto::Falla(why),
                }
            },
        )
        .await;
    informe
        .run(
            "1.2",
            routes,
            "GET /respuesta → una de las cuatro, \"método\": \"GET\"",
            async {
                match cliente.request(reqwest::Method::GET, "/respuesta").await {
                    Ok(respuesta) => json_with(
                        &respuesta,
                        "{\"texto\": <una de las cuatro>, \"método\": \"GET\"}",
                        |body| {
                            body["texto"].as_str().is_some_and(is_known_answer)
                                && body["método"] == "GET"
                        },
                    ),
                    Err(why) => Veredicto::Falla(why),
                }
            },
        )
        .await;
    informe
        .run(
            "1.3",
            routes,
            "GET /preguntas → \"Llevamos: N preguntas respondidas\"",
            async {
                match cliente.request(reqwest::Method::GET, "/preguntas").await {
                    Ok(respuesta) => json_with(
                        &respuesta,
                        "{\"texto\": \"Llevamos: N preguntas respondidas\", \"método\": \"GET\"}",
                        |body| {
                            body["texto"].as_str().and_then(count_in).is_some()
                                && body["método"] == "GET"
                        },
                    ),
                    Err(why) => Veredicto::Falla(why),
                }
            },
        )
        .await;
    informe
        .run(
            "1.4",
            routes,
            "POST /preguntas suma uno, \"método\": \"POST\"",
            async {
                let before = match count(cliente, reqwest::Method::GET).await {
                    Ok(before) => before,
                    Err(why) => return Veredicto::Falla(why),
                };
                match cliente.request(reqwest::Method::POST, "/preguntas").await {
                    Ok(respuesta) => json_with(
                        &respuesta,
                        &format!(
                            "\"Llevamos: {} preguntas respondidas\", \"método\": \"POST\"",
                            before + 1
                        ),
                        |body| {
                            body["texto"].as_str().and_then(count_in) == Some(before + 1)
                                && body["método"] == "POST"
                        },
                    ),
                    Err(why) => Veredicto::Falla(why),
                }
            },
        )
        .await;
    let errors = "2 errores HTTP";
    informe
        .run(
            "2.1",
            errors,
            "ruta desconocida → 404 JSON, nunca HTML",
            not_found_json(cliente, "/no-existe-esta-ruta"),
        )
        .await;
    informe
        .run(
            "2.2",
            errors,
            "método equivocado → 405 JSON con Allow",
            async {
                match cliente.request(reqwest::Method::DELETE, "/preguntas").await {
                    Ok(respuesta) => match json_error(&respuesta, 405, "DELETE /preguntas") {
                        Veredicto::Pasa if respuesta.allow.is_none() => {
                            Veredicto::Observacion("405 JSON sin cabecera Allow".into())
                        }
                        verdict => verdict,
                    },
                    Err(why) => Veredicto::Falla(why),
                }
            },
        )
        .await;
    let exact = "3 cuenta exacta";
    informe
        .run(
            "3.1",
            exact,
            "50 POST /preguntas a la vez suman exactamente 50",
            async {
                let before = match count(cliente, reqwest::Method::GET).await {
                    Ok(before) => before,
                    Err(why) => return Veredicto::Falla(why),
                };
                let mut posts = tokio::task::JoinSet::new();
                for _ in 0..CONCURRENT_POSTS {
                    let http = cliente.http.clone();
                    let url = format!("{}/preguntas", cliente.url);
                    posts.spawn(async move {
                        match http.post(url).send().await {
                            Ok(response) if response.status().is_success() => Ok(()),
                            Ok(response) => Err(format!("HTTP {}", response.status().as_u16())),
                            Err(err) => Err(describe(&err)),
                        }
                    });
                }
                let mut failed = 0;
                let mut first_failure = None;
                while let Some(done) = posts.join_next().await {
                    let outcome = done.unwrap_or_else(|err| Err(err.to_string()));
                    if let Err(why) = outcome {
                        failed += 1;
                        first_failure.get_or_insert(why);
                    }
                }
                let after = match count(cliente, reqwest::Method::GET).await {
                    Ok(after) => after,
                    Err(why) => return Veredicto::Falla(why),
                };
                let expected = before + (CONCURRENT_POSTS - failed) as u64;
                if failed > 0 {
                    Veredicto::Falla(format!(
                        "{failed} de {CONCURRENT_POSTS} POST fallaron; el primero: {}",
                        first_failure.unwrap_or_default()
                    ))
                } else if after == expected {
                    Veredicto::Pasa
                } else {
                    Veredicto::Falla(format!(
                        "de {before}, 50 POST a la vez: se esperaba {expected}; quedó {after}"
                    ))
                }
            },
        )
        .await;
    // Sections 4 and 5: what Profesor offers beyond the notebook, only
    // read (a grader must not post announcements to a live class) and
    // attacked with requests that must change nothing.
    let sala = "4 sala";
    let mut offered = true;
    informe
        .run(
            "4.1",
            sala,
            "GET /anuncios → {\"anuncios\": [...]}",
            async {
                match cliente.request(reqwest::Method::GET, "/anuncios").await {
                    Ok(respuesta) if respuesta.status == 404 => {
                        offered = false;
                        Veredicto::NoAplica("no ofrece la sala (GET /anuncios: 404)".into())
                    }
                    Ok(respuesta) => json_with(&respuesta, "{\"anuncios\": [...]}", |body| {
                        body["anuncios"].is_array()
                    }),
                    Err(why) => Veredicto::Falla(why),
                }
            },
        )
        .await;
    let not_offered = || Veredicto::NoAplica("no ofrece la sala (ver 4.1)".into());
    informe
        .run(
            "4.2",
            sala,
            "POST /anuncios sin texto → 4xx JSON, nada anunciado",
            async {
                if !offered {
                    return not_offered();
                }
                match cliente
                    .send(reqwest::Method::POST, "/anuncios", Some(json!({"texto": ""})))
                    .await
                {
                    // Refused before its body was looked at: nothing tested.
                    Ok(respuesta) if matches!(respuesta.status, 401 | 403) => Veredicto::NoAplica(
                        format!(
                            "pide token (HTTP {}): con --token se prueba que rechace un anuncio vacío",
                            respuesta.status
                        ),
                    ),
                    Ok(respuesta)
                        if (400..500).contains(&respuesta.status)
                            && respuesta.json().is_some_and(|body| body["error"].is_string()) =>
                    {
                        Veredicto::Pasa
                    }
                    Ok(respuesta) => Veredicto::Falla(format!(
                        "POST /anuncios {{\"texto\": \"\"}}: se esperaba 4xx {{\"error\": ...}}; llegó {}",
                        respuesta.shown()
                    )),
                    Err(why) => Veredicto::Falla(why),
                }
            },
        )
        .await;
    informe
        .run(
            "4.3",
            sala,
            "GET /estudiantes/{nombre que no está} → 404 JSON",
            async {
                if !offered {
                    return not_offered();
                }
                not_found_json(cliente, "/estudiantes/verif-nadie-4bd1").await
            },
        )
        .await;
    let material = "5 material";
    let mut offered = true;
    informe
        .run("5.1", material, "GET /material → la lista", async {
            match cliente.request(reqwest::Method::GET, "/material").await {
                Ok(respuesta) if respuesta.status == 404 => {
                    offered = false;
                    Veredicto::NoAplica("no ofrece material (GET /material: 404)".into())
                }
                Ok(respuesta) => json_with(&respuesta, "{\"archivos\": [...]}", |body| {
                    body["archivos"].is_array()
                }),
                Err(why) => Veredicto::Falla(why),
            }
        })
        .await;
    let not_offered = || Veredicto::NoAplica("no ofrece material (ver 5.1)".into());
    informe
        .run(
            "5.2",
            material,
            "GET /material/{archivo que no está} → 404 JSON",
            async {
                if !offered {
                    return not_offered();
                }
                not_found_json(cliente, "/material/verif-no-existe-4bd1.txt").await
            },
        )
        .await;
    informe
        .run(
            "5.3",
            material,
            "GET /material/..%2F..%2Fetc%2Fpasswd → rechazado, nunca el archivo",
            async {
                if !offered {
                    return not_offered();
                }
                match cliente
                    .request(reqwest::Method::GET, "/material/..%2F..%2Fetc%2Fpasswd")
                    .await
                {
                    Ok(respuesta)
                        if (400..500).contains(&respuesta.status)
                            && !respuesta.body.contains("root:") =>
                    {
                        Veredicto::Pasa
                    }
                    Ok(respuesta) => Veredicto::Falla(format!(
                        "un nombre que sale de la carpeta: se esperaba 4xx; llegó {}",
                        respuesta.shown()
                    )),
                    Err(why) => Veredicto::Falla(why),
                }
            },
        )
        .await;
    informe
}

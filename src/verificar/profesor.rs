//! The cases of a Profesor: its HTTP JSON API, exact keys and texts
//! (`método` with its accent), JSON errors, and an exact count under
//! concurrent `POST /preguntas`.

use std::time::Duration;

use serde_json::Value;

use super::caso::{Informe, Veredicto};
use crate::wire::texts::{is_known_answer, SALUDO};

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
        let response = self
            .http
            .request(method.clone(), format!("{}{path}", self.url))
            .send()
            .await
            .map_err(|err| format!("{method} {path}: {err}"))?;
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
        let body = response
            .text()
            .await
            .map_err(|err| format!("{method} {path}: {err}"))?;
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

async fn count(cliente: &Cliente, method: reqwest::Method) -> Result<u64, String> {
    let respuesta = cliente.request(method, "/preguntas").await?;
    respuesta
        .json()
        .and_then(|body| body["texto"].as_str().and_then(count_in))
        .ok_or_else(|| format!("/preguntas: {}", respuesta.shown()))
}

/// Every case for the Profesor at `url` (a token, when it asks for one).
pub async fn casos(url: &str, token: Option<&str>) -> Informe {
    let mut informe = Informe::new("profesor", url);
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
        .timeout(Duration::from_secs(7))
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
            async {
                match cliente
                    .request(reqwest::Method::GET, "/no-existe-esta-ruta")
                    .await
                {
                    Ok(respuesta)
                        if respuesta.status == 404
                            && respuesta
                                .json()
                                .is_some_and(|body| body["error"].is_string()) =>
                    {
                        Veredicto::Pasa
                    }
                    Ok(respuesta) => Veredicto::Falla(format!(
                        "se esperaba 404 {{\"error\": ...}}; llegó {}",
                        respuesta.shown()
                    )),
                    Err(why) => Veredicto::Falla(why),
                }
            },
        )
        .await;
    informe
        .run(
            "2.2",
            errors,
            "método equivocado → 405 JSON con Allow",
            async {
                match cliente.request(reqwest::Method::DELETE, "/preguntas").await {
                    Ok(respuesta)
                        if respuesta.status == 405
                            && respuesta
                                .json()
                                .is_some_and(|body| body["error"].is_string()) =>
                    {
                        if respuesta.allow.is_some() {
                            Veredicto::Pasa
                        } else {
                            Veredicto::Observacion("405 JSON sin cabecera Allow".into())
                        }
                    }
                    Ok(respuesta) => Veredicto::Falla(format!(
                        "DELETE /preguntas: se esperaba 405 {{\"error\": ...}}; llegó {}",
                        respuesta.shown()
                    )),
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
                        http.post(url)
                            .send()
                            .await
                            .map(|response| response.status().is_success())
                    });
                }
                let mut failed = 0;
                while let Some(done) = posts.join_next().await {
                    if !matches!(done, Ok(Ok(true))) {
                        failed += 1;
                    }
                }
                let after = match count(cliente, reqwest::Method::GET).await {
                    Ok(after) => after,
                    Err(why) => return Veredicto::Falla(why),
                };
                let expected = before + (CONCURRENT_POSTS - failed) as u64;
                if failed > 0 {
                    Veredicto::Falla(format!("{failed} de {CONCURRENT_POSTS} POST fallaron"))
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
    informe
}

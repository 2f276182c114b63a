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

struct Reply {
    status: u16,
    allow: Option<String>,
    content_type: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    fn shown(&self) -> String {
        let body: String = self.body.chars().take(200).collect();
        format!("HTTP {} {body:?}", self.status)
    }
}

impl Cliente {
    async fn request(&self, method: reqwest::Method, path: &str) -> Result<Reply, String> {
        self.send(method, path, None).await
    }

    /// `method path`, with `body` as JSON when given.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Reply, String> {
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
        Ok(Reply {
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

fn json_with(reply: &Reply, what: &str, check: impl Fn(&Value) -> bool) -> Veredicto {
    match reply.json() {
        Some(body) if reply.status == 200 && check(&body) => {
            if reply.content_type.starts_with("application/json") {
                Veredicto::Pasa
            } else {
                Veredicto::Observacion(format!("Content-Type {:?}", reply.content_type))
            }
        }
        _ => Veredicto::Falla(format!("se esperaba 200 {what}; llegó {}", reply.shown())),
    }
}

/// `GET path` is 404 with a JSON `{"error": ...}`.
async fn not_found_json(cliente: &Cliente, path: &str) -> Veredicto {
    match cliente.request(reqwest::Method::GET, path).await {
        Ok(reply) => json_error(&reply, 404, &format!("GET {path}")),
        Err(why) => Veredicto::Falla(why),
    }
}

/// An error the contract's way: `status`, a JSON `{"error": ...}`, and
/// said to be JSON (an HTML Content-Type fails even with a JSON body: a
/// browser or a client would take it as a page).
fn json_error(reply: &Reply, status: u16, request: &str) -> Veredicto {
    let is_error_json = reply.json().is_some_and(|body| body["error"].is_string());
    if reply.status != status || !is_error_json {
        return Veredicto::Falla(format!(
            "{request}: se esperaba {status} {{\"error\": ...}}; llegó {}",
            reply.shown()
        ));
    }
    if reply.content_type.contains("html") {
        Veredicto::Falla(format!(
            "{request}: {status} con cuerpo JSON pero Content-Type {:?}",
            reply.content_type
        ))
    } else if !reply.content_type.starts_with("application/json") {
        Veredicto::Observacion(format!("Content-Type {:?}", reply.content_type))
    } else {
        Veredicto::Pasa
    }
}

async fn count(cliente: &Cliente, method: reqwest::Method) -> Result<u64, String> {
    let reply = cliente.request(method, "/preguntas").await?;
    reply
        .json()
        .and_then(|body| body["texto"].as_str().and_then(count_in))
        .ok_or_else(|| format!("/preguntas: {}", reply.shown()))
}

/// A case that asks `GET path` and checks its JSON body.
struct GetJson {
    id: &'static str,
    nombre: &'static str,
    path: &'static str,
    /// What the body must be, as the report says it.
    expected: &'static str,
    check: fn(&Value) -> bool,
}

/// Section 1: the notebook's reads.
const NOTEBOOK_READS: [GetJson; 3] = [
    GetJson {
        id: "1.1",
        nombre: "GET / → {\"saludo\": \"Bienvenido a la clase\"}",
        path: "/",
        expected: "{\"saludo\": \"Bienvenido a la clase\"}",
        check: |body| body["saludo"] == SALUDO,
    },
    GetJson {
        id: "1.2",
        nombre: "GET /respuesta → una de las cuatro, \"método\": \"GET\"",
        path: "/respuesta",
        expected: "{\"texto\": <una de las cuatro>, \"método\": \"GET\"}",
        check: |body| {
            body["texto"].as_str().is_some_and(is_known_answer) && body["método"] == "GET"
        },
    },
    GetJson {
        id: "1.3",
        nombre: "GET /preguntas → \"Llevamos: N preguntas respondidas\"",
        path: "/preguntas",
        expected: "{\"texto\": \"Llevamos: N preguntas respondidas\", \"método\": \"GET\"}",
        check: |body| {
            body["texto"].as_str().and_then(count_in).is_some() && body["método"] == "GET"
        },
    },
];

/// A section beyond the notebook, graded only when Profesor offers it:
/// its first case is a read that answers 404 when it does not.
struct Optional {
    seccion: &'static str,
    probe: GetJson,
    /// The probe's verdict on a 404.
    absent: &'static str,
    /// The other cases' verdict then.
    not_offered: &'static str,
}

/// Sections 4 and 5: what Profesor offers beyond the notebook, only read (a
/// grader must not post announcements to a live class) and attacked with
/// requests that must change nothing.
const SALA: Optional = Optional {
    seccion: "4 sala",
    probe: GetJson {
        id: "4.1",
        nombre: "GET /anuncios → {\"anuncios\": [...]}",
        path: "/anuncios",
        expected: "{\"anuncios\": [...]}",
        check: |body| body["anuncios"].is_array(),
    },
    absent: "no ofrece la sala (GET /anuncios: 404)",
    not_offered: "no ofrece la sala (ver 4.1)",
};

const MATERIAL: Optional = Optional {
    seccion: "5 material",
    probe: GetJson {
        id: "5.1",
        nombre: "GET /material → la lista",
        path: "/material",
        expected: "{\"archivos\": [...]}",
        check: |body| body["archivos"].is_array(),
    },
    absent: "no ofrece material (GET /material: 404)",
    not_offered: "no ofrece material (ver 5.1)",
};

impl Cliente {
    /// A client of `url` that sends `token`, when given, and never follows
    /// a redirect: only the address the user named is graded, as it
    /// answers.
    fn new(url: &str, token: Option<&str>) -> Result<Cliente, String> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(value) = token
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .and_then(|token| {
                reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).ok()
            })
        {
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .no_proxy()
            .timeout(HTTP_WAIT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| err.to_string())?;
        Ok(Cliente {
            http,
            url: url.trim_end_matches('/').to_owned(),
        })
    }
}

/// Every case for the Profesor at `url` (a token, when it asks for one).
pub async fn casos(url: &str, token: Option<&str>) -> Reporte {
    let mut informe = Reporte::new("profesor", url);
    let cliente = match Cliente::new(url, token) {
        Ok(cliente) => cliente,
        Err(why) => {
            informe
                .run("0.1", "0 conexión", "un cliente HTTP", async {
                    Veredicto::Falla(why)
                })
                .await;
            return informe;
        }
    };
    let cliente = &cliente;
    let routes = "1 rutas del cuaderno";
    for case in &NOTEBOOK_READS {
        informe
            .run(case.id, routes, case.nombre, get_json(cliente, case))
            .await;
    }
    let post = "POST /preguntas suma uno, \"método\": \"POST\"";
    informe
        .run("1.4", routes, post, post_adds_one(cliente))
        .await;
    let errors = "2 errores HTTP";
    let unknown = "ruta desconocida → 404 JSON, nunca HTML";
    let unknown_case = not_found_json(cliente, "/no-existe-esta-ruta");
    let wrong = "método equivocado → 405 JSON con Allow";
    informe.run("2.1", errors, unknown, unknown_case).await;
    informe
        .run("2.2", errors, wrong, wrong_method(cliente))
        .await;
    let exact = "50 POST /preguntas a la vez suman exactamente 50";
    informe
        .run("3.1", "3 cuenta exacta", exact, exact_count(cliente))
        .await;
    sala_section(&mut informe, cliente).await;
    material_section(&mut informe, cliente).await;
    informe
}

async fn sala_section(informe: &mut Reporte, cliente: &Cliente) {
    let (sala, sin) = (SALA.seccion, SALA.not_offered);
    let offered = probe(informe, cliente, &SALA).await;
    let empty = "POST /anuncios sin texto → 4xx JSON, nada anunciado";
    let empty_case = only_if(offered, sin, empty_announcement(cliente));
    let nobody = not_found_json(cliente, "/estudiantes/verif-nadie-4bd1");
    let nobody_name = "GET /estudiantes/{nombre que no está} → 404 JSON";
    informe.run("4.2", sala, empty, empty_case).await;
    informe
        .run("4.3", sala, nobody_name, only_if(offered, sin, nobody))
        .await;
}

async fn material_section(informe: &mut Reporte, cliente: &Cliente) {
    let (material, sin) = (MATERIAL.seccion, MATERIAL.not_offered);
    let offered = probe(informe, cliente, &MATERIAL).await;
    let missing = not_found_json(cliente, "/material/verif-no-existe-4bd1.txt");
    let missing_name = "GET /material/{archivo que no está} → 404 JSON";
    let outside = "GET /material/..%2F..%2Fetc%2Fpasswd → rechazado, nunca el archivo";
    let outside_case = only_if(offered, sin, outside_folder(cliente));
    informe
        .run(
            "5.2",
            material,
            missing_name,
            only_if(offered, sin, missing),
        )
        .await;
    informe.run("5.3", material, outside, outside_case).await;
}

/// `GET path`, its JSON body checked.
async fn get_json(cliente: &Cliente, case: &GetJson) -> Veredicto {
    match cliente.request(reqwest::Method::GET, case.path).await {
        Ok(reply) => json_with(&reply, case.expected, case.check),
        Err(why) => Veredicto::Falla(why),
    }
}

/// Runs the probe of `section`; true when Profesor offers it.
async fn probe(informe: &mut Reporte, cliente: &Cliente, section: &Optional) -> bool {
    let mut offered = true;
    let case = &section.probe;
    informe
        .run(case.id, section.seccion, case.nombre, async {
            match cliente.request(reqwest::Method::GET, case.path).await {
                Ok(reply) if reply.status == 404 => {
                    offered = false;
                    Veredicto::NoAplica(section.absent.into())
                }
                Ok(reply) => json_with(&reply, case.expected, case.check),
                Err(why) => Veredicto::Falla(why),
            }
        })
        .await;
    offered
}

/// `case`, when the section is `offered`; else "no aplica" saying why.
async fn only_if(
    offered: bool,
    not_offered: &str,
    case: impl std::future::Future<Output = Veredicto>,
) -> Veredicto {
    if !offered {
        return Veredicto::NoAplica(not_offered.into());
    }
    case.await
}

async fn post_adds_one(cliente: &Cliente) -> Veredicto {
    let before = match count(cliente, reqwest::Method::GET).await {
        Ok(before) => before,
        Err(why) => return Veredicto::Falla(why),
    };
    match cliente.request(reqwest::Method::POST, "/preguntas").await {
        Ok(reply) => json_with(
            &reply,
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
}

async fn wrong_method(cliente: &Cliente) -> Veredicto {
    match cliente.request(reqwest::Method::DELETE, "/preguntas").await {
        Ok(reply) => match json_error(&reply, 405, "DELETE /preguntas") {
            Veredicto::Pasa if reply.allow.is_none() => {
                Veredicto::Observacion("405 JSON sin cabecera Allow".into())
            }
            verdict => verdict,
        },
        Err(why) => Veredicto::Falla(why),
    }
}

async fn exact_count(cliente: &Cliente) -> Veredicto {
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
}

async fn empty_announcement(cliente: &Cliente) -> Veredicto {
    let sent = cliente
        .send(
            reqwest::Method::POST,
            "/anuncios",
            Some(json!({"texto": ""})),
        )
        .await;
    match sent {
        // Refused before its body was looked at: nothing tested.
        Ok(reply) if matches!(reply.status, 401 | 403) => Veredicto::NoAplica(format!(
            "pide token (HTTP {}): con --token se prueba que rechace un anuncio vacío",
            reply.status
        )),
        Ok(reply)
            if (400..500).contains(&reply.status)
                && reply.json().is_some_and(|body| body["error"].is_string()) =>
        {
            Veredicto::Pasa
        }
        Ok(reply) => Veredicto::Falla(format!(
            "POST /anuncios {{\"texto\": \"\"}}: se esperaba 4xx {{\"error\": ...}}; llegó {}",
            reply.shown()
        )),
        Err(why) => Veredicto::Falla(why),
    }
}

async fn outside_folder(cliente: &Cliente) -> Veredicto {
    match cliente
        .request(reqwest::Method::GET, "/material/..%2F..%2Fetc%2Fpasswd")
        .await
    {
        Ok(reply) if (400..500).contains(&reply.status) && !reply.body.contains("root:") => {
            Veredicto::Pasa
        }
        Ok(reply) => Veredicto::Falla(format!(
            "un nombre que sale de la carpeta: se esperaba 4xx; llegó {}",
            reply.shown()
        )),
        Err(why) => Veredicto::Falla(why),
    }
}

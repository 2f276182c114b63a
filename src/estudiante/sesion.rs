//! `estudiante sesion ARCHIVO.py`: runs a file in one of Profesor's
//! execution sessions (`/api/start`, `/api/read`) and streams what it
//! prints to the terminal, until it ends; Ctrl-C stops the session.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

/// How often the output is read.
const READ_EVERY: Duration = Duration::from_millis(100);

/// The interactive interpreter's prompts at the start of a line: noise
/// when a file runs.
fn without_prompts(output: &str) -> String {
    output
        .split_inclusive('\n')
        .map(|line| {
            let mut line = line;
            while let Some(rest) = line
                .strip_prefix(">>> ")
                .or_else(|| line.strip_prefix("... "))
            {
                line = rest;
            }
            if line == ">>> " || line == "... " {
                ""
            } else {
                line
            }
        })
        .collect()
}

/// Runs `archivo` at Profesor `url`; returns the exit code for the shell.
pub async fn run(
    url: &str,
    token: Option<&str>,
    archivo: &Path,
    stop: CancellationToken,
) -> Result<i32, String> {
    let code = std::fs::read_to_string(archivo)
        .map_err(|err| format!("no se pudo leer {}: {err}", archivo.display()))?;
    let sesion = Sesion::start(client(token)?, url, &code).await?;
    let mut code = 0;
    loop {
        tokio::select! {
            () = stop.cancelled() => {
                sesion.stop().await;
                return Ok(130);
            }
            () = tokio::time::sleep(READ_EVERY) => {}
        }
        let read = match sesion.read().await? {
            Some(read) => read,
            // Read to its end and forgotten.
            None => return Ok(code),
        };
        let output = read["output"].as_str().unwrap_or_default();
        if let Some(ended) = output.lines().find_map(|line| {
            line.split_once("[aula: la sesión terminó: ")
                .map(|(_, why)| why)
        }) {
            code = if ended.starts_with("salió con código 0") {
                0
            } else {
                1
            };
        }
        let _ = write!(std::io::stdout(), "{}", without_prompts(output));
        let _ = std::io::stdout().flush();
        if read["alive"] == false && output.is_empty() {
            return Ok(code);
        }
    }
}

/// The HTTP client of Profesor's sessions, with the token when given.
fn client(token: Option<&str>) -> Result<reqwest::Client, String> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token.map(str::trim).filter(|token| !token.is_empty()) {
        let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| "el token no puede ir en una cabecera HTTP".to_owned())?;
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|err| err.to_string())
}

/// The body of a successful answer, or Profesor's `error`.
async fn answer(response: reqwest::Response) -> Result<Value, String> {
    let status = response.status();
    let body: Value = response.json().await.map_err(|err| err.to_string())?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(body["error"].as_str().unwrap_or("error").to_owned())
    }
}

/// A session on Profesor running the file.
struct Sesion {
    http: reqwest::Client,
    url: String,
    id: String,
}

impl Sesion {
    /// Starts `code` and tells the interpreter to exit once it has run it.
    async fn start(http: reqwest::Client, url: &str, code: &str) -> Result<Sesion, String> {
        let started = http
            .post(format!("{url}/api/start"))
            .json(&json!({ "code": code }))
            .send()
            .await
            .map_err(|err| format!("Profesor en {url} no responde: {err}"))?;
        let started = answer(started).await?;
        let id = started["session_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        // The file has run once the interpreter reads this. A program that
        // ended by itself first (sys.exit) gets 409: its output is read all
        // the same.
        let exit = http
            .post(format!("{url}/api/write"))
            .json(&json!({"session_id": id, "line": "exit()"}))
            .send()
            .await
            .map_err(|err| err.to_string())?;
        if exit.status() != reqwest::StatusCode::CONFLICT {
            answer(exit).await?;
        }
        Ok(Sesion {
            http,
            url: url.to_owned(),
            id,
        })
    }

    /// What the program printed since the last read; `None` once the
    /// session is gone.
    async fn read(&self) -> Result<Option<Value>, String> {
        let read = self
            .http
            .get(format!("{}/api/read", self.url))
            .query(&[("session_id", &self.id)])
            .send()
            .await
            .map_err(|err| err.to_string())?;
        Ok(answer(read).await.ok())
    }

    async fn stop(&self) {
        let stop = json!({"session_id": self.id});
        let url = format!("{}/api/stop", self.url);
        let _ = self.http.post(url).json(&stop).send().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_left_out() {
        assert_eq!(
            without_prompts(">>> >>> 2\n>>> ... hola\n>>> "),
            "2\nhola\n"
        );
        assert_eq!(without_prompts("a >>> b\n"), "a >>> b\n");
    }
}

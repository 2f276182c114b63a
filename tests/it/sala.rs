//! La sala across the class: Profesor's announcements reaching the
//! students of every Docencio, as mensajes to the named ones and as plain
//! text to the notebook's kind; who may announce.

use crate::common;

use std::time::Duration;

use aula::profesor;
use common::*;
use serde_json::{json, Value};
use tokio::time::timeout;

const TOKEN: &str = "secreto-de-la-clase";

/// A POST of `body` to `url` with the class's token, as its roles send.
async fn post_as_class(url: impl reqwest::IntoUrl, body: &Value) -> reqwest::Response {
    http()
        .post(url)
        .bearer_auth(TOKEN)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// `POST /anuncios` with the class's token.
async fn announce(url: &str, texto: &str) -> Value {
    let response = post_as_class(format!("{url}/anuncios"), &json!({ "texto": texto })).await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announcement_reaches_every_student_of_every_docencio() {
    let profesor = start_profesor_with(profesor::Config {
        token: Some(TOKEN.into()),
        ..profesor::Config::default()
    })
    .await;
    let (tareo_addr, _tareo) = start_tareo(&profesor.url).await;
    let docencio = |_: ()| aula::docencio::Config {
        tareo_addr: tareo_addr.to_string(),
        profesor_url: profesor.url.clone(),
        token: Some(TOKEN.into()),
        ..aula::docencio::Config::default()
    };
    let (first, _first) = start_docencio_with(docencio(())).await;
    let (second, _second) = start_docencio_with(docencio(())).await;

    let mut ana = Client::connect(first).await;
    let answer = ana
        .say(json!({"operacion": "hola", "data": {"nombre": "Ana"}}))
        .await;
    assert_eq!(answer["estado"], "ok");
    let mut notebook = Client::connect(second).await;
    let mut quiet = Client::connect(second).await;
    let answer = quiet.say(json!({"operacion": "quien"})).await;
    assert_eq!(answer["estado"], "ok");

    let anuncio = announce(&profesor.url, "Examen el lunes").await;
    let pushed: Value = serde_json::from_str(&ana.read().await).unwrap();
    assert_eq!(pushed["operacion"], "anuncio");
    assert!(pushed.get("estado").is_none(), "a push has no estado");
    assert_eq!(pushed["data"]["texto"], "Examen el lunes");
    assert_eq!(pushed["data"]["id"], anuncio["id"]);
    assert_eq!(
        notebook.read().await,
        "Anuncio del Profesor: Examen el lunes"
    );
    // One that sent a mensaje but never said hola gets no push: the next
    // frame it reads is its own answer.
    assert_eq!(
        quiet.ask("Contenido").await,
        aula::wire::texts::CONTENIDO_ANSWER
    );

    // The notebook student still asks as always.
    assert!(is_relayed_answer(&notebook.ask("Tarea").await));
    assert_eq!(
        anuncios_of(&profesor.url)
            .await
            .first()
            .map(|a| &a["texto"]),
        Some(&Value::from("Examen el lunes"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_class_may_announce() {
    let profesor = start_profesor_with(profesor::Config {
        token: Some(TOKEN.into()),
        ..profesor::Config::default()
    })
    .await;
    let url = format!("{}/anuncios", profesor.url);
    let body = json!({"texto": "falso"});
    let missing = http().post(&url).json(&body).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let wrong = http()
        .post(&url)
        .bearer_auth("otro")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let foreign = http()
        .post(&url)
        .bearer_auth(TOKEN)
        .header("origin", "http://evil.example")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    for (bad, why) in [
        (json!({"texto": ""}), "empty"),
        (json!({"texto": "x".repeat(2001)}), "too long"),
        (json!({"texto": "rojo \u{1b}[31m"}), "control characters"),
        (json!({"otro": 1}), "no texto"),
    ] {
        let refused = post_as_class(&url, &bad).await;
        assert!(
            refused.status() == 422 || refused.status() == 400,
            "{why}: {}",
            refused.status()
        );
        let body: Value = refused.json().await.unwrap();
        assert!(body["error"].is_string(), "{why}: {body}");
    }
    let not_json = http()
        .post(&url)
        .bearer_auth(TOKEN)
        .header("content-type", "text/plain")
        .body("hola")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 415);
    let huge = post_as_class(&url, &json!({"texto": "x".repeat(20_000)})).await;
    assert_eq!(huge.status(), 413);
    let body: Value = huge.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("un anuncio"),
        "{body}"
    );
    let listed: Value = http().get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["anuncios"], json!([]), "nothing was announced");
}

/// The event stream Docencio follows: a follower that reconnects with
/// `Last-Event-ID` gets what it missed, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_replays_what_a_follower_missed() {
    let profesor = start_profesor_with(profesor::Config {
        token: Some(TOKEN.into()),
        ..profesor::Config::default()
    })
    .await;
    let first = announce(&profesor.url, "uno").await;
    let second = announce(&profesor.url, "dos").await;
    let mut stream = http()
        .get(format!("{}/eventos", profesor.url))
        .header("last-event-id", first["id"].to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(
        stream.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut seen = String::new();
    timeout(Duration::from_secs(10), async {
        while !seen.contains("\"texto\":\"dos\"") {
            let chunk = stream.chunk().await.unwrap().expect("stream open");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("the missed event within 10 s");
    assert!(!seen.contains("\"texto\":\"uno\""), "{seen}");
    assert!(
        seen.contains(&format!("id: {}\nevent: anuncio\n", second["id"])),
        "{seen}"
    );
    // And live from there.
    announce(&profesor.url, "tres").await;
    timeout(Duration::from_secs(10), async {
        while !seen.contains("\"texto\":\"tres\"") {
            let chunk = stream.chunk().await.unwrap().expect("stream open");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("the live event within 10 s");
}

/// A named student: what it says, and the pushes it got meanwhile, kept
/// in order for later (a push may come before the answer it waits for).
struct Member {
    client: Client,
    pushed: std::collections::VecDeque<Value>,
}

impl Member {
    async fn join(at: std::net::SocketAddr, name: &str) -> Member {
        let mut member = Member {
            client: Client::connect(at).await,
            pushed: Default::default(),
        };
        let answer = member
            .request(json!({"operacion": "hola", "data": {"nombre": name}}))
            .await;
        assert_eq!(answer["estado"], "ok", "{answer}");
        member
    }

    /// Sends `body`; its answer (a frame with `estado`), keeping the
    /// pushes that came first for [`Member::heard`].
    async fn request(&mut self, body: Value) -> Value {
        self.client.send(body.to_string()).await;
        loop {
            let frame: Value = serde_json::from_str(&self.client.read().await).unwrap();
            if frame.get("estado").is_some() {
                return frame;
            }
            self.pushed.push_back(frame);
        }
    }

    /// The next `count` chat pushes, as "author: text".
    async fn heard(&mut self, count: usize) -> Vec<String> {
        let mut lines = Vec::new();
        while lines.len() < count {
            let push = match self.pushed.pop_front() {
                Some(push) => push,
                None => serde_json::from_str(&self.client.read().await).unwrap(),
            };
            assert!(push.get("estado").is_none(), "{push}");
            if push["operacion"] == "chat" {
                lines.push(format!(
                    "{}: {}",
                    push["data"]["de"].as_str().unwrap(),
                    push["data"]["texto"].as_str().unwrap()
                ));
            }
        }
        lines
    }
}

/// Chat between students of two Docencios (through Profesor's event
/// stream): every line reaches every other named student exactly once, in
/// the order its author wrote it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_reaches_the_students_of_every_docencio_once_and_in_order() {
    let profesor = start_profesor_with(profesor::Config {
        token: Some(TOKEN.into()),
        ..profesor::Config::default()
    })
    .await;
    chat_between_two_docencios(&profesor.url, &profesor.url).await;
}

/// The same with two Profesors on one PostgreSQL, each Docencio following
/// its own: the lines cross from one Profesor to the other through the
/// database (LISTEN/NOTIFY), and an announcement posted to either is
/// listed by both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_crosses_two_profesors_on_one_database() {
    let Some(database) = common::postgres::fresh_database().await else {
        return;
    };
    let profesor = || {
        start_profesor_with(profesor::Config {
            token: Some(TOKEN.into()),
            database_url: Some(database.url.clone()),
            ..profesor::Config::default()
        })
    };
    let (one, other) = (profesor().await, profesor().await);
    chat_between_two_docencios(&one.url, &other.url).await;
    let posted = announce(&other.url, "examen el lunes").await;
    // The Profesor that took the POST lists it at once (it waits to see its
    // own event come back from the database); the other one as soon as the
    // database's notification reaches it.
    let listed = anuncios_of(&other.url).await;
    assert!(listed.contains(&posted), "{}: {listed:?}", other.url);
    eventually(
        Duration::from_secs(20),
        "the other Profesor listing the announcement",
        || async { anuncios_of(&one.url).await.contains(&posted).then_some(()) },
    )
    .await;
    // The database cuts every connection (a restart): each Profesor
    // listens again by itself, and what is posted to one reaches the other.
    database.refuse_connections(true).await;
    database.refuse_connections(false).await;
    let after_restart = eventually(
        Duration::from_secs(20),
        "an announcement posted after the restart",
        || async {
            let response = post_as_class(
                format!("{}/anuncios", other.url),
                &json!({"texto": "sigue la clase"}),
            )
            .await;
            match response.status().as_u16() {
                201 => Some(response.json::<Value>().await.unwrap()),
                503 => None,
                status => panic!("{status}: {}", response.text().await.unwrap()),
            }
        },
    )
    .await;
    eventually(
        Duration::from_secs(20),
        "the other Profesor listening again",
        || async {
            anuncios_of(&one.url)
                .await
                .contains(&after_restart)
                .then_some(())
        },
    )
    .await;
    // A Profesor started later gets the events kept in the database: a
    // Docencio that follows it with an older Last-Event-ID misses nothing.
    let late = profesor().await;
    assert_eq!(anuncios_of(&late.url).await.last(), Some(&after_restart));
}

/// What `GET /anuncios` lists on the Profesor at `url` (empty while it
/// does not answer).
async fn anuncios_of(url: &str) -> Vec<Value> {
    let Ok(response) = http().get(format!("{url}/anuncios")).send().await else {
        return Vec::new();
    };
    let listed: Value = response.json().await.unwrap_or_default();
    listed["anuncios"].as_array().cloned().unwrap_or_default()
}

/// Ana and Beto on a Docencio that follows `first_profesor`, Luis on one
/// that follows `second_profesor`.
async fn chat_between_two_docencios(first_profesor: &str, second_profesor: &str) {
    let (tareo_addr, _tareo) = start_tareo(first_profesor).await;
    let docencio = |profesor_url: &str| aula::docencio::Config {
        tareo_addr: tareo_addr.to_string(),
        profesor_url: profesor_url.to_owned(),
        token: Some(TOKEN.into()),
        ..aula::docencio::Config::default()
    };
    let (first, _first) = start_docencio_with(docencio(first_profesor)).await;
    let (second, _second) = start_docencio_with(docencio(second_profesor)).await;
    let mut ana = Member::join(first, "Ana").await;
    let mut beto = Member::join(first, "Beto").await;
    let mut luis = Member::join(second, "Luis").await;
    // A line that escaping makes too long (tabs become `\t`) is refused at
    // once by its Docencio, not later by Profesor with the lines around it.
    let long = ana
        .request(json!({"operacion": "chat", "data": "a\tb".repeat(160)}))
        .await;
    assert_eq!(long["estado"], "error", "{long}");
    for n in 0..5 {
        let sent = ana
            .request(json!({"operacion": "chat", "data": format!("Ana {n}")}))
            .await;
        assert_eq!(sent["estado"], "ok", "{sent}");
    }
    // Luis hears Ana's lines before he writes: they came in that order.
    let anas: Vec<String> = (0..5).map(|n| format!("Ana: Ana {n}")).collect();
    assert_eq!(luis.heard(5).await, anas);
    let sent = luis
        .request(json!({"operacion": "chat", "data": "Luis 0"}))
        .await;
    assert_eq!(sent["estado"], "ok", "{sent}");
    // Beto (Ana's Docencio) hears Ana's lines once, then Luis's: an echo of
    // Ana's lines through Profesor would have come between them.
    let mut expected = anas.clone();
    expected.push("Luis: Luis 0".into());
    assert_eq!(beto.heard(6).await, expected);
    assert_eq!(ana.heard(1).await, ["Luis: Luis 0"]);
    // Nothing more came to anybody: each one's next frame is its answer.
    for member in [&mut ana, &mut beto, &mut luis] {
        let answer = member.request(json!({"operacion": "quien"})).await;
        assert_eq!(answer["estado"], "ok");
        assert!(member.pushed.is_empty(), "{:?}", member.pushed);
    }
}

/// Our simulated students, named or not, take an announcement as one (not
/// as a wrong answer), count it, and go on asking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_students_count_announcements_and_keep_their_answers_straight() {
    let class = start_class().await;
    for names in [
        aula::estudiante::Naming::None,
        aula::estudiante::Naming::Prefix("alumno".into()),
    ] {
        let students = Students::start(aula::estudiante::Config {
            docencio_addrs: vec![class.docencio_addr.to_string()],
            students: 4,
            pause: false,
            connect_first: true,
            names: names.clone(),
            ..aula::estudiante::Config::default()
        });
        // Every student is in before the announcement.
        eventually(Duration::from_secs(10), "the four students in", || async {
            let estado: Value = http()
                .get(format!("{}/estado", class.profesor.url))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            estado["roles"]
                .as_array()?
                .iter()
                .any(|role| role["rol"] == "docencio" && role["conexiones"] == 4)
                .then_some(())
        })
        .await;
        if names != aula::estudiante::Naming::None {
            // Named: the sala has them (hola answered before they ask).
            let mut probe = Client::connect(class.docencio_addr).await;
            let all = json!(["alumno1", "alumno2", "alumno3", "alumno4"]);
            for _ in 0..100 {
                let quien = probe.say(json!({"operacion": "quien"})).await;
                if quien["data"] == all {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let quien = probe.say(json!({"operacion": "quien"})).await;
            assert_eq!(quien["data"], all);
        }
        let response = http()
            .post(format!("{}/anuncios", class.profesor.url))
            .json(&json!({"texto": "Pausa de 5 minutos"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let before = profesor_total(&class.profesor.url).await;
        until_counted_above(&class.profesor.url, before + 100, Duration::from_secs(20)).await;
        let summary = students.finish().await;
        assert_eq!(summary.total.announcements, 4, "{names:?}: {summary}");
        assert_eq!(summary.total.wrong, 0, "{names:?}: {summary}");
        assert_eq!(summary.total.errors, 0, "{names:?}: {summary}");
        assert!(summary.to_string().contains("4 anuncio(s)"), "{summary}");
    }
}

/// `/estudiantes`: the class list as a REST resource, with who is in the
/// sala and where; changes need the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_class_list_is_a_rest_resource_that_knows_who_is_connected() {
    let profesor = start_profesor_with(profesor::Config {
        token: Some(TOKEN.into()),
        ..profesor::Config::default()
    })
    .await;
    let url = format!("{}/estudiantes", profesor.url);
    let ana = json!({"nombre": "Ana", "correo": "ana@example.org"});
    let unauthorized = http().post(&url).json(&ana).send().await.unwrap();
    assert_eq!(unauthorized.status(), 401);

    let created = post_as_class(&url, &ana).await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["location"], "/estudiantes/Ana");
    let again = post_as_class(&url, &json!({"nombre": "ANA"})).await;
    assert_eq!(again.status(), 409);
    assert!(again.json::<Value>().await.unwrap()["error"].is_string());
    for bad in [
        json!({"nombre": "../etc"}),
        json!({"nombre": ""}),
        json!({"nombre": "x".repeat(33)}),
        json!({"nombre": "Bea", "correo": "sin-arroba"}),
        json!({"otro": 1}),
    ] {
        let refused = post_as_class(&url, &bad).await;
        assert!(
            refused.status() == 422 || refused.status() == 400,
            "{bad}: {}",
            refused.status()
        );
    }

    // PUT is idempotent: 201 the first time, 200 after; the path names it.
    let luis = format!("{url}/Luis");
    for expected in [201, 200] {
        let put = http()
            .put(&luis)
            .bearer_auth(TOKEN)
            .json(&json!({"seccion": "B"}))
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), expected);
    }
    let mismatch = http()
        .put(&luis)
        .bearer_auth(TOKEN)
        .json(&json!({"nombre": "Otro"}))
        .send()
        .await
        .unwrap();
    assert_eq!(mismatch.status(), 422);

    // Luis says hola in the sala: the list shows him connected, and where.
    let (tareo_addr, _tareo) = start_tareo(&profesor.url).await;
    let (docencio_addr, _docencio) = start_docencio_with(aula::docencio::Config {
        tareo_addr: tareo_addr.to_string(),
        profesor_url: profesor.url.clone(),
        token: Some(TOKEN.into()),
        ..aula::docencio::Config::default()
    })
    .await;
    let _luis_in_class = Member::join(docencio_addr, "Luis").await;
    let listed = eventually(Duration::from_secs(10), "Luis connected", || async {
        let listed: Value = http().get(&url).send().await.ok()?.json().await.ok()?;
        (listed["estudiantes"][1]["conectado"] == true).then_some(listed)
    })
    .await;
    assert_eq!(listed["estudiantes"][0]["nombre"], "Ana");
    assert_eq!(listed["estudiantes"][0]["conectado"], false);
    assert_eq!(listed["estudiantes"][1]["nombre"], "Luis");
    assert_eq!(listed["estudiantes"][1]["seccion"], "B");
    assert_eq!(
        listed["estudiantes"][1]["docencio"],
        docencio_addr.to_string()
    );

    let one: Value = http()
        .get(&luis)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["conectado"], true);
    let deleted = http()
        .delete(&luis)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = http().get(&luis).send().await.unwrap();
    assert_eq!(gone.status(), 404);
    assert!(gone.json::<Value>().await.unwrap()["error"].is_string());
    let again = http()
        .delete(&luis)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    let odd = http()
        .get(format!("{url}/..%2F..%2Fetc"))
        .send()
        .await
        .unwrap();
    assert_eq!(odd.status(), 404);
}

/// One address can't take every place on the event stream and keep the
/// Docencios out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_every_event_stream() {
    let profesor = start_profesor().await;
    let mut held = Vec::new();
    for _ in 0..32 {
        let stream = http()
            .get(format!("{}/eventos", profesor.url))
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), 200);
        held.push(stream);
    }
    let refused = http()
        .get(format!("{}/eventos", profesor.url))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("desde 127.0.0.1"),
        "{body}"
    );
    // A stream whose reader left frees its place at the next keep-alive
    // (every 5 s), when writing to it fails.
    drop(held.pop());
    eventually(Duration::from_secs(20), "a place again", || async {
        let stream = http()
            .get(format!("{}/eventos", profesor.url))
            .send()
            .await
            .ok()?;
        (stream.status() == 200).then_some(())
    })
    .await;
}

/// A student that says hola and then never reads, among 1,000: a flood of
/// chat from another Docencio fills its socket and its push queue, it is
/// cut off as soon as it has lost too much (not at the idle timeout), and
/// meanwhile the named students who read get every line in order and the
/// ones asking questions get every answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_student_that_never_reads_is_cut_off_and_slows_nobody() {
    const READERS: usize = 9;
    const ASKING: usize = 990;
    // Enough to fill any socket buffers (a few MB) and the push queue
    // (1,024), then lose more than the 4,096 that cut a client off.
    const LINES: usize = 16_000;
    const AHEAD: usize = 2_000;
    let class = start_class_with(aula::server::ServerLimits {
        // Far longer than the test: only falling behind can cut it.
        idle_timeout: Duration::from_secs(300),
        ..aula::server::ServerLimits::default()
    })
    .await;
    let asking = Students::start(aula::estudiante::Config {
        docencio_addrs: vec![class.docencio_addr.to_string()],
        students: ASKING,
        ..aula::estudiante::Config::default()
    });

    // The one that never reads, with the smallest receive buffer.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(class.docencio_addr).await.unwrap();
    let mut slow = Client {
        framed: tokio_util::codec::LengthDelimitedCodec::builder().new_framed(stream),
    };
    let answer = slow
        .say(json!({"operacion": "hola", "data": {"nombre": "Lento"}}))
        .await;
    assert_eq!(answer["estado"], "ok", "{answer}");

    // The ones that read, each checking order as it goes.
    let heard: Vec<_> = (0..READERS)
        .map(|_| std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0)))
        .collect();
    let mut readers = Vec::new();
    for (n, heard) in heard.iter().enumerate() {
        let mut member = Member::join(class.docencio_addr, &format!("lector{n}")).await;
        let heard = heard.clone();
        readers.push(tokio::spawn(async move {
            for expected in 0..LINES {
                let line = member.heard(1).await.remove(0);
                assert_eq!(line, format!("Otro: {expected} {}", "x".repeat(480)));
                heard.store(expected + 1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }

    // The flood, as another Docencio relays it through Profesor; kept at
    // most AHEAD lines ahead of the slowest reader that reads, so that
    // only the one that never reads falls behind.
    let slowest = || {
        heard
            .iter()
            .map(|n| n.load(std::sync::atomic::Ordering::Relaxed))
            .min()
            .unwrap()
    };
    for batch in 0..LINES / 100 {
        let mensajes: Vec<Value> = (batch * 100..(batch + 1) * 100)
            .map(|n| json!({"de": "Otro", "texto": format!("{n} {}", "x".repeat(480)), "momento_ms": 1, "docencio": "otro"}))
            .collect();
        let response = post_as_class(
            format!("{}/sala/chat", class.profesor.url),
            &json!({"docencio": "otro", "mensajes": mensajes}),
        )
        .await;
        assert_eq!(response.status(), 204);
        let sent = (batch + 1) * 100;
        eventually(
            Duration::from_secs(30),
            "the readers keeping up",
            || async { (slowest() + AHEAD >= sent).then_some(()) },
        )
        .await;
    }
    for reader in readers {
        timeout(Duration::from_secs(60), reader)
            .await
            .expect("every reader hears every line")
            .unwrap();
    }

    // The one that never read: what its socket held, then the end.
    let mut chat = 0usize;
    let ended = timeout(Duration::from_secs(20), async {
        while let Some(frame) = futures::StreamExt::next(&mut slow.framed).await {
            let Ok(frame) = frame else { break };
            let push: Value = serde_json::from_slice(&frame).unwrap();
            if push["operacion"] == "chat" {
                chat += 1;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "its connection was closed");
    assert!(
        chat < LINES - 4096,
        "it got {chat} of {LINES} lines: it must have lost more than 4,096"
    );

    let summary = asking.finish().await;
    let record = summary.record();
    assert_eq!(record.errors, 0, "{record:?}");
    assert_eq!(record.unanswered, 0, "{record:?}");
    assert!(record.answers > 0, "{record:?}");
    println!(
        "{ASKING} estudiantes preguntando: {} respuestas, p50 {:?}, p99 {:?}; el que no lee recibió {chat} de {LINES} líneas y se cortó",
        record.answers,
        summary.latency(0.5),
        summary.latency(0.99)
    );
}

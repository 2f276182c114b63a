//! The count in PostgreSQL: the store's suite (the same SQLite passes),
//! two Profesors on one database with one exact count, and PostgreSQL
//! going away: 503s naming the database, nothing lost.

use crate::common;

use std::time::Duration;

use aula::profesor::store::count::suite;
use aula::profesor::store::{CountStore, PostgresCount};
use common::postgres::fresh_database;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_stores_suite() {
    let Some(database) = fresh_database().await else {
        return;
    };
    let first = PostgresCount::connect(&database.url).await.unwrap();
    // A second Profesor starting on the same database: the schema is there.
    let second = PostgresCount::connect(&database.url).await.unwrap();
    let described = first.describe();
    assert!(
        described.starts_with("PostgreSQL en 127.0.0.1:") && described.contains("/aula_prueba_"),
        "{described}"
    );
    suite::two_stores_on_one_count_are_exact_under_concurrency(&first, &second).await;
    for test in 0..3 {
        let Some(database) = fresh_database().await else {
            return;
        };
        let store = PostgresCount::connect(&database.url).await.unwrap();
        match test {
            0 => suite::a_repeated_key_gets_the_first_total_and_adds_nothing(&store).await,
            1 => suite::a_key_reused_for_another_amount_is_refused(&store).await,
            _ => {
                aula::profesor::store::roster::suite::the_list_is_a_resource_with_case_blind_names(
                    &store,
                )
                .await
            }
        }
    }
}

async fn post_count(url: &str, key: &str) -> (reqwest::StatusCode, serde_json::Value) {
    let response = http()
        .post(format!("{url}/preguntas"))
        .header("Idempotency-Key", key)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_profesors_on_one_database_count_once_and_survive_it_going_away() {
    let Some(database) = fresh_database().await else {
        return;
    };
    let on_database = || aula::profesor::Config {
        database_url: Some(database.url.clone()),
        ..aula::profesor::Config::default()
    };
    let first = start_profesor_with(on_database()).await;
    let second = start_profesor_with(on_database()).await;
    // A notice retried on the other replica with its key counts once.
    assert_eq!(post_count(&first.url, "k1").await.1["total"], 1);
    let (status, body) = post_count(&second.url, "k1").await;
    assert_eq!((status.as_u16(), body["total"].as_u64()), (200, Some(1)));
    assert_eq!(post_count(&second.url, "k2").await.1["total"], 2);
    assert_eq!(profesor_total(&first.url).await, 2);

    // PostgreSQL goes away: a 503 naming it, nothing counted.
    database.refuse_connections(true).await;
    let (status, body) = post_count(&first.url, "k3").await;
    assert_eq!(status.as_u16(), 503, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("no está disponible") && error.contains("aula_prueba_"),
        "{body}"
    );
    // It comes back: the pool connects again by itself, and the retried
    // notice counts once.
    database.refuse_connections(false).await;
    let counted = eventually(Duration::from_secs(15), "PostgreSQL back", || async {
        let (status, body) = post_count(&first.url, "k3").await;
        (status.as_u16() == 200).then_some(body["total"].as_u64())
    })
    .await;
    assert_eq!(counted, Some(3));
    assert_eq!(profesor_total(&second.url).await, 3);
    first.running.stop().await;
    second.running.stop().await;
}

//! A PostgreSQL database of the test's own: created fresh on the server the
//! tests use, dropped when the test is done.
//!
//! The server is `AULA_TEST_DATABASE_URL` (an administrator's connection;
//! `scripts/test.sh` sets it when it starts a private cluster), else the
//! one on 127.0.0.1:5432 as user `postgres`. Where none answers, the test is
//! skipped saying why, except as root or under CI, where it fails.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio_postgres::NoTls;

/// A fresh database, dropped (with its connections) when this is dropped.
pub struct TestDatabase {
    pub url: String,
    admin: String,
    name: String,
}

fn admin_url() -> String {
    std::env::var("AULA_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A new, empty database; `None` (after saying why) where no server runs
/// and a skip is allowed.
pub async fn fresh_database() -> Option<TestDatabase> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let admin = admin_url();
    let client = match tokio_postgres::connect(&admin, NoTls).await {
        Ok((client, connection)) => {
            tokio::spawn(connection);
            client
        }
        Err(err) => {
            let why = format!("no hay PostgreSQL en {admin} ({err})");
            assert!(
                !super::herramientas::must_run(),
                "{why}; como root o con CI=true esta prueba no se omite (scripts/test.sh lo arranca)"
            );
            eprintln!("omitido: {why}");
            return None;
        }
    };
    let name = format!(
        "aula_prueba_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let url = match admin.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("AULA_TEST_DATABASE_URL sin base: {admin}"),
    };
    Some(TestDatabase { url, admin, name })
}

impl TestDatabase {
    /// As if PostgreSQL went away (`true`: every connection to this
    /// database is cut and new ones refused) or came back (`false`).
    pub async fn refuse_connections(&self, refuse: bool) {
        let (client, connection) = tokio_postgres::connect(&self.admin, NoTls).await.unwrap();
        tokio::spawn(connection);
        let name = &self.name;
        client
            .batch_execute(&format!(
                "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS {}",
                !refuse
            ))
            .await
            .unwrap();
        if refuse {
            client
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                    &[name],
                )
                .await
                .unwrap();
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs inside the test's runtime: drop the database from a
        // thread and runtime of its own, and wait for it.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let (client, connection) = tokio_postgres::connect(&admin, NoTls).await?;
                tokio::spawn(connection);
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            })
        });
        if let Ok(Err(err)) = dropped.join() {
            eprintln!("no se pudo borrar la base de prueba {}: {err}", self.name);
        }
    }
}

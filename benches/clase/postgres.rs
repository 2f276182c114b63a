//! A PostgreSQL database of the benchmark's own, for scenario 9: made on
//! the server of `AULA_TEST_DATABASE_URL` (else 127.0.0.1:5432 as user
//! postgres), dropped after the run.

use tokio_postgres::NoTls;

pub struct Database {
    pub url: String,
    admin: String,
    name: String,
}

fn admin_url() -> String {
    std::env::var("AULA_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

async fn connect(admin: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(admin, NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

pub async fn fresh_database() -> anyhow::Result<Database> {
    let admin = admin_url();
    let name = format!("aula_bench_{}", std::process::id());
    let client = connect(&admin).await?;
    // One statement each: CREATE DATABASE runs outside any transaction.
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    let server = admin
        .rsplit_once('/')
        .map(|(server, _)| server.to_owned())
        .ok_or_else(|| anyhow::anyhow!("URL sin base: {admin}"))?;
    Ok(Database {
        url: format!("{server}/{name}"),
        admin,
        name,
    })
}

impl Database {
    pub async fn drop_now(self) {
        if let Ok(client) = connect(&self.admin).await {
            let _ = client
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .await;
        }
    }
}

//! Throwaway databases for tests of the PostgreSQL store (here rather than in each test
//! crate, so the runtime's and the CLI's tests share one way to make and drop them).

use std::sync::atomic::{AtomicU32, Ordering};

/// The server tests use: `$OAAS_TEST_POSTGRES`, else this.
pub const DEFAULT_TEST_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh database on the test server, made for one test and dropped by
/// [`ScratchDatabase::drop_database`] (or, when a failed test never gets there, when the
/// value is dropped).
pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    url: String,
    dropped: bool,
}

/// Databases made by this process so far, for unique names.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// `url` with its database name replaced by `name` (the query string kept).
fn with_database(url: &str, name: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority_start = head.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match head[authority_start..].find('/') {
        Some(i) => &head[..authority_start + i],
        None => head,
    };
    format!("{base}/{name}{query}")
}

impl ScratchDatabase {
    /// Makes a database named `oaas_t_<pid>_<counter>_<random>` on the server at
    /// `$OAAS_TEST_POSTGRES` (default [`DEFAULT_TEST_URL`]). When the server cannot be
    /// reached it prints `SKIPPED: ...` and gives `Ok(None)`, unless `$OAAS_REQUIRE_POSTGRES`
    /// is `1`, when that is an error.
    pub async fn create() -> Result<Option<ScratchDatabase>, String> {
        let admin_url =
            std::env::var("OAAS_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_TEST_URL.to_string());
        let client = match connect(&admin_url).await {
            Ok(c) => c,
            Err(e) => {
                let message = format!("PostgreSQL not reachable at {admin_url}: {e}");
                if std::env::var("OAAS_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                    return Err(format!("{message} (and OAAS_REQUIRE_POSTGRES=1)"));
                }
                eprintln!("SKIPPED: {message}");
                return Ok(None);
            }
        };
        let random = uuid::Uuid::new_v4().simple().to_string();
        let name = format!(
            "oaas_t_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            &random[..8]
        );
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .map_err(|e| format!("cannot create database {name}: {}", super::chain(e)))?;
        let url = with_database(&admin_url, &name);
        Ok(Some(ScratchDatabase {
            admin_url,
            name,
            url,
            dropped: false,
        }))
    }

    /// The URL of the database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database, closing the connections still open to it.
    pub async fn drop_database(mut self) -> Result<(), String> {
        self.dropped = true;
        drop_named(&self.admin_url, &self.name).await
    }
}

impl Drop for ScratchDatabase {
    /// A database its test did not drop (it failed first) is dropped from a thread of its
    /// own, as this may run inside an async runtime.
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropper = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                let _ = rt.block_on(drop_named(&admin_url, &name));
            }
        });
        let _ = dropper.join();
    }
}

/// Drops the database `name`, closing the connections still open to it.
async fn drop_named(admin_url: &str, name: &str) -> Result<(), String> {
    let client = connect(admin_url).await?;
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .map_err(|e| format!("cannot drop database {name}: {}", super::chain(e)))
}

/// One connection, its connection task running in the background.
async fn connect(url: &str) -> Result<tokio_postgres::Client, String> {
    let mut config: tokio_postgres::Config = url.parse().map_err(super::chain)?;
    config.connect_timeout(std::time::Duration::from_secs(5));
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(super::chain)?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5432/test", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h:5432/test?sslmode=disable", "x"),
            "postgres://u@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}

//! A real S3 server for tests: `s3s-fs` (`cargo install s3s-fs --version 0.14.1 --locked
//! --features binary`), started as a process on a free port over a fresh folder, with one
//! bucket, and killed when dropped. Tests of the runtime and of `oaasc` use it; it is not
//! used by the runtime itself.

use super::s3::S3Settings;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The access key the test server accepts.
pub const ACCESS_KEY: &str = "oaas-test-access";
/// The secret key the test server accepts.
pub const SECRET_KEY: &str = "oaas-test-secret-key";
/// The bucket every test server has.
pub const BUCKET: &str = "oaas-test";

/// A running `s3s-fs`.
pub struct S3Server {
    child: Child,
    root: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

/// Where `s3s-fs` is: on `PATH`, else in `~/.cargo/bin`.
pub fn find_s3s_fs() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let cargo_bin = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin"));
    on_path
        .into_iter()
        .chain(cargo_bin)
        .map(|dir| dir.join("s3s-fs"))
        .find(|p| p.is_file())
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl S3Server {
    /// Starts a server, or says loudly that the test is skipped and answers `None` when
    /// `s3s-fs` is not installed. With `OAAS_REQUIRE_S3=1` a missing `s3s-fs` fails the
    /// test instead (a panic: this is test support).
    pub fn start() -> Option<S3Server> {
        let Some(bin) = find_s3s_fs() else {
            if std::env::var("OAAS_REQUIRE_S3").is_ok_and(|v| v == "1") {
                panic!("s3s-fs not found on PATH or in ~/.cargo/bin, and OAAS_REQUIRE_S3=1: cargo install s3s-fs --version 0.14.1 --locked --features binary");
            }
            eprintln!("SKIPPED: s3s-fs not found on PATH or in ~/.cargo/bin (cargo install s3s-fs --version 0.14.1 --locked --features binary); set OAAS_REQUIRE_S3=1 to fail instead");
            return None;
        };
        match S3Server::spawn(&bin) {
            Ok(server) => Some(server),
            Err(e) => panic!("cannot start {}: {e}", bin.display()),
        }
    }

    fn spawn(bin: &std::path::Path) -> Result<S3Server, String> {
        let root = std::env::temp_dir().join(format!("oaas-s3s-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(root.join(BUCKET)).map_err(|e| e.to_string())?;
        let port = free_port().map_err(|e| e.to_string())?;
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut server = S3Server {
            child,
            root,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        server.wait_ready(port)?;
        Ok(server)
    }

    fn wait_ready(&mut self, port: u16) -> Result<(), String> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("it exited at once: {status}"));
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("it did not listen on port {port} within 20 s"))
    }

    /// The `AWS_*` variables that point at this server.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// The settings that reach this server.
    pub fn settings(&self) -> S3Settings {
        let vars = self.vars();
        S3Settings::from_vars(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The folder the server keeps the bucket's objects in (`ROOT/BUCKET/KEY`).
    pub fn root(&self) -> &std::path::Path {
        &self.root
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

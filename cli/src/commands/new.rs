//! `oaasc new`: a new package in a new folder: its manifest, a class with a function and a
//! macro, the function container (Python, or Rust in [`rust`]) and a test of it.

mod rust;

use crate::exit;
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

/// Create a package in a new folder NAME: `oaas.toml`, `NAME.oaas`, a function container
/// in `functions/` and its test, and a README that says how to run them.
///
/// The package checks as it is and runs with `oaasc run NAME Counter.add_twice --arg by=2`:
/// with `--lang python` once the Python SDK is installed (`pip install
/// PATH/TO/oaas/sdk/python`), with `--lang rust` once its container is built (`cargo test
/// --manifest-path NAME/functions/Cargo.toml`). The README of the new package says how.
///
/// Examples:
///   oaasc new hello
///   oaasc new hello --lang rust
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct NewArgs {
    /// The package's name (letters, digits and `_`), also the new folder's.
    pub name: String,
    /// The language of the function container.
    #[arg(long, value_enum, default_value_t = Lang::Python)]
    pub lang: Lang,
}

/// Languages of the generated container.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Lang {
    /// Python 3.9+ with the Python SDK (`sdk/python`).
    Python,
    /// A Cargo crate on the Rust SDK (`sdk/rust`), run with `cargo run`.
    Rust,
}

/// Runs the command and returns the exit code.
pub fn run(args: NewArgs) -> u8 {
    if !oaas_compiler::manifest::is_word(&args.name) {
        eprintln!(
            "error: `{}` is not a package name: use letters, digits and `_`, not starting with a digit",
            args.name
        );
        return exit::USAGE;
    }
    let dir = PathBuf::from(&args.name);
    if dir.exists() {
        eprintln!("error: `{}` already exists", dir.display());
        return exit::USAGE;
    }
    let files = match args.lang {
        Lang::Python => python_files(&args.name, &sdk_hint()),
        Lang::Rust => {
            let (sdk, lock) = rust::sdk_hint();
            rust::files(&args.name, &sdk, lock)
        }
    };
    if let Err(e) = write_all(&dir, &files) {
        eprintln!("error: {e}");
        return exit::USAGE;
    }
    eprintln!("created package `{}` in {}/", args.name, dir.display());
    for (path, _) in &files {
        eprintln!("  {}/{path}", args.name);
    }
    if args.lang == Lang::Rust {
        eprintln!(
            "build the container once: cargo test --manifest-path {}/functions/Cargo.toml",
            args.name
        );
    }
    eprintln!(
        "next: oaasc run {} Counter.add_twice --arg by=2  (see {}/README.md)",
        args.name, args.name
    );
    exit::OK
}

fn write_all(dir: &Path, files: &[(String, String)]) -> Result<(), String> {
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    }
    Ok(())
}

/// Where the Python SDK is, for the new package's README: this `oaasc`'s own checkout when
/// it still exists (an `oaasc` installed with `cargo install --path cli`), else a placeholder.
fn sdk_hint() -> String {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/python");
    match sdk.canonicalize() {
        Ok(p) if p.join("pyproject.toml").is_file() => p.to_string_lossy().into_owned(),
        _ => "PATH/TO/oaas/sdk/python".to_string(),
    }
}

const MANIFEST: &str = "[package]
name = \"{{name}}\"
version = \"0.1.0\"
description = \"A counter: an object whose state changes one version at a time\"
";

/// The package's source; `{{local}}` is the command that starts its container.
const SOURCE: &str = "package {{name}}

/// A counter: its `count` changes one version at a time.
@local(\"{{local}}\")
class Counter {
  public state count: int = 0

  /// Adds `by` to `count`; answers the new count.
  public mut fn add(by: int = 1) -> int

  /// Adds `by` twice, in order, and answers the count after both.
  public macro add_twice(by: int = 1) -> int {
    self.add(by: by)
    return self.add(by: by)
  }
}
";

const CONTAINER: &str = r#""""The function container of `{{name}}.Counter` ({{name}}.oaas).

The runtime starts it as `python3 functions/{{name}}.py` with PORT set; it needs the Python SDK
installed (see README.md).
"""

from oaas_sdk import function, serve


@function("{{name}}.Counter", "add")
def add(ctx, by: int = 1) -> int:
    """mut: count += by; answers the new count."""
    ctx.state["count"] = ctx.state.get("count", 0) + by
    return ctx.state["count"]


if __name__ == "__main__":
    serve()
"#;

const TEST: &str = r#""""A test of the container over HTTP, as the runtime calls it (oaas-task/1).

    python3 -m unittest discover functions
"""

import http.client
import json
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import {{name}}  # noqa: E402,F401 - registers the functions
from oaas_sdk import default_registry  # noqa: E402


def task(function, args, state):
    return {"protocol": "oaas-task/1", "task_id": "t1.n0", "invocation_id": "t1",
            "package": "{{name}}", "class": "{{name}}.Counter", "function": function, "args": args,
            "self": {"id": "c1", "class": "{{name}}.Counter", "version": 1, "state": state,
                     "refs": {}, "files": {}, "upload": {}},
            "output": None, "outputs": None}


class CounterContainer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = default_registry().make_server("127.0.0.1", 0)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def post(self, doc):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.server_address[1], timeout=10)
        conn.request("POST", "/", json.dumps(doc), {"Content-Type": "application/json"})
        res = conn.getresponse()
        body = json.loads(res.read())
        conn.close()
        return res.status, body

    def test_add_changes_the_count_and_answers_it(self):
        status, body = self.post(task("add", {"by": 2}, {"count": 40}))
        self.assertEqual((status, body), (200, {"state": {"count": 42}, "value": 42}))

    def test_an_unknown_function_is_a_404(self):
        status, _ = self.post(task("nope", {}, {}))
        self.assertEqual(status, 404)


if __name__ == "__main__":
    unittest.main()
"#;

const README: &str = "# {{name}}

An OaaS package made by `oaasc new`: a `Counter` class (`{{name}}.oaas`) whose function runs
in a Python container (`functions/{{name}}.py`).

Install the Python SDK once (it is not on PyPI; this is the checkout `oaasc` was built from):

    pip install {{sdk}}

Then, in this folder:

    oaasc check .                                   # the type checker
    python3 -m unittest discover functions          # the container's test
    oaasc run . Counter.add_twice --arg by=2        # prints 4

`oaasc run` checks the package, starts an embedded runtime (state in `.oaas/`), starts the
container and runs the `add_twice` macro on a new `Counter`.
";

/// The files of a new Python package, by path below its folder.
fn python_files(name: &str, sdk: &str) -> Vec<(String, String)> {
    let fill = |t: &str| {
        t.replace("{{local}}", "python3 functions/{{name}}.py")
            .replace("{{name}}", name)
            .replace("{{sdk}}", sdk)
    };
    vec![
        ("oaas.toml".into(), fill(MANIFEST)),
        (format!("{name}.oaas"), fill(SOURCE)),
        (format!("functions/{name}.py"), fill(CONTAINER)),
        (format!("functions/test_{name}.py"), fill(TEST)),
        ("README.md".into(), fill(README)),
        (".gitignore".into(), ".oaas/\n__pycache__/\n".into()),
    ]
}

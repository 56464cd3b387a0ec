//! A generator of large, clean `.oaas` packages for benchmarks: many files of one package,
//! thousands of classes with records, state, refs, functions, overrides and macros that call
//! across classes (including other macros) and fan out with `for` and `flatten`.

use std::fmt::Write as _;

pub mod forward;
pub mod runtime;

/// How many classes sit in one inheritance chain (the first of a chain extends nothing).
const CHAIN: usize = 4;

/// One generated file of the package.
#[derive(Clone, Debug)]
pub struct GeneratedFile {
    /// A path inside the package directory, such as `bench/part_003.oaas`.
    pub path: String,
    /// The source text.
    pub text: String,
}

/// A generated package.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The files, each `package bench`.
    pub files: Vec<GeneratedFile>,
    /// How many classes there are.
    pub classes: usize,
    /// Total lines over all files.
    pub lines: usize,
}

/// Generates a package of about `target_lines` lines, in files of about `lines_per_file`.
pub fn generate(target_lines: usize, lines_per_file: usize) -> Generated {
    let mut files = Vec::new();
    let mut current = String::from("package bench\n\n");
    let mut current_lines = 2;
    let mut lines = 0;
    let mut class = 0;
    while lines + current_lines < target_lines {
        let chunk = class_source(class);
        current_lines += chunk.lines().count();
        current.push_str(&chunk);
        class += 1;
        // Whole chains stay in one file so each file reads on its own.
        if current_lines >= lines_per_file && class.is_multiple_of(CHAIN) {
            lines += current_lines;
            files.push(GeneratedFile {
                path: format!("bench/part_{:03}.oaas", files.len()),
                text: std::mem::replace(&mut current, String::from("package bench\n\n")),
            });
            current_lines = 2;
        }
    }
    // Finish the last chain so every class that is named exists.
    while !class.is_multiple_of(CHAIN) {
        let chunk = class_source(class);
        current_lines += chunk.lines().count();
        current.push_str(&chunk);
        class += 1;
    }
    if current_lines > 2 {
        lines += current_lines;
        files.push(GeneratedFile {
            path: format!("bench/part_{:03}.oaas", files.len()),
            text: current,
        });
    }
    Generated {
        files,
        classes: class,
        lines,
    }
}

/// A record and a class, number `i`. Class `i` calls into classes `i - 1` and the root of an
/// earlier chain, so macro calls form a deep acyclic graph across the whole package.
fn class_source(i: usize) -> String {
    let root = i.is_multiple_of(CHAIN);
    // The root of the previous chain; the first chain refers to its own root.
    let first_chain = i < CHAIN;
    let other = if first_chain {
        0
    } else {
        (i / CHAIN - 1) * CHAIN
    };
    let mut s = String::new();
    record_source(&mut s, i);
    class_declarations(&mut s, i, root, other);
    class_macro(&mut s, i, root, first_chain, other);
    s
}

/// The record of class `i`.
fn record_source(w: &mut String, i: usize) {
    let _ = writeln!(w, "/// A value of class {i}.");
    let _ = writeln!(w, "record Rec{i} {{");
    let _ = writeln!(w, "  id: int,");
    let _ = writeln!(w, "  label: string,");
    let _ = writeln!(w, "  weights: [float],");
    let _ = writeln!(w, "  extra: json,");
    let _ = writeln!(w, "  ok: bool?,");
    let _ = writeln!(w, "}}");
    let _ = writeln!(w);
}

/// Class `i`'s header, state, refs and functions: a chain's root runs `@local`, the others
/// extend the class before them.
fn class_declarations(w: &mut String, i: usize, root: bool, other: usize) {
    let _ = writeln!(w, "/// Class {i}: state, refs, functions and a macro.");
    if root {
        let _ = writeln!(w, "@local(\"python3 functions/c{i}.py\")");
        let _ = writeln!(w, "@timeout(30s) @retry(attempts: 3, backoff: 200ms)");
        let _ = writeln!(w, "class C{i} {{");
    } else {
        let _ = writeln!(w, "@concurrency(8)");
        let _ = writeln!(w, "class C{i} extends C{} {{", i - 1);
    }
    let _ = writeln!(w, "  public state count{i}: int = 0");
    let _ = writeln!(w, "  public state title{i}: string = \"class {i}\"");
    let _ = writeln!(w, "  public state rec{i}: Rec{i}? = null");
    let _ = writeln!(w, "  internal state tags{i}: [string] = [\"a\", \"b\"]");
    let _ = writeln!(w, "  public file blob{i}: \"application/octet-stream\"");
    let _ = writeln!(w, "  ref peers{i}: [C{other}] = []");
    let _ = writeln!(w, "  ref next{i}: C{other}? = null");
    let _ = writeln!(w);
    let _ = writeln!(w, "  /// Splits the object into `n` parts.");
    let _ = writeln!(
        w,
        "  public fn parts{i}(n: int = 2, label: string = \"p\") -> [Self]"
    );
    let _ = writeln!(
        w,
        "  public fn score{i}(weight: float, bias: float = 0.0) -> float"
    );
    let _ = writeln!(w, "  public fn load{i}() -> Rec{i}");
    let _ = writeln!(w, "  internal mut fn bump{i}(by: int = 1) -> int");
    let _ = writeln!(
        w,
        "  public fn tag{i}(tags: [string], rec: Rec{i}?) @timeout(5s)"
    );
    let _ = writeln!(
        w,
        "  public static fn merge{i}(parts: [C{i}], scores: [float]) -> C{i}"
    );
    if root {
        let _ = writeln!(w, "  public fn describe(verbose: bool = false) -> string");
    } else {
        let _ = writeln!(
            w,
            "  override public fn describe(verbose: bool = false) -> string"
        );
    }
}

/// Class `i`'s macro, which fans out over parts and peers, calls up the chain and into
/// the root of the chain before (`other`), then merges; and the class's closing brace.
fn class_macro(w: &mut String, i: usize, root: bool, first_chain: bool, other: usize) {
    let _ = writeln!(w);
    let _ = writeln!(w, "  /// Fans out over parts and peers, then merges.");
    let _ = writeln!(
        w,
        "  public macro run{i}(k: int = 2, weight: float = 1.0) -> C{i} {{"
    );
    let _ = writeln!(
        w,
        "    let parts = self.parts{i}(n: k, label: self.title{i})"
    );
    let _ = writeln!(
        w,
        "    let scores = for p in parts {{ p.score{i}(weight, bias: 0.5) }}"
    );
    let _ = writeln!(w, "    let nested = for p in parts {{");
    let _ = writeln!(w, "      let inner = p.parts{i}(n: 2)");
    let _ = writeln!(w, "      for q in inner {{ q.score{i}(weight: weight) }}");
    let _ = writeln!(w, "    }}");
    if first_chain {
        // Calling `run0` here would be recursion: read a field instead.
        let _ = writeln!(
            w,
            "    let peers = for x in self.peers{i} {{ x.title{other} }}"
        );
    } else {
        let _ = writeln!(
            w,
            "    let peers = for x in self.peers{i} {{ x.run{other}(k: 1) }}"
        );
    }
    if i > 0 && !root {
        let _ = writeln!(w, "    let up = self.run{}(k: k)", i - 1);
        let _ = writeln!(w, "    let ups = [up, self]");
    } else {
        let _ = writeln!(w, "    let ups = [self]");
    }
    let _ = writeln!(w, "    let rec = self.load{i}()");
    let _ = writeln!(
        w,
        "    self.tag{i}(tags: [rec.label, \"x\"], rec: self.rec{i})"
    );
    let _ = writeln!(w, "    let bumped = self.bump{i}(by: rec.id)");
    let _ = writeln!(w, "    let fresh = C{other}.new(count{other}: bumped)");
    let _ = writeln!(
        w,
        "    let all = flatten([scores, flatten(nested), rec.weights])"
    );
    let _ = writeln!(w, "    let _d = fresh.describe(verbose: true)");
    let _ = writeln!(w, "    let _n = for u in ups {{ u.describe() }}");
    let _ = writeln!(w, "    let _p = peers");
    let _ = writeln!(w, "    return C{i}.merge{i}(parts: parts, scores: all)");
    let _ = writeln!(w, "  }}");
    let _ = writeln!(w, "}}");
    let _ = writeln!(w);
}

#[cfg(test)]
mod tests {
    use super::*;
    use oaas_compiler::Workspace;

    /// The generated package must be clean, or the benchmark would time error paths.
    #[test]
    fn a_small_generated_package_checks_clean() {
        let package = generate(3_000, 500);
        assert!(package.files.len() > 1 && package.classes > 8);
        let mut workspace = Workspace::new();
        for f in &package.files {
            workspace.add_file(f.path.clone(), f.text.clone());
        }
        let analysis = workspace.check();
        let rendered =
            oaas_compiler::render::render_human(&workspace.sources, &analysis.diagnostics, false);
        assert!(analysis.diagnostics.is_empty(), "{rendered}");
    }
}

use super::*;

/// Formats, checks the result is stable, and returns it.
fn fmt(src: &str) -> String {
    let out = match format(src) {
        Ok(out) => out,
        Err(e) => {
            let ast = syntax::parse(FileId(0), src).ast;
            let raw = print(src, &ast);
            let again = syntax::parse(FileId(0), &raw).ast;
            panic!(
                "{e}\n--- source:\n{src}\n--- printed:\n{raw}\n--- shapes:\n{}\n{}",
                shape(&ast),
                shape(&again)
            )
        }
    };
    let again = format(&out).unwrap_or_else(|e| panic!("{e}\n--- output:\n{out}"));
    assert_eq!(out, again, "not idempotent:\n{out}");
    out
}

#[test]
fn canonical_layout() {
    let src = "package   demo\nuse other.Thing\nuse other.Else\nrecord   Face{x:int,y:int,}\n@local(\"python3 f.py\") class A extends B{\npublic state s : [int]=[1,2,3,]\nstatic public fn make(a:int=1,b:string?=null)->A @timeout(5s)   @retry(attempts:2)\n\n\n\nmut fn touch()\nmacro m(x:int)->[A]{let a=self.make(a:x)\nlet b = for p in [a] { p.touch() }\nreturn b}}\n";
    let out = fmt(src);
    assert_eq!(
        out,
        "package demo

use other.Thing
use other.Else

record Face { x: int, y: int }

@local(\"python3 f.py\")
class A extends B {
  public state s: [int] = [1, 2, 3]
  public static fn make(a: int = 1, b: string? = null) -> A @timeout(5s) @retry(attempts: 2)

  mut fn touch()
  macro m(x: int) -> [A] {
    let a = self.make(a: x)
    let b = for p in [a] { p.touch() }
    return b
  }
}
"
    );
}

#[test]
fn comments_are_kept_in_place() {
    let src = "// header

package demo // the package

/// Docs.
@local(\"x\") // how it runs
class A { // opening
  // about s

  state s: int = 1 // trailing
  /// f's docs
  fn f(
    // inside
    a: int, // after a
  ) -> int
  // at the end
}
// the end
";
    let out = fmt(src);
    assert_eq!(out, src);
}

#[test]
fn comments_inside_one_line_constructs_move_above() {
    let src = "package // after the keyword\n  demo\nclass A {\n  public // between modifiers\n  fn f() -> [ // in a type\n int]\n}\n";
    let out = fmt(src);
    assert_eq!(
        out,
        "// after the keyword
package demo

class A {
  // between modifiers
  // in a type
  public fn f() -> [int]
}
"
    );
}

#[test]
fn stray_doc_comment_does_not_become_docs() {
    let src = "package demo\nclass A {\n  /// Not attached.\n\n  fn h()\n  fn g(a: int /// odd\n  )\n  public /// odd too\n  fn k()\n}\n";
    let out = fmt(src);
    let before = syntax::parse(FileId(0), src).ast;
    let after = syntax::parse(FileId(0), &out).ast;
    assert_eq!(shape(&before), shape(&after));
    assert!(out.contains("/// Not attached.\n\n  fn h()"), "{out}");
}

#[test]
fn long_lists_break_one_per_line() {
    let src = "package demo\nclass A {\n  public fn a_rather_long_function_name(first_parameter: string, second_parameter: [int], third: float = 0.5) -> A\n  macro m() -> A {\n    return self.a_rather_long_function_name(first_parameter: \"some text\", second_parameter: [1, 2, 3])\n  }\n}\n";
    let out = fmt(src);
    assert_eq!(
        out,
        "package demo

class A {
  public fn a_rather_long_function_name(
    first_parameter: string,
    second_parameter: [int],
    third: float = 0.5,
  ) -> A
  macro m() -> A {
    return self.a_rather_long_function_name(
      first_parameter: \"some text\",
      second_parameter: [1, 2, 3],
    )
  }
}
"
    );
}

#[test]
fn for_with_lets_breaks_and_literals_stay_as_written() {
    let src = "package demo\nclass A {\n  state j: json = {\"k\":  \"\\u\", \"n\" : 6.02e23}\n  macro m() -> [int] {\n    return for p in self.all() { let x = p.f()\n x.g() }\n  }\n}\n";
    // `\u` is not an escape: refused as a syntax error.
    assert!(matches!(format(src), Err(FormatError::Syntax(_))));
    let src = src.replace("\\u", "\\t");
    let out = fmt(&src);
    assert!(out.contains("{\"k\": \"\\t\", \"n\": 6.02e23}"), "{out}");
    assert!(
        out.contains("return for p in self.all() {\n      let x = p.f()\n      x.g()\n    }"),
        "{out}"
    );
}

#[test]
fn refuses_syntax_errors() {
    assert!(matches!(
        format("package demo\nclass A {\n  fn (\n}\n"),
        Err(FormatError::Syntax(_))
    ));
}

#[test]
fn empty_bodies_and_crlf() {
    let out = fmt("package demo\r\n\r\nclass A {}\r\nclass B {\r\n}\r\nrecord R {}\r\n");
    assert_eq!(
        out,
        "package demo\n\nclass A {}\n\nclass B {}\n\nrecord R {}\n"
    );
}

#[test]
fn deep_nesting_and_long_files() {
    let depth = 150;
    let nested = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    let ty = format!("{}int{}", "[".repeat(depth), "]".repeat(depth));
    let src = format!("package deep\nclass A {{\n  state x: {ty} = {nested}\n}}\n");
    let out = fmt(&src);
    assert_eq!(out.matches('[').count(), 2 * depth, "{out}");

    let mut big = String::from("package big\n");
    for i in 0..300 {
        big.push_str(&format!(
            "class C{i} {{ state a{i}: [int] = [1, 2, 3] fn f{i}(x: int = {i}) -> C{i} macro m{i}() -> C{i} {{ return self.f{i}(x: 1) }} }}\n"
        ));
    }
    let out = fmt(&big);
    assert_eq!(out.matches("class C").count(), 300);
}

#[test]
fn decisions_operators_try_and_after() {
    let src = "package d\nclass A {\nmacro m(n: int) -> int {\nlet a = self.f() after  b,c\nif n>1 and not(n==2) {return (n+1)*2} else if n<0 {self.g()} else {\nself.h()\n}\nlet x = try { self.f() } catch e { return len(e.message) }\nlet ys = for y in [1,2] if y%2==0 { -y }\nreturn n - (a - 1)\n}\n}\n";
    let out = fmt(src);
    assert_eq!(
        out,
        "package d

class A {
  macro m(n: int) -> int {
    let a = self.f() after b, c
    if n > 1 and not (n == 2) {
      return (n + 1) * 2
    } else if n < 0 {
      self.g()
    } else {
      self.h()
    }
    let x = try {
      self.f()
    } catch e {
      return len(e.message)
    }
    let ys = for y in [1, 2] if y % 2 == 0 { -y }
    return n - (a - 1)
  }
}
"
    );
}

#[test]
fn tolerate_and_interpolated_strings() {
    let src = "package d\nclass A {\nmacro m(n: int) -> string {\nlet a = for x in [1,2]   if x>0  tolerate   10% {self.f(x:x)}\nreturn \"got {len(a.ok)} of { n } \\{x\\}\"\n}\n}\n";
    let out = fmt(src);
    assert_eq!(
        out,
        "package d

class A {
  macro m(n: int) -> string {
    let a = for x in [1, 2] if x > 0 tolerate 10% { self.f(x: x) }
    return \"got {len(a.ok)} of { n } \\{x\\}\"
  }
}
"
    );
}

//! Debug aid: parse files and print the AST and diagnostics (`cargo run --example parse_dump -- FILE`).
fn main() {
    for path in std::env::args().skip(1) {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut sources = oaas_compiler::Sources::new();
        let id = sources.add(path.clone(), text.clone());
        let parsed = oaas_compiler::syntax::parse(id, &text);
        if std::env::var("AST").is_ok() {
            println!("{:#?}", parsed.ast);
        }
        print!(
            "{}",
            oaas_compiler::render::render_human(&sources, &parsed.diagnostics, false)
        );
        println!(
            "{path}: {} items, {} diagnostics",
            parsed.ast.items.len(),
            parsed.diagnostics.len()
        );
    }
}

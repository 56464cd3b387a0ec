//! One checked state of the workspace: the texts, the analysis and the index, with the
//! helpers every feature needs (positions, locations, the syntax around a cursor).

use crate::convert;
use crate::documents::{key_of, UnitTexts};
use crate::index::Index;
use lsp_types as lsp;
use oaas_compiler::check::model::{ClassId, Loc, MemberId, PackageId};
use oaas_compiler::check::Symbol;
use oaas_compiler::span::SourceFile;
use oaas_compiler::syntax::{ast, ParseCache};
use oaas_compiler::{Analysis, FileId, Workspace};
use std::collections::HashMap;

/// The workspace as last checked.
pub struct Snapshot {
    /// The texts (file 0 is the standard library).
    pub workspace: Workspace,
    /// What the checker found.
    pub analysis: Analysis,
    /// Names and symbols.
    pub index: Index,
    /// URI of each file id.
    pub uris: Vec<String>,
    /// Version of each open buffer, by file id.
    pub versions: Vec<Option<i32>>,
    /// The parses behind `analysis`, so that the next check parses only what changed.
    pub parses: ParseCache,
    ids: HashMap<String, FileId>,
    stdlib_uri: String,
}

impl Snapshot {
    /// Checks the texts of a unit, parsing only what changed since the parses in `parses`
    /// (the previous snapshot's). The index is left empty: [`Snapshot::index_names`] fills
    /// it, after the diagnostics are out.
    pub fn build(texts: UnitTexts, mut parses: ParseCache) -> Snapshot {
        let UnitTexts {
            workspace,
            uris,
            versions,
        } = texts;
        let analysis = workspace.check_cached(&mut parses);
        let index = Index::default();
        let ids = workspace
            .sources
            .iter()
            .skip(1)
            .map(|(id, f)| (f.path.clone(), id))
            .collect();
        Snapshot {
            stdlib_uri: uris[0].clone(),
            workspace,
            analysis,
            index,
            uris,
            versions,
            parses,
            ids,
        }
    }

    /// Builds the index of names.
    pub fn index_names(&mut self) {
        self.index = Index::build(&self.analysis);
    }

    /// Whether a file is the built-in standard library (file 0, unless the unit holds the
    /// `std` package's own file, which is then file 0): read-only, no diagnostics shown.
    pub fn is_builtin(&self, file: FileId) -> bool {
        file.0 == 0 && self.source(file).path == oaas_compiler::workspace::STDLIB_PATH
    }

    /// The file id of a URI.
    pub fn file_id(&self, uri: &lsp::Uri) -> Option<FileId> {
        let text = uri.as_str();
        if text == self.stdlib_uri {
            return Some(FileId(0));
        }
        self.ids.get(&key_of(text)).copied()
    }

    /// A file's text and line index.
    pub fn source(&self, id: FileId) -> &SourceFile {
        self.workspace.sources.get(id)
    }

    /// A file's syntax tree.
    pub fn ast(&self, id: FileId) -> Option<&ast::File> {
        self.analysis.file(id)
    }

    /// The URI of a file id.
    pub fn uri(&self, id: FileId) -> Option<lsp::Uri> {
        self.uris.get(id.0 as usize).and_then(|u| convert::uri(u))
    }

    /// A protocol location.
    pub fn location(&self, loc: Loc) -> Option<lsp::Location> {
        Some(lsp::Location {
            uri: self.uri(loc.file)?,
            range: convert::range(self.source(loc.file), loc.span),
        })
    }

    /// The byte offset of a position in a document, with the file id.
    pub fn offset(&self, doc: &lsp::TextDocumentPositionParams) -> Option<(FileId, usize)> {
        let id = self.file_id(&doc.text_document.uri)?;
        Some((id, convert::offset(self.source(id), doc.position)))
    }

    /// Where a symbol is declared.
    pub fn declaration(&self, symbol: Symbol) -> Option<Loc> {
        let model = &self.analysis.model;
        Some(match symbol {
            Symbol::Class(c) => model.classes.get(c.0 as usize)?.loc,
            Symbol::Record(r) => model.records.get(r.0 as usize)?.loc,
            Symbol::RecordField(r, i) => {
                model.records.get(r.0 as usize)?.fields.get(i as usize)?.loc
            }
            Symbol::Member(m) => model.members.get(m.0 as usize)?.loc,
            Symbol::Param(m, i) => {
                model
                    .members
                    .get(m.0 as usize)?
                    .signature()?
                    .params
                    .get(i as usize)?
                    .loc
            }
            Symbol::Local(loc) => loc,
        })
    }

    /// The text of a span of a file, with runs of whitespace made one space.
    pub fn text_of(&self, file: FileId, span: oaas_compiler::Span) -> String {
        self.source(file)
            .slice(span)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The class declared around an offset, if any.
    pub fn class_at(&self, file: FileId, offset: usize) -> Option<ClassId> {
        let model = &self.analysis.model;
        model
            .classes
            .iter()
            .position(|c| c.decl.file == file && c.decl.span.touches(offset))
            .map(|i| ClassId(i as u32))
    }

    /// The package of a file.
    pub fn package_of(&self, file: FileId) -> Option<PackageId> {
        let model = &self.analysis.model;
        model
            .packages
            .iter()
            .position(|p| p.files.contains(&file))
            .map(|i| PackageId(i as u32))
    }

    /// The member declared around an offset, with its syntax.
    pub fn member_at(&self, file: FileId, offset: usize) -> Option<(MemberId, &ast::Member)> {
        let class = self.class_at(file, offset)?;
        let model = &self.analysis.model;
        let id = model
            .class(class)
            .own
            .iter()
            .copied()
            .find(|m| model.member(*m).decl.span.touches(offset))?;
        Some((id, self.analysis.member_ast(id)?))
    }

    /// Whether code in `class` of `package` may use a member (the checker's access rules).
    pub fn accessible(
        &self,
        member: MemberId,
        class: Option<ClassId>,
        package: Option<PackageId>,
    ) -> bool {
        use oaas_compiler::syntax::ast::Access;
        let model = &self.analysis.model;
        let m = model.member(member);
        match m.access {
            Access::Public => true,
            Access::Internal => Some(model.class(m.owner).package) == package,
            Access::Private => class.is_some_and(|c| model.is_subclass(c, m.owner)),
        }
    }

    /// A member and the members it overrides or that override it, transitively.
    pub fn override_family(&self, member: MemberId) -> Vec<MemberId> {
        let model = &self.analysis.model;
        let mut family = vec![member];
        let mut changed = true;
        while changed {
            changed = false;
            for (i, m) in model.members.iter().enumerate() {
                let id = MemberId(i as u32);
                let linked = m.overrides.is_some_and(|o| family.contains(&o))
                    || (family.contains(&id) && m.overrides.is_some_and(|o| !family.contains(&o)));
                if linked {
                    for x in [Some(id), m.overrides].into_iter().flatten() {
                        if !family.contains(&x) {
                            family.push(x);
                            changed = true;
                        }
                    }
                }
            }
        }
        family.sort();
        family
    }
}

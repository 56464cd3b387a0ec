"""A headless editor session against the real `oaasc lsp`, driven by pygls's language client.

It does what a person in an editor does with examples/video in a clone of this repository,
started as Neovim starts a server with `root_markers = { ".git" }` (the root is the
repository's root, whose oaas.toml workspace lists the examples and the standard library, and
below which the test fixtures declare `package video` too): open video.oaas and see no
diagnostic anywhere, go to a definition, find the references, type a mistake and see the
diagnostic appear, apply the quick fix the server offers, see the diagnostic clear, get the
semantic tokens and then only their changes (full/delta), and shut the server down. Run by
editors/headless/test.sh:

    python3 editors/headless/session.py path/to/oaasc

Prints `N passed, 0 failed` and exits 0 when every step held, else names the failed step and
exits 1.
"""

import asyncio
import sys
from pathlib import Path

from lsprotocol import types as t
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "examples" / "video"
FILE = PACKAGE / "video.oaas"
WAIT_S = 60


class Session:
    def __init__(self, oaasc):
        self.oaasc = oaasc
        self.client = LanguageClient("oaas-headless", "1")
        self.published = {}
        self.changed = asyncio.Condition()
        self.passed = 0

        @self.client.feature(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        async def on_diagnostics(params):
            async with self.changed:
                self.published[params.uri] = params.diagnostics
                self.changed.notify_all()

    async def diagnostics_where(self, uri, test, what):
        """Waits until the diagnostics published for `uri` satisfy `test`."""

        async def wait():
            async with self.changed:
                await self.changed.wait_for(
                    lambda: uri in self.published and test(self.published[uri])
                )
                return self.published[uri]

        try:
            return await asyncio.wait_for(wait(), WAIT_S)
        except asyncio.TimeoutError:
            raise AssertionError(f"{what}: last diagnostics {self.published.get(uri)}")

    def change(self, uri, version, edits):
        """Sends the edits [(range, new text)] of a buffer, as an editor does while typing."""
        self.client.text_document_did_change(
            t.DidChangeTextDocumentParams(
                text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[
                    t.TextDocumentContentChangePartial(range=r, text=new) for r, new in edits
                ],
            )
        )

    async def tokens_delta(self, uri, previous):
        """The semantic tokens of `uri` as changes since the answer `previous`."""
        return await self.client.text_document_semantic_tokens_full_delta_async(
            t.SemanticTokensDeltaParams(
                text_document=t.TextDocumentIdentifier(uri=uri), previous_result_id=previous
            )
        )

    def step(self, name, ok, detail=""):
        if not ok:
            raise AssertionError(f"{name}: {detail}")
        self.passed += 1
        print(f"ok   {name}")

    async def run(self):
        c = self.client
        await c.start_io(self.oaasc, "lsp")
        init = await c.initialize_async(
            t.InitializeParams(
                process_id=None,
                root_uri=ROOT.as_uri(),
                workspace_folders=[t.WorkspaceFolder(uri=ROOT.as_uri(), name="oaas")],
                capabilities=t.ClientCapabilities(),
            )
        )
        caps = init.capabilities
        self.step(
            "the server offers quick fixes and semantic tokens",
            caps.code_action_provider is not None and caps.semantic_tokens_provider is not None,
            str(caps),
        )
        c.initialized(t.InitializedParams())

        uri = FILE.as_uri()
        text = FILE.read_text()
        c.text_document_did_open(
            t.DidOpenTextDocumentParams(
                text_document=t.TextDocumentItem(uri=uri, language_id="oaas", version=1, text=text)
            )
        )
        clean = await self.diagnostics_where(uri, lambda d: True, "diagnostics on open")
        self.step("examples/video opens with no diagnostic", len(clean) == 0, str(clean))
        shown = {u: d for u, d in self.published.items() if d}
        self.step(
            "no file of the root's workspace has a diagnostic (no false duplicates)",
            not shown and len(self.published) >= 4,
            f"{len(self.published)} published, with diagnostics: {shown}",
        )
        self.step(
            "no test fixture is checked as part of the workspace",
            not any("/tests/fixtures/" in u for u in self.published),
            str(sorted(self.published)),
        )

        # Definition: `p.extract_frames(...)` leads to `fn extract_frames`.
        use_line = next(i for i, l in enumerate(text.splitlines()) if "p.extract_frames(" in l)
        use_col = text.splitlines()[use_line].index("p.extract_frames(") + 3
        found = await c.text_document_definition_async(
            t.DefinitionParams(
                text_document=t.TextDocumentIdentifier(uri=uri),
                position=t.Position(line=use_line, character=use_col),
            )
        )
        target = found[0] if isinstance(found, list) else found
        decl_line = next(
            i for i, l in enumerate(text.splitlines()) if "fn extract_frames(" in l
        )
        self.step(
            "definition of p.extract_frames is its declaration",
            target is not None and target.uri == uri and target.range.start.line == decl_line,
            str(found),
        )

        refs = await c.text_document_references_async(
            t.ReferenceParams(
                text_document=t.TextDocumentIdentifier(uri=uri),
                position=t.Position(line=use_line, character=use_col),
                context=t.ReferenceContext(include_declaration=True),
            )
        )
        lines = sorted(r.range.start.line for r in refs or [] if r.uri == uri)
        self.step(
            "references of extract_frames: its declaration and its use",
            decl_line in lines and use_line in lines,
            str(refs),
        )

        tokens = await c.text_document_semantic_tokens_full_async(
            t.SemanticTokensParams(text_document=t.TextDocumentIdentifier(uri=uri))
        )
        self.step(
            "semantic tokens cover the file",
            len(tokens.data) > 5 * 50 and tokens.result_id is not None,
            str(len(tokens.data)),
        )

        # Type a mistake: `self.split(` becomes `self.splt(`.
        line = next(i for i, l in enumerate(text.splitlines()) if "self.split(" in l)
        col = text.splitlines()[line].index("self.split(") + len("self.spl")
        typo = t.Range(
            start=t.Position(line=line, character=col),
            end=t.Position(line=line, character=col + 1),
        )
        self.change(uri, 2, [(typo, "")])
        shown = await self.diagnostics_where(
            uri, lambda d: any(x.code == "E0113" for x in d), "the typed error"
        )
        error = next(x for x in shown if x.code == "E0113")
        self.step("the typed error appears", error.range.start.line == line, str(error))

        actions = await c.text_document_code_action_async(
            t.CodeActionParams(
                text_document=t.TextDocumentIdentifier(uri=uri),
                range=error.range,
                context=t.CodeActionContext(diagnostics=[error]),
            )
        )
        fixes = [a for a in actions or [] if isinstance(a, t.CodeAction) and a.is_preferred]
        self.step("a preferred quick fix is offered", len(fixes) == 1, str(actions))
        edits = fixes[0].edit.changes[uri]
        self.change(uri, 3, [(e.range, e.new_text) for e in edits])
        cleared = await self.diagnostics_where(uri, lambda d: len(d) == 0, "after the quick fix")
        self.step("the quick fix clears the error", len(cleared) == 0)

        # The text is as it was: the delta since the first tokens changes nothing.
        delta = await self.tokens_delta(uri, tokens.result_id)
        same = isinstance(delta, t.SemanticTokensDelta) and all(
            e.delete_count == 0 and not e.data for e in delta.edits
        )
        self.step("semantic tokens delta after the fix: no change", same, str(delta))
        last_id = delta.result_id

        # A line added: the delta is small and applying it gives the full answer.
        first = text.splitlines()[0]
        line_2 = t.Range(start=t.Position(line=1, character=0), end=t.Position(line=1, character=0))
        self.change(uri, 4, [(line_2, "// a comment\n")])
        before = list(tokens.data)
        delta = await self.tokens_delta(uri, last_id)
        full = await c.text_document_semantic_tokens_full_async(
            t.SemanticTokensParams(text_document=t.TextDocumentIdentifier(uri=uri))
        )
        applied = before
        for e in sorted(delta.edits, key=lambda e: -e.start):
            applied[e.start : e.start + e.delete_count] = e.data or []
        sent = sum(len(e.data or []) for e in delta.edits)
        self.step(
            f"semantic tokens delta: {sent} numbers sent, applied equals full",
            applied == list(full.data) and sent < len(full.data) // 4,
            f"{first!r}: {delta}",
        )

        await c.shutdown_async(None)
        c.exit(None)
        await c.stop()


async def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    session = Session(sys.argv[1])
    try:
        await session.run()
    except AssertionError as e:
        print(f"FAIL {e}")
        print(f"{session.passed} passed, 1 failed")
        return 1
    print(f"{session.passed} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

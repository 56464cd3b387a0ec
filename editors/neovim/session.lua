-- A Neovim session against the real `oaasc lsp`, with the configuration docs/lsp.md gives
-- (loaded first by test.sh, with `-u`): open examples/video/video.oaas in this repository and
-- see no diagnostic in any file, jump to a definition, find references, see semantic tokens,
-- type a mistake and see its diagnostic, apply the preferred quick fix with the docs' key
-- (`<leader>f`) and see the diagnostic clear; with OAAS_NVIM_TREESITTER=1, also the
-- tree-sitter highlighting the docs set up. Prints `N passed, M failed`; exits non-zero on a
-- failure.

local WAIT_MS = 60000
local passed, failed = 0, 0

local function step(name, ok, detail)
  if ok then
    passed = passed + 1
    io.stdout:write("ok   " .. name .. "\n")
  else
    failed = failed + 1
    io.stdout:write("FAIL " .. name .. ": " .. vim.inspect(detail):sub(1, 3000) .. "\n")
  end
end

local function finish()
  io.stdout:write(string.format("%d passed, %d failed\n", passed, failed))
  io.stdout:flush()
  vim.cmd((failed == 0 and passed > 0) and "qa!" or "cquit 1")
end

-- Which URIs the server published diagnostics for, and how often.
local published = {}
local publish = vim.lsp.handlers["textDocument/publishDiagnostics"]
vim.lsp.handlers["textDocument/publishDiagnostics"] = function(err, result, ctx, config)
  published[result.uri] = (published[result.uri] or 0) + 1
  return publish(err, result, ctx, config)
end

local function find(pattern)
  for i, line in ipairs(vim.api.nvim_buf_get_lines(0, 0, -1, false)) do
    local col = line:find(pattern, 1, true)
    if col then
      return i - 1, col - 1
    end
  end
end

local ok, err = pcall(function()
  vim.cmd.edit("examples/video/video.oaas")
  local buf = vim.api.nvim_get_current_buf()
  local uri = vim.uri_from_bufnr(buf)
  step("the buffer is of filetype oaas", vim.bo[buf].filetype == "oaas", vim.bo[buf].filetype)
  local attached = vim.wait(WAIT_MS, function()
    return #vim.lsp.get_clients({ bufnr = buf, name = "oaas" }) > 0
  end, 50)
  step("oaasc lsp attaches", attached, vim.lsp.get_clients())
  local client = vim.lsp.get_clients({ bufnr = buf, name = "oaas" })[1]
  io.stdout:write("root: " .. tostring(client and client.root_dir) .. "\n")

  vim.wait(WAIT_MS, function() return published[uri] ~= nil end, 50)
  step("diagnostics published for video.oaas", published[uri] ~= nil, vim.tbl_keys(published))
  local all = vim.diagnostic.get()
  step("no diagnostic in any file (no false duplicates)", #all == 0, all)
  local fixtures = vim.tbl_filter(function(u) return u:find("/tests/fixtures/", 1, true) end,
    vim.tbl_keys(published))
  step("no test fixture is checked", #fixtures == 0, fixtures)

  if os.getenv("OAAS_NVIM_TREESITTER") == "1" then
    -- The parser and query that docs/lsp.md's tree-sitter steps put in place.
    step("vim.treesitter.start() ran for the buffer", vim.treesitter.highlighter.active[buf] ~= nil)
    -- Parsed now, as a screen's redraw would (headless Neovim does not redraw).
    local root = vim.treesitter.get_parser(buf, "oaas"):parse()[1]:root()
    step("the tree-sitter parse of video.oaas has no error", not root:has_error(), root:sexpr())
    local kw_line, kw_col = find("class Video")
    local captures = vim.tbl_map(function(c) return c.capture end,
      vim.treesitter.get_captures_at_pos(buf, kw_line, kw_col))
    step("tree-sitter highlights `class` as a keyword", vim.tbl_contains(captures, "keyword"),
      captures)
  end

  -- Go to definition, as `gd`-like mappings do.
  local use_line, use_col = find("p.extract_frames(")
  local decl_line = find("fn extract_frames(")
  vim.api.nvim_win_set_cursor(0, { use_line + 1, use_col + 3 })
  vim.lsp.buf.definition()
  local jumped = vim.wait(WAIT_MS, function()
    return vim.api.nvim_win_get_cursor(0)[1] == decl_line + 1
  end, 50)
  step("definition of p.extract_frames jumps to its declaration", jumped,
    vim.api.nvim_win_get_cursor(0))

  local params = {
    textDocument = { uri = uri },
    position = { line = use_line, character = use_col + 3 },
    context = { includeDeclaration = true },
  }
  local answers = vim.lsp.buf_request_sync(buf, "textDocument/references", params, WAIT_MS) or {}
  local lines = {}
  for _, answer in pairs(answers) do
    for _, loc in ipairs(answer.result or {}) do
      lines[loc.range.start.line] = true
    end
  end
  step("references include the declaration and the use", lines[decl_line] and lines[use_line],
    answers)

  local caps = client and client.server_capabilities.semanticTokensProvider
  step("the server offers semantic tokens in full and as deltas",
    caps and type(caps.full) == "table" and caps.full.delta == true, caps)
  local class_line, class_col = find("class Video")
  local coloured = vim.wait(WAIT_MS, function()
    local tokens = vim.lsp.semantic_tokens.get_at_pos(buf, class_line, class_col + 6) or {}
    return #tokens > 0 and tokens[1].type == "class"
  end, 50)
  step("Neovim colours `Video` as a class from the semantic tokens", coloured,
    vim.lsp.semantic_tokens.get_at_pos(buf, class_line, class_col + 6))

  -- Type a mistake: `self.split(` becomes `self.splt(`.
  local line, col = find("self.split(")
  vim.api.nvim_buf_set_text(buf, line, col + 8, line, col + 9, {})
  local appeared = vim.wait(WAIT_MS, function()
    for _, d in ipairs(vim.diagnostic.get(buf)) do
      if d.code == "E0113" and d.lnum == line then
        return true
      end
    end
  end, 50)
  step("the typed error appears", appeared, vim.diagnostic.get(buf))

  -- The docs' key for the preferred quick fix, typed as a person would.
  vim.api.nvim_win_set_cursor(0, { line + 1, col + 6 })
  vim.api.nvim_feedkeys(vim.keycode("<leader>f"), "mx", false)
  local fixed = vim.wait(WAIT_MS, function()
    return vim.api.nvim_buf_get_lines(buf, line, line + 1, false)[1]:find("self.split(", 1, true)
      and #vim.diagnostic.get(buf) == 0
  end, 50)
  step("<leader>f applies the quick fix and the error clears", fixed,
    { vim.api.nvim_buf_get_lines(buf, line, line + 1, false), vim.diagnostic.get(buf) })

  -- Another line typed after the fix: Neovim asks for the changed tokens; still coloured.
  vim.api.nvim_buf_set_lines(buf, 1, 1, false, { "// a comment" })
  local still = vim.wait(WAIT_MS, function()
    local tokens = vim.lsp.semantic_tokens.get_at_pos(buf, class_line + 1, class_col + 6) or {}
    return #tokens > 0 and tokens[1].type == "class"
  end, 50)
  step("after an edit the tokens move with the text", still,
    vim.lsp.semantic_tokens.get_at_pos(buf, class_line + 1, class_col + 6))
end)
if not ok then
  step("the session ran to its end", false, err)
end
finish()

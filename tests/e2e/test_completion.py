#!/usr/bin/env python3
"""End-to-end completions: `sparkd lsp` with a real (random-weight) GGUF model,
driven over pipes as an editor drives it.

A random-weight model writes nonsense, but real nonsense: every answer comes
from the real engine, so the mechanics are checked exactly — ranges, the
forward-typing fast path, supersession, cancellation, the completion-list
fallback, empty answers with their reasons, and that the loop keeps
answering while the engine decodes.
"""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lspclient import Checks, Server, sanitizer_report  # noqa: E402

SRC = os.environ.get("SPARKD_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
C = Checks("test_completion")
TMP = tempfile.mkdtemp(prefix="sparkd-e2e-comp-")
MODEL = os.path.join(TMP, "m.gguf")
subprocess.run(["/usr/bin/python3", os.path.join(SRC, "tools", "make_test_model.py"), "--out", MODEL,
                "--dim", "64", "--layers", "2", "--seed", "11", "--printable"], check=True)

URI = "file:///work/demo.txt"
TEXT = "def add(a, b):\n    return a + b\n\ndef mul(a, b):\n    \n\nprint(add(1, 2))\n"
INLINE_CAPS = {"textDocument": {"inlineCompletion": {}}}


def open_doc(s, text=TEXT, version=1, language="plaintext"):
    """Opens the test document. The random-weight model writes nonsense, which
    the syntax filter rightly rejects in a real language: the mechanics tests
    use plain text (indentation and bracket rules only)."""
    s.notify("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": language,
                                                        "version": version, "text": text}})


def inline(s, line, ch, kind=1):
    return s.call("textDocument/inlineCompletion", {
        "textDocument": {"uri": URI}, "position": {"line": line, "character": ch},
        "context": {"triggerKind": kind}}, timeout=120)


def items_of(resp):
    return resp.get("result", {}).get("items", [])


PLACES = [(4, 4), (2, 0), (1, 4), (6, 0), (0, 0), (3, 0), (1, 10), (5, 0), (0, 3), (1, 6), (3, 5), (6, 3),
          (0, 8), (1, 12), (3, 9), (6, 6), (0, 13), (3, 13)]


def first_suggestion(s, min_len=1, method="textDocument/inlineCompletion"):
    """(line, ch, response) at the first place where the random model says
    something (a random model often ends its text at once)."""
    for line, ch in PLACES:
        r = s.call(method, {"textDocument": {"uri": URI}, "position": {"line": line, "character": ch},
                            "context": {"triggerKind": 1}}, timeout=120)
        items = items_of(r)
        text = items[0].get("insertText") or items[0].get("textEdit", {}).get("newText", "") if items else ""
        if len(text) >= min_len and not text.startswith("\n"):
            return line, ch, r
    raise AssertionError(f"the model suggested nothing of {min_len}+ characters at {len(PLACES)} places")


def case_inline_basic():
    with Server("--model", MODEL, "--draft", "none") as s:
        caps = s.initialize({"capabilities": INLINE_CAPS})["capabilities"]
        assert "inlineCompletionProvider" in caps, caps
        assert "completionProvider" not in caps, "fallback advertised to an inline-capable client"
        open_doc(s)
        line, ch, r = first_suggestion(s)
        items = items_of(r)
        assert len(items) == 1 and items[0]["insertText"], r
        rng = items[0]["range"]
        pos = {"line": line, "character": ch}
        assert rng == {"start": pos, "end": pos}, rng
        st = s.stats()["completions"]
        assert st["answered"] == 1 and st["requests"] == st["answered"] + st["empty"], st
        assert st["prompt_tokens"] > 0, st


def case_fast_path_typing_into_suggestion():
    with Server("--model", MODEL, "--draft", "none") as s:
        s.initialize({"capabilities": INLINE_CAPS})
        open_doc(s)
        line, ch, r = first_suggestion(s, min_len=2)
        text = items_of(r)[0]["insertText"]
        first = text[0]
        s.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": 2}, "contentChanges": [
            {"range": {"start": {"line": line, "character": ch}, "end": {"line": line, "character": ch}},
             "text": first}]})
        col = ch + len(first.encode("utf-16-le")) // 2
        t0 = time.monotonic()
        r = inline(s, line, col)
        dt = time.monotonic() - t0
        items = items_of(r)
        assert items and items[0]["insertText"] == text[1:], (text, r)
        st = s.stats()["completions"]
        assert st["fast_path"] == 1, st
        print(f"     fast path answered in {dt * 1000:.1f} ms", flush=True)


def case_superseded_and_cancelled():
    with Server("--model", MODEL, "--draft", "none", "--debounce-ms", "200") as s:
        s.initialize({"capabilities": INLINE_CAPS})
        open_doc(s)
        p = {"textDocument": {"uri": URI}, "position": {"line": 4, "character": 4},
             "context": {"triggerKind": 2}}
        a = s.request("textDocument/inlineCompletion", p)
        b = s.request("textDocument/inlineCompletion", p)        # same document: replaces a
        c = s.request("textDocument/inlineCompletion", p)
        s.notify("$/cancelRequest", {"id": c})                   # and c is cancelled
        got = {}
        while len(got) < 3:
            m = s.read_json(timeout=120)
            got[m["id"]] = m
        assert got[a].get("result") == {"items": []}, got[a]
        assert got[b].get("result") == {"items": []}, got[b]
        assert got[c].get("error", {}).get("code") == -32800, got[c]
        st = s.stats()["completions"]
        reasons = st["empty_reasons"]
        assert reasons.get("superseded by a newer request") == 2 and reasons.get("cancelled") == 1, reasons


def case_fallback_completion_list():
    with Server("--model", MODEL, "--draft", "none") as s:
        caps = s.initialize()["capabilities"]
        assert "completionProvider" in caps, caps
        open_doc(s)
        line, ch, r = first_suggestion(s, method="textDocument/completion")
        res = r["result"]
        assert res["isIncomplete"] is True and len(res["items"]) == 1, res
        it = res["items"][0]
        assert it["textEdit"]["newText"] and it["textEdit"]["range"]["start"] == {"line": line, "character": ch}, it
        assert it["insertTextFormat"] == 1, it


def case_model_missing_gives_empty_with_reason():
    with Server("--model", os.path.join(TMP, "missing.gguf")) as s:
        s.initialize({"capabilities": INLINE_CAPS})
        open_doc(s)
        r = inline(s, 4, 4)
        assert items_of(r) == [], r
        st = s.stats()
        assert st["completions"]["empty_reasons"].get("model unavailable") == 1, st["completions"]
        assert "missing.gguf" in st["model"], st["model"]


def case_no_engine_advertises_no_completions():
    with Server("--no-engine") as s:
        caps = s.initialize({"capabilities": INLINE_CAPS})["capabilities"]
        assert "inlineCompletionProvider" not in caps and "completionProvider" not in caps, caps


def case_bad_params_and_unknown_document():
    with Server("--model", MODEL, "--draft", "none") as s:
        s.initialize({"capabilities": INLINE_CAPS})
        r = s.call("textDocument/inlineCompletion", {"textDocument": {"uri": URI},
                                                     "position": {"line": 0, "character": 0}})
        assert r.get("error", {}).get("code") == -32602 and "not open" in r["error"]["message"], r
        open_doc(s)
        r = s.call("textDocument/inlineCompletion", {"textDocument": {"uri": URI}, "position": {"line": "x"}})
        assert r.get("error", {}).get("code") == -32602, r
        r = inline(s, 999, 999)                                  # past the end: clamped, answered
        assert "result" in r, r


def case_selected_completion_info():
    """With an item selected in the client's popup, the inline suggestion
    extends that item's text over that item's range (the model sees the item
    applied: the answer starts with the item, and a second ask with the item
    typed into the document gives the rest). Bad selectedCompletionInfo is
    an InvalidParams error naming the field."""
    with Server("--model", MODEL, "--draft", "none") as s:
        s.initialize({"capabilities": INLINE_CAPS})
        open_doc(s, TEXT.replace("    \n\nprint", "    return a * \n\nprint"))
        # line 4 is "    return a * "; the popup offers "bb" for the 1 character "b" typed at 15..16
        s.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": 2}, "contentChanges": [
            {"range": {"start": {"line": 4, "character": 15}, "end": {"line": 4, "character": 15}}, "text": "b"}]})
        rng = {"start": {"line": 4, "character": 15}, "end": {"line": 4, "character": 16}}
        sel = {"range": rng, "text": "bb"}
        got = None
        for _ in range(3):
            r = s.call("textDocument/inlineCompletion", {"textDocument": {"uri": URI},
                       "position": {"line": 4, "character": 16},
                       "context": {"triggerKind": 1, "selectedCompletionInfo": sel}}, timeout=120)
            assert "result" in r, r
            items = items_of(r)
            if items:
                got = items[0]
                break
        assert got, "no suggestion under the selected item"
        assert got["insertText"].startswith("bb") and len(got["insertText"]) > 2, got
        assert got["range"] == rng, got
        # the same state with "bb" really typed: the model wrote the same continuation
        s.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": 3}, "contentChanges": [
            {"range": rng, "text": "bb"}]})
        r = inline(s, 4, 17)
        plain = items_of(r)
        assert plain and plain[0]["insertText"] == got["insertText"][2:], (plain, got)
        for bad, word in (({"range": rng}, "text"), ({"range": rng, "text": 5}, "text"),
                          ({"range": {"start": rng["end"], "end": rng["start"]}, "text": "x"}, "range"),
                          ({"range": rng, "text": "x" * 5000}, "longer"), ({"text": "x"}, "range")):
            r = s.call("textDocument/inlineCompletion", {"textDocument": {"uri": URI},
                       "position": {"line": 4, "character": 16},
                       "context": {"triggerKind": 1, "selectedCompletionInfo": bad}}, timeout=120)
            assert r.get("error", {}).get("code") == -32602 and word in r["error"]["message"], (bad, r)


def case_cache_survives_restart():
    """A long file's prompt KV comes back from the SQLite cache after a restart."""
    cache = os.path.join(TMP, "kv.sqlite3")
    long_text = "".join(f"def f{i}(x):\n    return x * {i} + {i * 7}\n\n" for i in range(60)) + "def g(y):\n    \n"
    line = long_text.count("\n") - 1
    runs = []
    for _ in range(2):
        with Server("--model", MODEL, "--draft", "none", "--cache", cache) as s:
            s.initialize({"capabilities": INLINE_CAPS})
            open_doc(s, long_text)
            r = inline(s, line, 4)
            assert "result" in r, r
            runs.append((s.stats()["completions"], r["result"]))
            s.call("shutdown")
            s.notify("exit")
            assert s.wait_exit() == 0
    (first, a), (second, b) = runs
    assert first["restored_tokens"] == 0, first
    assert second["restored_tokens"] >= 64, second
    assert a == b, (a, b)
    assert os.stat(cache).st_mode & 0o777 == 0o600, oct(os.stat(cache).st_mode)


def case_code_actions_listed_filtered_resolved():
    with Server("--model", MODEL, "--draft", "none") as s:
        caps = s.initialize({"capabilities": INLINE_CAPS})["capabilities"]
        assert caps["codeActionProvider"]["resolveProvider"] is True, caps
        text = "def add(a, b):\n    pass\n\nx = add(1, 2)\n"
        open_doc(s, text, language="python")

        def actions(line, only=None):
            ctx = {"diagnostics": []}
            if only is not None:
                ctx["only"] = only
            r = s.call("textDocument/codeAction", {"textDocument": {"uri": URI}, "range": {
                "start": {"line": line, "character": 0}, "end": {"line": line, "character": 0}}, "context": ctx})
            return r["result"]
        titles = lambda acts: sorted(a["title"] for a in acts)  # noqa: E731
        insertions = [t for t in titles(actions(0)) if t in ("sparkd: add a docstring",
                                                               "sparkd: explain this line in a comment")]
        assert len(insertions) == 2, actions(0)         # and the rewrites of the function (test_rewrite.py)
        assert "sparkd: write this body" in titles(actions(1)), actions(1)
        assert actions(2) == [], actions(2)                       # blank line: nothing to offer
        assert actions(0, ["quickfix"]) == [] and len(actions(0, ["refactor"])) == len(actions(0))
        for a in actions(1):
            if "end" in a["data"]:
                continue                                          # rewrites: test_rewrite.py
            assert "edit" not in a, a                             # computed lazily
            r = s.call("codeAction/resolve", a, timeout=120)["result"]
            assert r["title"] == a["title"], r
            if "edit" in r:
                (edits,) = r["edit"]["changes"].values()
                assert len(edits) == 1 and edits[0]["range"]["start"] == {"line": 1, "character": 0}, edits
                assert edits[0]["newText"].startswith("    ") and edits[0]["newText"].endswith("\n"), edits
        # a stale action (the document changed) resolves without an edit
        stale = actions(0)[0]
        s.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": 9},
                                            "contentChanges": [{"text": "y = 1\n"}]})
        r = s.call("codeAction/resolve", stale, timeout=120)["result"]
        assert "edit" not in r, r
        bad = dict(stale, data={"uri": URI, "version": 9, "action": 42, "line": 0})
        r = s.call("codeAction/resolve", bad)
        assert r.get("error", {}).get("code") == -32602, r


def case_syntax_errors_filtered_in_real_languages():
    """In Python the same nonsense breaks the parse: answered empty, with the reason."""
    with Server("--model", MODEL, "--draft", "none") as s:
        s.initialize({"capabilities": INLINE_CAPS})
        open_doc(s, language="python")
        for line, ch in PLACES[:6]:
            inline(s, line, ch)
        st = s.stats()["completions"]
        assert st["empty_reasons"].get("filtered: introduces a syntax error", 0) >= 1, st


def case_other_open_files_are_prompt_context():
    with Server("--model", MODEL, "--draft", "none") as s:
        s.initialize({"capabilities": INLINE_CAPS})
        open_doc(s)
        inline(s, 4, 4)
        alone = s.stats()["completions"]["prompt_tokens"]
        s.notify("textDocument/didOpen", {"textDocument": {"uri": "file:///work/util.txt", "languageId": "plaintext",
                                                            "version": 1, "text": "def helper(z):\n    return z\n" * 5}})
        inline(s, 2, 0)         # (another place: the same one is answered from the shown suggestion)
        with_ctx = s.stats()["completions"]["prompt_tokens"] - alone
        assert with_ctx > alone + 20, (alone, with_ctx)


def case_loop_answers_while_decoding():
    """sparkd/stats round trips stay short while a long completion decodes."""
    with Server("--model", MODEL, "--draft", "none", "-n", "400") as s:
        s.initialize({"capabilities": INLINE_CAPS})
        open_doc(s)
        rid = s.request("textDocument/inlineCompletion", {
            "textDocument": {"uri": URI}, "position": {"line": 4, "character": 4},
            "context": {"triggerKind": 1}})
        worst, n = 0.0, 0
        done = None
        while done is None and n < 200:
            t0 = time.monotonic()
            sid = s.request("sparkd/stats")
            while True:
                m = s.read_json(timeout=120)
                if m.get("id") == rid:
                    done = m
                    continue
                if m.get("id") == sid:
                    break
            worst = max(worst, time.monotonic() - t0)
            n += 1
        if done is None:
            done = s.read_json(timeout=120)
        assert "result" in done, done
        print(f"     {n} stats round trips during decoding, worst {worst * 1000:.1f} ms", flush=True)
        assert worst < 0.5, f"the loop stalled for {worst * 1000:.0f} ms"


def case_timeout_ms_ends_a_long_completion():
    """timeout_ms: an invoked completion stops computing after 3x timeout_ms
    and answers with what it has; the same request without that limit runs
    to n_predict. (The bundled model writes ~900 tokens in 0.6-2 s here: far
    past the 150 ms the short limit allows.)"""
    bundled = os.path.join(SRC, "models", "sparkd-main.gguf")
    got = {}
    for limit in (600000, 50):
        with Server("--model", bundled, "--draft", "none", "--no-cache", "-n", "900") as s:
            s.initialize({"capabilities": INLINE_CAPS, "initializationOptions": {"timeout_ms": limit}})
            assert s.stats()["config"]["timeout_ms"] == limit
            open_doc(s)
            r = inline(s, 4, 4)
            assert "result" in r, r
            c = s.stats()["completions"]
            got[limit] = (c["generated_tokens"], c["latency"]["max_us"] / 1e3, c.get("empty_reasons"))
    print(f"     generated tokens, ms: no limit {got[600000][:2]}, timeout_ms 50 {got[50][:2]}", flush=True)
    full, cut = got[600000], got[50]
    assert full[0] == 900, full
    assert cut[0] < full[0] // 2 and cut[1] < full[1], (cut, full)


def read_progress(s, token=None, answer_create=True):
    """The model-load progress values up to `end`, checking every $/progress
    carries the same token (that of the create request, when one comes)."""
    values, create = [], None
    while not values or values[-1]["kind"] != "end":
        m = s.read_json(timeout=120)
        if m.get("method") == "window/workDoneProgress/create":
            assert create is None and token is None, f"a second token: {m}"
            create, token = m, m["params"]["token"]
            if answer_create:
                s.send({"jsonrpc": "2.0", "id": m["id"], "result": None})
            continue
        assert m.get("method") == "$/progress", f"not a progress message: {m}"
        assert m["params"]["token"] == token, (m, token)
        values.append(m["params"]["value"])
    return values, create


def check_progress_shape(values):
    kinds = [v["kind"] for v in values]
    assert kinds[0] == "begin" and kinds[-1] == "end" and set(kinds[1:-1]) == {"report"}, kinds
    assert "Loading sparkd model" in values[0]["message"], values[0]
    pct = [v["percentage"] for v in values[:-1]]
    assert pct == sorted(pct) and all(0 <= p <= 100 for p in pct), pct


def case_load_progress_with_created_token():
    with Server("--draft", "none") as s:      # the model from the client: settings can change it
        s.initialize({"capabilities": dict(INLINE_CAPS, window={"workDoneProgress": True}),
                      "initializationOptions": {"model": MODEL}})
        values, create = read_progress(s)
        assert create is not None, "no window/workDoneProgress/create"
        check_progress_shape(values)
        stages = " | ".join(v["message"] for v in values[1:-1])
        assert "main model m.gguf" in stages and "KV cache" in stages, stages
        assert "m.gguf" in values[-1]["message"] and "ready" in values[-1]["message"], values[-1]
        assert s.stats()["model"] == "ready"
        # a reload (another model setting) is a new progress with a new token
        s.notify("workspace/didChangeConfiguration", {"settings": {"sparkd": {"model": os.path.join(TMP, "no.gguf")}}})
        again, create2 = read_progress(s)
        assert create2 and create2["params"]["token"] != create["params"]["token"], (create, create2)
        check_progress_shape(again)
        assert "no.gguf" in again[-1]["message"] and "cannot load" in again[-1]["message"], again[-1]


def case_load_progress_with_initialize_token():
    with Server("--model", MODEL, "--draft", "none") as s:
        s.initialize({"capabilities": INLINE_CAPS, "workDoneToken": "init-42"})
        values, create = read_progress(s, token="init-42")
        assert create is None
        check_progress_shape(values)


def case_load_progress_not_sent_without_capability():
    with Server("--model", MODEL, "--draft", "none") as s:
        s.initialize({"capabilities": INLINE_CAPS})
        deadline = time.monotonic() + 120
        while s.stats()["model"] == "loading" and time.monotonic() < deadline:   # call() fails on any
            time.sleep(0.05)                                                    # message in between
        assert s.stats()["model"] == "ready"
        s.send({"jsonrpc": "2.0", "id": 777, "result": None})      # a reply to nothing we asked: ignored
        s.send({"jsonrpc": "2.0", "id": "x", "error": {"code": -1, "message": "?"}})
        assert s.stats()["model"] == "ready"
        assert s.pending_stdout() == 0


def case_load_progress_refused_token_sends_nothing():
    with Server("--model", os.path.join(TMP, "missing.gguf")) as s:
        s.initialize({"capabilities": dict(INLINE_CAPS, window={"workDoneProgress": True})})
        m = s.read_json(timeout=120)
        assert m.get("method") == "window/workDoneProgress/create", m
        s.send({"jsonrpc": "2.0", "id": m["id"], "error": {"code": -32603, "message": "no thanks"}})
        deadline = time.monotonic() + 120
        while s.stats()["model"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "missing.gguf" in s.stats()["model"]
        assert s.pending_stdout() == 0
        log, _ = s.sync_stderr()
        assert "declined the model-load progress" in log, log


def case_load_progress_unanswered_create_at_exit():
    """The client never answers the create request: the server still exits
    cleanly (and under ASan, without leaking the queued progress)."""
    with Server("--model", MODEL, "--draft", "none") as s:
        s.initialize({"capabilities": dict(INLINE_CAPS, window={"workDoneProgress": True})})
        m = s.read_json(timeout=120)
        assert m.get("method") == "window/workDoneProgress/create", m
        deadline = time.monotonic() + 120
        while s.stats()["model"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert s.pending_stdout() == 0, "progress sent before its token was created"
        assert s.call("shutdown")["result"] is None
        s.notify("exit")
        assert s.wait_exit() == 0
        assert sanitizer_report(s.stderr_text()) is None, sanitizer_report(s.stderr_text())


for name, fn in list(globals().items()):
    if name.startswith("case_"):
        C.run(name[5:], fn)
sys.exit(C.finish())

#!/usr/bin/env python3
"""End-to-end rewrites: refactor code actions and the sparkd.rewrite command,
over pipes with the real `sparkd lsp`.

Two models: the bundled one (models/sparkd-main.gguf, trained on code) for
edits that must apply and parse, and a random-weight one that never ends its
text by itself (--printable), so a rewrite runs to its token budget: long
enough to watch its progress, cancel it, and get a completion answered for
another document while it runs. Plain text has no grammar, so the random
model's edits are not filtered by the parse check.
"""
import ast
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lspclient import Checks, Server  # noqa: E402

SRC = os.environ.get("SPARKD_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
C = Checks("test_rewrite")
TMP = tempfile.mkdtemp(prefix="sparkd-e2e-rewrite-")
RANDOM = os.path.join(TMP, "r.gguf")
subprocess.run(["/usr/bin/python3", os.path.join(SRC, "tools", "make_test_model.py"), "--out", RANDOM,
                "--dim", "128", "--layers", "4", "--ffn", "256", "--ctx", "4096", "--seed", "3", "--printable"],
               check=True)
BUNDLED = os.path.join(SRC, "models", "sparkd-main.gguf")
PY_URI, TXT_URI, OTHER_URI = "file:///work/stats.py", "file:///work/notes.txt", "file:///work/other.txt"
PY = '''import math


def mean(xs):
    total = 0
    for x in xs:
        total = total + x
    return total / len(xs)


def stdev(xs):
    m = mean(xs)
    acc = 0
    for x in xs:
        acc = acc + (x - m) ** 2
    return math.sqrt(acc / len(xs))
'''
TXT = "".join(f"line {i}: the quick brown fox jumps over the lazy dog\n" for i in range(30))
PROGRESS_CAPS = {"window": {"workDoneProgress": True}, "textDocument": {"inlineCompletion": {}}}


def rng(l0, c0, l1, c1):
    return {"start": {"line": l0, "character": c0}, "end": {"line": l1, "character": c1}}


def open_doc(s, uri, text, language):
    s.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": language, "version": 1,
                                                        "text": text}})


def apply_edits(text, edits):
    """Applies TextEdits (utf-16 positions, ASCII text here) bottom-up."""
    lines = text.splitlines(keepends=True)
    starts = [0]
    for ln in lines:
        starts.append(starts[-1] + len(ln))

    def off(p):
        return starts[min(p["line"], len(lines))] + p["character"]
    for e in sorted(edits, key=lambda e: off(e["range"]["start"]), reverse=True):
        a, b = off(e["range"]["start"]), off(e["range"]["end"])
        text = text[:a] + e["newText"] + text[b:]
    return text


def actions(s, uri, r, only=None):
    ctx = {"diagnostics": []}
    if only is not None:
        ctx["only"] = only
    return s.call("textDocument/codeAction", {"textDocument": {"uri": uri}, "range": r, "context": ctx})["result"]


def rewrite(s, uri, r, instruction=None, token=None):
    arg = {"uri": uri, "range": r}
    if instruction is not None:
        arg["instruction"] = instruction
    p = {"command": "sparkd.rewrite", "arguments": [arg]}
    if token is not None:
        p["workDoneToken"] = token
    return s.request("workspace/executeCommand", p)


def answer_server_requests(s, msg, applied=True):
    """Answers a server -> client request; returns True if msg was one."""
    if "method" in msg and "id" in msg:
        if msg["method"] == "workspace/applyEdit":
            s.send({"jsonrpc": "2.0", "id": msg["id"], "result": {"applied": applied}})
        else:
            s.send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
        return True
    return False


def case_actions_listed_for_selection_and_function():
    with Server("--model", RANDOM, "--draft", "none") as s:
        caps = s.initialize({"capabilities": {}})["capabilities"]
        assert caps["executeCommandProvider"]["commands"] == ["sparkd.rewrite"], caps
        open_doc(s, PY_URI, PY, "python")
        sel = actions(s, PY_URI, rng(4, 0, 8, 0))                  # the lines of mean()
        titles = sorted(a["title"] for a in sel)
        for t in ("sparkd: simplify", "sparkd: add type hints", "sparkd: add error handling",
                  "sparkd: rewrite with instruction…"):
            assert t in titles, titles
        rw = [a for a in sel if a["title"].startswith("sparkd: rewrite with")][0]
        assert rw["command"]["command"] == "sparkd.rewrite", rw
        assert rw["command"]["arguments"][0]["range"] == rng(4, 0, 8, 0), rw
        simp = [a for a in sel if a["title"] == "sparkd: simplify"][0]
        assert simp["data"]["line"] == 4 and simp["data"]["end"] == 8 and "edit" not in simp, simp
        # an empty range inside stdev() takes the whole function
        inside = [a for a in actions(s, PY_URI, rng(13, 6, 13, 6)) if a["title"] == "sparkd: simplify"]
        assert inside and inside[0]["data"]["line"] == 10 and inside[0]["data"]["end"] == 16, inside
        assert actions(s, PY_URI, rng(4, 0, 8, 0), ["quickfix"]) == []
        # type hints are for Python only
        open_doc(s, TXT_URI, TXT, "plaintext")
        assert "sparkd: add type hints" not in [a["title"] for a in actions(s, TXT_URI, rng(0, 0, 3, 0))]


def case_resolve_edit_applies_and_parses():
    """The bundled model: every edit a resolve returns applies and parses; an
    action without edit names its reason in the log. Insertions (a comment, a
    docstring) come back as edits with any model that writes anything; the
    rewrites of the tiny bundled model rarely parse and are dropped."""
    with Server("--model", BUNDLED, "--no-cache", "--log-level", "info") as s:
        s.initialize({"capabilities": {}})
        open_doc(s, PY_URI, PY, "python")
        got = 0
        for a in actions(s, PY_URI, rng(10, 0, 16, 0)):
            if "data" not in a:
                continue
            start = s.stderr_len()
            r = s.call("codeAction/resolve", a, timeout=300)["result"]
            assert r["title"] == a["title"], r
            if "edit" not in r:
                log, _ = s.sync_stderr(start)
                assert "no edit (" in log, log[-2000:]
                continue
            (edits,) = r["edit"]["changes"].values()
            assert len(edits) == 1 and edits[0]["range"]["start"]["line"] >= 10, edits
            new = apply_edits(PY, edits)
            ast.parse(new)                                         # raises when it does not parse
            assert new != PY
            got += 1
        print(f"     {got} of the actions came with an edit", flush=True)
        assert got >= 1, "no action came with an edit: the apply-and-parse path went untested"


def command_with_apply(s, rid):
    """Reads until the command rid is answered, accepting its
    workspace/applyEdit; returns (the answer, the applyEdit request)."""
    seen_apply = None
    while True:
        m = s.read_json(timeout=300)
        if m.get("method") == "workspace/applyEdit":
            seen_apply = m
            answer_server_requests(s, m)
            continue
        if m.get("id") == rid:
            return m, seen_apply


def case_execute_command_apply_edit_round_trip():
    with Server("--model", RANDOM, "--draft", "none") as s:
        s.initialize({"capabilities": {}})
        open_doc(s, TXT_URI, TXT, "plaintext")
        rid = rewrite(s, TXT_URI, rng(2, 0, 5, 0), "Say it in French.")
        m, seen_apply = command_with_apply(s, rid)
        assert seen_apply, "no workspace/applyEdit before the answer"
        assert m.get("result") == {"applied": True}, m
        (edits,) = seen_apply["params"]["edit"]["changes"].values()
        r = edits[0]["range"]
        assert 2 <= r["start"]["line"] and r["end"]["line"] <= 5, edits     # only the region
        # the editor declines: the command fails with its reason
        rid = rewrite(s, TXT_URI, rng(2, 0, 5, 0), "Again.")
        while True:
            m = s.read_json(timeout=300)
            if m.get("method") == "workspace/applyEdit":
                s.send({"jsonrpc": "2.0", "id": m["id"], "result": {"applied": False, "failureReason": "read-only"}})
                continue
            if m.get("id") == rid:
                break
        assert m["error"]["code"] == -32803 and "read-only" in m["error"]["message"], m


def case_chatml_model_instruction_rewrite():
    """A model with a ChatML tokenizer.chat_template (as instruction-tuned
    coder GGUFs have) gets an instruction prompt rather than FIM: the server
    says so when it loads it, the rewrite runs to an applyEdit limited to the
    region, and the edit applies."""
    chat = os.path.join(TMP, "chat.gguf")
    subprocess.run(["/usr/bin/python3", os.path.join(SRC, "tools", "make_test_model.py"), "--out", chat,
                    "--dim", "64", "--layers", "2", "--seed", "4", "--printable", "--chat-template", "chatml"],
                   check=True)
    with Server("--model", chat, "--draft", "none", "-n", "48") as s:
        s.initialize({"capabilities": {}})
        s.wait_stderr(r"engine ready .*\(rewrite prompts: chatml\)", timeout=60)
        open_doc(s, TXT_URI, TXT, "plaintext")
        rid = rewrite(s, TXT_URI, rng(3, 0, 6, 0), "Shorter, please.")
        m, apply = command_with_apply(s, rid)
        assert apply and m.get("result") == {"applied": True}, m
        (edits,) = apply["params"]["edit"]["changes"].values()
        for e in edits:
            assert 3 <= e["range"]["start"]["line"] and e["range"]["end"]["line"] <= 6, edits
        out = apply_edits(TXT, edits)
        kept = TXT.splitlines(True)                                    # nothing outside the region moved
        assert out.startswith("".join(kept[:3])) and out.endswith("".join(kept[6:])), out
    # the bundled model has no chat template: FIM prompts
    with Server("--model", BUNDLED, "--draft", "none") as s:
        s.initialize({"capabilities": {}})
        s.wait_stderr(r"engine ready .*\(rewrite prompts: FIM\)", timeout=60)


def case_execute_command_invalid_arguments():
    with Server("--model", RANDOM, "--draft", "none") as s:
        s.initialize({"capabilities": {}})
        open_doc(s, TXT_URI, TXT, "plaintext")
        bad = [
            ({"command": "sparkd.nope", "arguments": []}, "unknown command"),
            ({"command": "sparkd.rewrite"}, "params.arguments is missing"),
            ({"command": "sparkd.rewrite", "arguments": [1]}, "params.arguments must be one object"),
            ({"command": "sparkd.rewrite", "arguments": [{"range": rng(0, 0, 1, 0)}]}, "arguments[0].uri"),
            ({"command": "sparkd.rewrite", "arguments": [{"uri": TXT_URI, "range": rng(3, 0, 1, 0)}]},
             "arguments[0].range end"),
            ({"command": "sparkd.rewrite", "arguments": [{"uri": TXT_URI, "range": rng(0, 0, 1, 0),
                                                          "instruction": 7}]}, "arguments[0].instruction must"),
            ({"command": "sparkd.rewrite", "arguments": [{"uri": TXT_URI, "range": rng(0, 0, 1, 0),
                                                          "instruction": "x" * 2001}]}, "at most 2000"),
            ({"command": "sparkd.rewrite", "arguments": [{"uri": TXT_URI, "range": rng(0, 0, 1, 0),
                                                          "instruction": "  "}]}, "instruction is empty"),
            ({"command": "sparkd.rewrite", "arguments": [{"uri": "file:///no", "range": rng(0, 0, 1, 0)}]},
             "is not open"),
        ]
        for params, want in bad:
            r = s.call("workspace/executeCommand", params)
            assert r.get("error", {}).get("code") == -32602 and want in r["error"]["message"], (params, r)


def is_rewrite_progress(m, token):
    """A $/progress of the rewrite with this token (not the model load's)."""
    return m.get("method") == "$/progress" and m["params"]["token"] == token


def run_with_progress(s, rid, cancel=None, token=None):
    """Reads until rid is answered; answers server requests; returns (answer,
    the token's progress values in order). cancel(s, msg) is called on the
    first report."""
    values = []
    while True:
        m = s.read_json(timeout=300)
        if answer_server_requests(s, m):
            continue
        if m.get("method") == "$/progress" and m["params"]["token"] != token:
            continue
        if m.get("method") == "$/progress":
            values.append(m["params"]["value"])
            if cancel and m["params"]["value"]["kind"] == "report":
                cancel(s, m)
                cancel = None
            continue
        if m.get("id") == rid:
            return m, values


def case_progress_in_order():
    with Server("--model", RANDOM, "--draft", "none") as s:
        s.initialize({"capabilities": PROGRESS_CAPS})
        open_doc(s, TXT_URI, TXT, "plaintext")
        rid = rewrite(s, TXT_URI, rng(0, 0, 20, 0), "Shorter.", token="tok-1")
        m, values = run_with_progress(s, rid, token="tok-1")
        assert "result" in m, m
        kinds = [v["kind"] for v in values]
        assert kinds[0] == "begin" and kinds[-1] == "end" and kinds.count("report") >= 3, kinds
        assert set(kinds[1:-1]) == {"report"}, kinds
        pcts = [v["percentage"] for v in values if v["kind"] == "report"]
        assert pcts == sorted(pcts) and pcts[-1] <= 100, pcts
        assert values[0]["cancellable"] is True, values[0]
        # a code action's rewrite gets a token the server asks the client to create
        act = [a for a in actions(s, TXT_URI, rng(0, 0, 10, 0)) if a["title"] == "sparkd: simplify"][0]
        rid = s.request("codeAction/resolve", act)
        created = []
        while True:
            msg = s.read_json(timeout=300)
            if msg.get("method") == "window/workDoneProgress/create" and "rewrite" in msg["params"]["token"]:
                created.append(msg["params"]["token"])
            if answer_server_requests(s, msg):
                continue
            if msg.get("method") == "$/progress":
                assert msg["params"]["token"] in created or "load" in msg["params"]["token"], (msg, created)
                continue
            if msg.get("id") == rid:
                break
        assert created and "edit" in msg["result"], (created, msg)


def case_cancel_mid_rewrite():
    with Server("--model", RANDOM, "--draft", "none") as s:
        s.initialize({"capabilities": PROGRESS_CAPS})
        open_doc(s, TXT_URI, TXT, "plaintext")
        # window/workDoneProgress/cancel
        rid = rewrite(s, TXT_URI, rng(0, 0, 30, 0), "Longer.", token="tok-c")

        def by_token(s_, msg):
            s_.notify("window/workDoneProgress/cancel", {"token": "tok-c"})
        m, values = run_with_progress(s, rid, by_token, token="tok-c")
        assert m.get("error", {}).get("code") == -32800, m
        assert values[0]["kind"] == "begin" and values[-1]["kind"] == "end", values
        assert max(v.get("percentage", 0) for v in values) < 100, values
        # $/cancelRequest
        rid = rewrite(s, TXT_URI, rng(0, 0, 30, 0), "Longer.", token="tok-d")
        m, values = run_with_progress(s, rid, lambda s_, msg: s_.notify("$/cancelRequest", {"id": rid}),
                                      token="tok-d")
        assert m.get("error", {}).get("code") == -32800, m
        # and the server goes on: the next rewrite completes
        rid = rewrite(s, TXT_URI, rng(0, 0, 3, 0), "Shorter.")
        m, _ = run_with_progress(s, rid)
        assert "result" in m, m


def case_completion_answered_while_rewrite_runs():
    with Server("--model", RANDOM, "--draft", "none") as s:
        s.initialize({"capabilities": PROGRESS_CAPS})
        open_doc(s, TXT_URI, TXT, "plaintext")
        open_doc(s, OTHER_URI, "def f(x):\n    return x\n", "plaintext")
        rid = rewrite(s, TXT_URI, rng(0, 0, 30, 0), "Longer.", token="tok-p")
        cid = None
        order = []
        while True:
            m = s.read_json(timeout=300)
            if answer_server_requests(s, m):
                continue
            if m.get("method") == "$/progress" and m["params"]["token"] != "tok-p":
                continue
            if m.get("method") == "$/progress":
                if cid is None and m["params"]["value"]["kind"] == "report":
                    cid = s.request("textDocument/inlineCompletion", {
                        "textDocument": {"uri": OTHER_URI}, "position": {"line": 1, "character": 4},
                        "context": {"triggerKind": 1}})
                elif cid is not None:
                    order.append(m["params"]["value"]["kind"])
                continue
            if m.get("id") == cid:
                assert "result" in m, m
                order.append("completion")
            if m.get("id") == rid:
                order.append("rewrite")
                break
        assert "completion" in order and order.index("completion") < order.index("rewrite"), order
        # the rewrite went on after the completion (it resumed, not restarted or dropped)
        assert "result" in m and order.index("completion") < order.index("end"), (m, order)
        st = s.stats()["completions"]
        assert st["requests"] >= 1, st


for name, fn in list(globals().items()):
    if name.startswith("case_"):
        C.run(name[5:], fn)
sys.exit(C.finish())

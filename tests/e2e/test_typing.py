#!/usr/bin/env python3
"""End-to-end typing with the bundled models: `sparkd lsp` driven as an editor
drives it while a user types a line, then the same state through `sparkd
complete`.

The bundled models get retrained; nothing here depends on what they write.
The checks are what must hold for any model: every request is answered once,
ranges are the cursor in UTF-16 (the line holds an emoji and CJK text before
the cursor), suggestions never run past the end of the cursor's block, stale
requests are answered empty or RequestCancelled, typing into a suggestion is
answered from it, and the language server and `sparkd complete` give the same
text for the same file and cursor.
"""
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lspclient import Checks, DocModel, Server, edit, run_cli, sanitizer_report, split_lines, units  # noqa: E402

SRC = os.environ.get("SPARKD_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS = os.path.join(SRC, "models")
C = Checks("test_typing")
TMP = tempfile.mkdtemp(prefix="sparkd-e2e-typing-")
PATH = os.path.join(TMP, "greetings.py")
URI = "file://" + PATH

TEXT = '''import sys


def greet(name):
    """Say hello to name."""
    return "hello, " + name


def total(values):
    result = 0
    for v in values:
        result += v
    return result


def main(argv):
    
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
'''
LINE = 16                                   # the blank line in main(), cursor after its indent
TYPED = 'print(greet("世界 🌍"), total([1, 2]))'
# both paths: the bundled models, no KV cache (restored F16 KV may round
# differently from computed KV), short answers so ASan stays within deadlines
COMMON = ["--model", os.path.join(MODELS, "sparkd-main.gguf"), "--draft", os.path.join(MODELS, "sparkd-draft.gguf"),
          "--no-cache", "-n", "24"]


def utf16_col(line_text, index):
    return units(line_text[:index])


class Typist:
    """A document, its cursor and the requests in flight, as an editor keeps them."""

    def __init__(self, s):
        self.s, self.doc, self.version = s, DocModel(TEXT), 1
        self.line, self.col = LINE, 4       # UTF-16 column
        self.answers = {}                   # id -> (response, (line, col), text before cursor on the line)
        self.order = []
        s.notify("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python", "version": 1,
                                                            "text": TEXT}})

    def key(self, ch):
        """didChange inserting ch at the cursor, then an automatic inlineCompletion."""
        self.version += 1
        change = edit(self.line, self.col, self.line, self.col, ch)
        self.s.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": self.version},
                                                 "contentChanges": [change]})
        self.doc.apply(change)
        self.col += units(ch)
        return self.ask(2)

    def ask(self, kind):
        rid = self.s.request("textDocument/inlineCompletion", {
            "textDocument": {"uri": URI}, "position": {"line": self.line, "character": self.col},
            "context": {"triggerKind": kind}})
        content = split_lines(self.doc.text)[self.line][0]
        self.answers[rid] = (None, (self.line, self.col), content)
        self.order.append(rid)
        return rid

    def collect(self, ids):
        want = set(ids)
        while want:
            m = self.s.read_json(timeout=300)
            rid = m.get("id")
            assert rid in want, f"unexpected or duplicate message: {m}"
            want.discard(rid)
            self.answers[rid] = (m,) + self.answers[rid][1:]


def text_of(m):
    items = m.get("result", {}).get("items", []) if "result" in m else []
    return items[0]["insertText"] if items else ""


def check_answer(m, pos, line_text):
    """One inlineCompletion answer: an error only if cancelled; items with a
    range that is the cursor, on a UTF-16 boundary; no line past the block."""
    if "error" in m:
        assert m["error"]["code"] == -32800, m
        return
    items = m["result"]["items"]
    assert len(items) <= 1, m
    if not items:
        return
    it = items[0]
    cursor = {"line": pos[0], "character": pos[1]}
    assert it["range"] == {"start": cursor, "end": cursor}, (it, pos)
    cut = [i for i in range(len(line_text) + 1) if utf16_col(line_text, i) == pos[1]]
    assert cut, f"column {pos[1]} is not a UTF-16 character boundary of {line_text!r}"
    text = it["insertText"]
    text.encode("utf-8")                    # raises on lone surrogates
    indent = len(line_text) - len(line_text.lstrip(" "))
    for ln in text.split("\n")[1:]:
        if ln.strip():
            assert len(ln) - len(ln.lstrip(" ")) >= indent, f"past the block end: {text!r}"


def case_typing_a_line():
    rng = random.Random(7)
    with Server(*COMMON, "--debounce-ms", "150") as s:
        s.initialize({"capabilities": {"textDocument": {"inlineCompletion": {}}}})
        t = Typist(s)
        i, cancelled, followed = 0, [], 0
        last_shown = None                   # (text, col) of the last answer of a finished burst
        while i < len(TYPED):
            burst = TYPED[i:i + rng.choice((1, 1, 2, 3))]
            ids = []
            for ch in burst:
                ids.append(t.key(ch))
            if rng.random() < 0.2:          # the editor gives up on the newest one
                s.notify("$/cancelRequest", {"id": ids[-1]})
                cancelled.append(ids[-1])
            t.collect(ids)
            # typing the first character of a shown suggestion is answered from it
            if last_shown and len(burst) == 1 and len(last_shown) >= 2 and burst == last_shown[0]:
                m = t.answers[ids[0]][0]
                if ids[0] not in cancelled or "result" in m:
                    assert text_of(m) == last_shown[1:], (last_shown, m)
                    followed += 1
            last = t.answers[ids[-1]][0]
            last_shown = text_of(last) if ids[-1] not in cancelled else None
            i += len(burst)
        for rid in t.order:
            m, pos, line_text = t.answers[rid]
            check_answer(m, pos, line_text)
        for rid in cancelled:
            m = t.answers[rid][0]
            assert "error" in m or m["result"]["items"] == [] or text_of(m), m
        st = s.stats()["completions"]
        reasons = st["empty_reasons"]
        assert st["requests"] == len(t.order), (st, len(t.order))
        assert st["answered"] >= 1, f"no completion arrived while typing {len(t.order)} keys: {reasons}"
        assert reasons.get("superseded by a newer request", 0) >= 1, reasons
        assert st["answered"] + st["empty"] == st["requests"], st
        print(f"     {len(t.order)} keys: {st['answered']} answered ({st['fast_path']} from the shown "
              f"suggestion, {followed} checked), {reasons}", flush=True)
        sp = s.stats()["speculative"]           # per drafter, with the cost model's figures
        assert sp["tokens"] > 0 and sp["steps"] > 0 and set(sp["drafted"]) == {"draft_model", "lookup"}, sp
        assert sp["accepted"]["lookup"] <= sp["drafted"]["lookup"] and sp["cost_model_ms"]["verify_1"] > 0, sp

        # the final state, invoked: the same text as `sparkd complete` on the same content
        rid = t.ask(1)
        t.collect([rid])
        m, pos, line_text = t.answers[rid]
        check_answer(m, pos, line_text)
        lsp_text = text_of(m)
        with open(PATH, "w", encoding="utf-8") as f:
            f.write(t.doc.text)
        col = len(line_text[:next(i for i in range(len(line_text) + 1) if utf16_col(line_text, i) == pos[1])])
        rc, out, err = run_cli("complete", PATH, str(pos[0] + 1), str(col + 1), *COMMON, timeout=600)
        assert rc == 0, err
        want = lsp_text + ("\n" if lsp_text and not lsp_text.endswith("\n") else "")
        assert out == want, f"lsp {lsp_text!r} != complete {out!r} ({err.strip()})"
        print(f"     final: {lsp_text!r} from both paths", flush=True)
        assert s.call("shutdown")["result"] is None
        s.notify("exit")
        assert s.wait_exit(timeout=120) == 0
        assert sanitizer_report(s.stderr_text()) is None, sanitizer_report(s.stderr_text())


def case_block_end_trim_same_both_paths():
    """Invoked at the end of a block body, both paths stop at the block's end
    the same way (whatever the model writes, nothing dedents below it)."""
    text = TEXT.replace("        result += v\n", "        result += v\n        ")
    with open(PATH, "w", encoding="utf-8") as f:
        f.write(text)
    line = 12
    with Server(*COMMON) as s:
        s.initialize({"capabilities": {"textDocument": {"inlineCompletion": {}}}})
        s.notify("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python", "version": 1,
                                                            "text": text}})
        m = s.call("textDocument/inlineCompletion", {"textDocument": {"uri": URI},
                   "position": {"line": line, "character": 8}, "context": {"triggerKind": 1}}, timeout=300)
        check_answer(m, (line, 8), " " * 8)
        lsp_text = text_of(m)
    rc, out, err = run_cli("complete", PATH, str(line + 1), "9", *COMMON, timeout=600)
    assert rc == 0, err
    assert out == lsp_text + ("\n" if lsp_text and not lsp_text.endswith("\n") else ""), (lsp_text, out, err)


def case_quick_start_then_full_prompt():
    """Typing in a file just opened: the first automatic request is answered
    from a short prompt (quick start), the full prompt is computed after it,
    and the next keystroke reuses that (all but a few tokens); invoked
    requests never take the short path."""
    text = "".join(f"def f{i}(x):\n    return x * {i} + {i * 7}\n\n\n" for i in range(30)) + TEXT
    line = text.count("\n", 0, text.index("def main(argv):\n    \n")) + 1
    with Server(*COMMON, "--quick-start-tokens", "48", "--debounce-ms", "0", "--log-level", "debug") as s:
        s.initialize({"capabilities": {"textDocument": {"inlineCompletion": {}}}})
        s.notify("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python", "version": 1,
                                                            "text": text}})

        def ask(col, kind):
            m = s.call("textDocument/inlineCompletion", {"textDocument": {"uri": URI},
                       "position": {"line": line, "character": col}, "context": {"triggerKind": kind}},
                       timeout=300)
            check_answer(m, (line, col), " " * col)
            return s.stats()["completions"]

        st = ask(4, 2)
        assert st["quick_start"] == 1, st
        assert st["prompt_tokens"] <= 48 + 8, st           # the short prompt
        s.wait_stderr(r"warmed the full prompt", timeout=120)
        s.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": 2},
                 "contentChanges": [edit(line, 4, line, 4, "x")]})
        st2 = ask(5, 2)
        assert st2["quick_start"] == 1, st2                 # the full prompt this time
        prompt, reused = st2["prompt_tokens"] - st["prompt_tokens"], st2["reused_tokens"] - st["reused_tokens"]
        assert prompt > 200 and reused >= prompt - 4, (prompt, reused)
        s.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": 3},
                 "contentChanges": [edit(line, 0, line, 5, "")]})
        st3 = ask(0, 1)
        assert st3["quick_start"] == 1, st3                 # invoked: never quick
        print(f"     quick answer from {st['prompt_tokens']} tokens, then {prompt} tokens with {reused} reused",
              flush=True)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")     # utime + stime


def case_idle_returns_memory_once_then_sleeps():
    """A second after the last request the worker gives malloc's free pages
    back to the system, once; after that an idle daemon uses no CPU."""
    with Server(*COMMON, "--debounce-ms", "0", "--log-level", "debug") as s:
        s.initialize({"capabilities": {"textDocument": {"inlineCompletion": {}}}})
        s.notify("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python", "version": 1,
                                                            "text": TEXT}})
        m = s.call("textDocument/inlineCompletion", {"textDocument": {"uri": URI},
                   "position": {"line": LINE, "character": 4}, "context": {"triggerKind": 1}}, timeout=300)
        check_answer(m, (LINE, 4), "    ")
        s.wait_stderr(r"idle: returned free memory to the system", timeout=60)
        t0 = cpu_seconds(s.proc.pid)
        time.sleep(2.5)
        used = cpu_seconds(s.proc.pid) - t0
        assert used < 0.2, f"idle daemon used {used:.2f} s of CPU in 2.5 s"
        n = s.stderr_text().count("idle: returned free memory")
        assert n == 1, f"memory returned {n} times with nothing to do in between"


if not os.path.exists(os.path.join(MODELS, "sparkd-main.gguf")):
    print("SKIP: no bundled model in models/")
    sys.exit(77)
for name, fn in list(globals().items()):
    if name.startswith("case_"):
        C.run(name[5:], fn)
sys.exit(C.finish())

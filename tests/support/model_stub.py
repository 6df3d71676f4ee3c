"""A scripted model on loopback that speaks the wire protocols of the real agent CLIs (stdlib only).

    with ModelStub() as stub:
        stub.url                     # http://127.0.0.1:PORT  (the CLIs add /v1/...)

Protocols, as ../shared/AGENT-CLIS.md measured them:
- Anthropic Messages, streamed as SSE (`POST /v1/messages`, plus `HEAD /`, `count_tokens`,
  `GET /v1/models`): Claude Code;
- OpenAI Responses, streamed as SSE (`POST /v1/responses`): Codex;
- OpenAI Chat Completions with tool calls, streamed (`POST /v1/chat/completions`): opencode, and
  aider (no tools: it edits from the reply text, `--edit-format whole`).

The model: it reads the newest prompt of the conversation and works on `hello.py` in the agent's
working directory — one shell tool call that writes the file and commits it, then "Done." once
the tool's result is back. Which content depends on the prompt: aod's CI-failure message (it says
"CI failed") gets a fixed file, a reviewer's note ("asked for changes") a file with a docstring,
anything else the first version. aider gets the whole file in its reply and commits it itself.
Side requests (a title, a JSON-schema answer) get a short answer. When the CLI offers aod's MCP
tool `session_report` (aod wires `aoctl mcp` into every session of an agent that speaks MCP), the
model reports `done` through it after the shell command, before it says "Done.".

Every request is logged (`requests`: path and parsed body) for tests that look at what came.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FILE = "hello.py"
VERSIONS = {
    "first": 'print("hello")\n',
    "ci": 'print("hello")\nprint("fixed")\n',
    "review": '"""Says hello."""\nprint("hello")\nprint("fixed")\n',
}
MESSAGES = {"first": "Add hello.py", "ci": "Fix the CI failure", "review": "Add the docstring the review asked for"}
_ids = itertools.count(1)


def stage_of(prompt: str) -> str:
    if "CI failed" in prompt:
        return "ci"
    if "asked for changes" in prompt:
        return "review"
    return "first"


def shell_command(stage: str) -> str:
    """Writes the file and commits it; the heredoc keeps the content out of the shell's reach."""
    return (
        f"cat > {FILE} <<'AO_EOF'\n{VERSIONS[stage]}AO_EOF\n"
        f"git add {FILE} && git commit -q -m '{MESSAGES[stage]}'"
    )


def _new_id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):06d}"


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    out = []
    for part in content or []:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            out.append(part["text"])
    return out


def _fill(schema: dict[str, Any], known: dict[str, Any]) -> dict[str, Any]:
    """Arguments for a tool: the known ones it takes, and a plain value for any other required."""
    properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
    args = {k: v for k, v in known.items() if k in properties}
    for name in schema.get("required", []) if isinstance(schema, dict) else []:
        if name not in args:
            kind = properties.get(name, {}).get("type")
            args[name] = 60000 if kind in ("integer", "number") else ("write and commit hello.py" if kind != "boolean" else False)
    return args


# -- what the model does, per protocol -------------------------------------------------------------


REPORT = {"status": "done", "message": "hello.py is written and committed"}


def report_tool(names: Any) -> str | None:
    """aod's `session_report` as this CLI names MCP tools (`mcp__aod__session_report`, ...)."""
    return next((n for n in names if isinstance(n, str) and n.endswith("session_report")), None)


def anthropic_reply(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """(content blocks, stop reason) for a Messages request."""
    if (body.get("output_config") or {}).get("format", {}).get("type") == "json_schema":
        schema = body["output_config"]["format"].get("schema", {})
        answer = {k: "Hello file" for k in schema.get("required", [])}
        return [{"type": "text", "text": json.dumps(answer)}], "end_turn"
    tools = {t.get("name"): t for t in body.get("tools") or [] if isinstance(t, dict)}
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    if not users or "Bash" not in tools:
        return [{"type": "text", "text": "OK."}], "end_turn"
    last = users[-1]["content"]
    if isinstance(last, list) and any(isinstance(p, dict) and p.get("type") == "tool_result" for p in last):
        assistants = [m for m in body.get("messages", []) if m.get("role") == "assistant"]
        used = [b.get("name") for b in (assistants[-1]["content"] if assistants and isinstance(assistants[-1]["content"], list) else [])
                if isinstance(b, dict) and b.get("type") == "tool_use"]
        report = report_tool(tools)
        if report is not None and "Bash" in used:
            return [{"type": "tool_use", "id": _new_id("toolu"), "name": report, "input": REPORT}], "tool_use"
        return [{"type": "text", "text": "Done: hello.py is written and committed."}], "end_turn"
    prompt = "\n".join(t for m in users for t in _texts(m["content"]) if not t.startswith("<system-reminder>"))
    latest = next((t for m in reversed(users) for t in reversed(_texts(m["content"])) if not t.startswith("<system-reminder>")), prompt)
    args = _fill(tools["Bash"].get("input_schema", {}), {"command": shell_command(stage_of(latest)), "description": "Write and commit hello.py"})
    return [
        {"type": "text", "text": "Writing the file."},
        {"type": "tool_use", "id": _new_id("toolu"), "name": "Bash", "input": args},
    ], "tool_use"


def responses_reply(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Output items for a Responses request."""
    items = [i for i in body.get("input", []) if isinstance(i, dict)]
    offered = {t.get("name"): t for t in body.get("tools") or [] if isinstance(t, dict)}
    if items and items[-1].get("type") in ("function_call_output", "custom_tool_call_output"):
        answered = items[-1].get("call_id")
        called = next((i.get("name") for i in items if i.get("type") == "function_call" and i.get("call_id") == answered), None)
        found = _responses_report_tool(offered.values())
        if found is not None and called is not None and not str(called).endswith("session_report"):
            namespace, name = found
            call = {"type": "function_call", "id": _new_id("fc"), "call_id": _new_id("call"), "name": name,
                    "arguments": json.dumps(REPORT), "status": "completed"}
            if namespace is not None:
                call["namespace"] = namespace
            return [call]
        return [_message("Done: hello.py is written and committed.")]
    prompts = [
        t
        for i in items
        if i.get("role") == "user"
        for t in _texts(i.get("content"))
        if not t.startswith("<environment_context>") and "AGENTS.md" not in t[:200]
    ]
    tools = {t.get("name"): t for t in body.get("tools") or [] if isinstance(t, dict)}
    if not prompts or not tools:
        return [_message("OK.")]
    command = shell_command(stage_of(prompts[-1]))
    if "exec_command" in tools:
        name, args = "exec_command", {"cmd": command}
    elif "shell_command" in tools:
        name, args = "shell_command", {"command": command}
    else:
        name, args = "shell", {"command": ["bash", "-lc", command]}
    call = {"type": "function_call", "id": _new_id("fc"), "call_id": _new_id("call"), "name": name,
            "arguments": json.dumps(args), "status": "completed"}
    return [_message("Writing the file."), call]


def _responses_report_tool(tools: Any) -> tuple[str | None, str] | None:
    """(namespace, name) of `session_report` in a Responses request: Codex offers an MCP server's
    tools inside a `namespace` tool named after the server (`mcp__aod`)."""
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        if report_tool([tool.get("name")]):
            return None, tool["name"]
        inner = report_tool([t.get("name") for t in tool.get("tools") or [] if isinstance(t, dict)])
        if tool.get("type") == "namespace" and inner is not None:
            return tool.get("name"), inner
    return None


def _message(text: str) -> dict[str, Any]:
    return {"type": "message", "id": _new_id("msg"), "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def chat_reply(body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """(text, tool calls) for a Chat Completions request."""
    messages = [m for m in body.get("messages", []) if isinstance(m, dict)]
    tools = {t["function"]["name"]: t["function"] for t in body.get("tools") or [] if isinstance(t, dict) and "function" in t}
    users = [m for m in messages if m.get("role") == "user"]
    latest = "\n".join(_texts(users[-1].get("content"))) if users else ""
    system = "\n".join(t for m in messages if m.get("role") == "system" for t in _texts(m.get("content")))
    if not tools:
        if "title" in system.lower() and "generat" in system.lower():
            return "Hello file", []
        if "commit message" in system.lower():
            return "Update hello.py", []  # aider asks its (weak) model to name its commit
        if not users:
            return "OK.", []
        # aider, `--edit-format whole`: the file's path on its own line, then the whole file.
        stage = stage_of(latest)
        return f"{MESSAGES[stage]}.\n\n{FILE}\n```python\n{VERSIONS[stage]}```\n", []
    if messages and messages[-1].get("role") == "tool":
        answered = messages[-1].get("tool_call_id")
        called = next((c.get("function", {}).get("name") for m in messages if m.get("role") == "assistant"
                       for c in m.get("tool_calls") or [] if c.get("id") == answered), None)
        report = report_tool(tools)
        if report is not None and called is not None and not str(called).endswith("session_report"):
            return "", [{"id": _new_id("call"), "name": report, "arguments": json.dumps(REPORT)}]
        return "Done: hello.py is written and committed.", []
    bash = next((n for n in ("bash", "shell") if n in tools), None)
    if bash is None or not users:
        return "OK.", []
    args = _fill(tools[bash].get("parameters", {}), {"command": shell_command(stage_of(latest)), "description": "Write and commit hello.py"})
    return "Writing the file.", [{"id": _new_id("call"), "name": bash, "arguments": json.dumps(args)}]


# -- the server ----------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: Any) -> None:
        return

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            value = json.loads(raw) if raw else {}
        except ValueError:
            value = {}
        return value if isinstance(value, dict) else {}

    def _json(self, value: Any, status: int = 200) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", _new_id("req"))
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events: list[tuple[str | None, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("request-id", _new_id("req"))
        self.send_header("Connection", "close")
        self.end_headers()
        for name, data in events:
            chunk = (f"event: {name}\n" if name else "") + f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n"
            self.wfile.write(chunk.encode())
            self.wfile.flush()
        self.close_connection = True

    def do_HEAD(self) -> None:  # noqa: N802 - Claude's connectivity probe
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        self.server.log("GET", self.path, {})
        if self.path.rstrip("/").endswith("/models"):
            self._json({"data": [{"id": "fake", "type": "model", "object": "model", "display_name": "Fake"}], "object": "list"})
        else:
            self._json({"ok": True})

    def do_POST(self) -> None:  # noqa: N802
        body = self._body()
        path = self.path.split("?", 1)[0]
        self.server.log("POST", path, body)
        if path.endswith("/messages/count_tokens"):
            self._json({"input_tokens": 100})
        elif path.endswith("/messages"):
            self._anthropic(body)
        elif path.endswith("/responses"):
            self._responses(body)
        elif path.endswith("/chat/completions"):
            self._chat(body)
        else:
            self._json({"error": {"message": f"no such endpoint {path}"}}, 404)

    def _anthropic(self, body: dict[str, Any]) -> None:
        blocks, stop = anthropic_reply(body)
        model = body.get("model", "claude-fake")
        usage = {"input_tokens": 100, "output_tokens": 20, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        message = {"id": _new_id("msg"), "type": "message", "role": "assistant", "model": model,
                   "stop_sequence": None}
        if not body.get("stream"):
            self._json({**message, "content": blocks, "stop_reason": stop, "usage": usage})
            return
        events: list[tuple[str | None, Any]] = [
            ("message_start", {"type": "message_start", "message": {**message, "content": [], "stop_reason": None,
                                                                     "usage": {**usage, "output_tokens": 1}}}),
            ("ping", {"type": "ping"}),
        ]
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                start, delta = {"type": "text", "text": ""}, {"type": "text_delta", "text": block["text"]}
            else:
                start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            events += [
                ("content_block_start", {"type": "content_block_start", "index": index, "content_block": start}),
                ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}),
                ("content_block_stop", {"type": "content_block_stop", "index": index}),
            ]
        events += [
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                               "usage": {"output_tokens": 20}}),
            ("message_stop", {"type": "message_stop"}),
        ]
        self._sse(events)

    def _responses(self, body: dict[str, Any]) -> None:
        output = responses_reply(body)
        response = {"id": _new_id("resp"), "object": "response", "created_at": int(time.time()),
                    "model": body.get("model", "fake"), "status": "in_progress", "output": []}
        usage = {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 20,
                 "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 120}
        done = {**response, "status": "completed", "output": output, "usage": usage}
        if not body.get("stream"):
            self._json(done)
            return
        seq = itertools.count()
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": response},
            {"type": "response.in_progress", "response": response},
        ]
        for index, item in enumerate(output):
            events.append({"type": "response.output_item.added", "output_index": index,
                           "item": {**item, "status": "in_progress", **({"content": []} if item["type"] == "message" else {"arguments": ""})}})
            if item["type"] == "message":
                text = item["content"][0]["text"]
                part = {"type": "output_text", "text": "", "annotations": []}
                common = {"item_id": item["id"], "output_index": index, "content_index": 0}
                events += [
                    {"type": "response.content_part.added", **common, "part": part},
                    {"type": "response.output_text.delta", **common, "delta": text},
                    {"type": "response.output_text.done", **common, "text": text},
                    {"type": "response.content_part.done", **common, "part": {**part, "text": text}},
                ]
            else:
                common = {"item_id": item["id"], "output_index": index}
                events += [
                    {"type": "response.function_call_arguments.delta", **common, "delta": item["arguments"]},
                    {"type": "response.function_call_arguments.done", **common, "arguments": item["arguments"]},
                ]
            events.append({"type": "response.output_item.done", "output_index": index, "item": item})
        events.append({"type": "response.completed", "response": done})
        self._sse([(e["type"], {**e, "sequence_number": next(seq)}) for e in events])

    def _chat(self, body: dict[str, Any]) -> None:
        text, calls = chat_reply(body)
        model = body.get("model", "fake")
        base = {"id": _new_id("chatcmpl"), "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
        finish = "tool_calls" if calls else "stop"
        usage = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if calls:
                message["tool_calls"] = [{"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}} for c in calls]
            self._json({**base, "object": "chat.completion", "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage})
            return
        chunks: list[Any] = [
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
            {**base, "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]},
        ]
        for index, call in enumerate(calls):
            chunks += [
                {**base, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                                                            "function": {"name": call["name"], "arguments": ""}}]}, "finish_reason": None}]},
                {**base, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": index, "function": {"arguments": call["arguments"]}}]},
                                      "finish_reason": None}]},
            ]
        chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        chunks.append({**base, "choices": [], "usage": usage})
        self._sse([(None, c) for c in chunks] + [(None, "[DONE]")])


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def log(self, method: str, path: str, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append((method, path, body))


class ModelStub:
    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[tuple[str, str, dict[str, Any]]]:
        return list(self._server.requests)

    def __enter__(self) -> ModelStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def stages_seen(stub: ModelStub) -> Iterator[str]:
    """The stages of the prompts the model was asked about, in order (for failure reports)."""
    for _method, path, body in stub.requests:
        text = json.dumps(body)
        for stage in ("ci", "review"):
            if re.search({"ci": "CI failed", "review": "asked for changes"}[stage], text):
                yield f"{path}:{stage}"
                break

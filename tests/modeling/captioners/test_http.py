"""The composer's OpenAI-compatible HTTP backend against a local server started by the test.

The server answers ``/ok/v1/...`` with the tiny Mixtral's completions (as vLLM would) and has
broken endpoints: ``/slow`` (answers too late), ``/error500``, ``/flaky`` (500 twice, then fine),
``/garbage`` (not JSON), ``/nochoices`` (JSON without a text), ``/unauthorized`` (401),
``/drop`` (closes the connection without answering).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from modeling.captioners.composer import (
    Composer,
    ComposerSampling,
    EndpointConfig,
    EndpointError,
    HTTPBackend,
    LocalBackend,
    apply_template,
    build_prompt,
)

PAIRS = [
    ("a man plays the guitar", "calm piano"),
    ("people dance on a beach", "upbeat pop with drums"),
]


class TinyOpenAIServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, backend: LocalBackend) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.backend = backend
        self.lock = threading.Lock()
        self.hits: Counter[str] = Counter()
        self.requests: list[dict] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def complete(self, prompt: str, body: dict) -> str:
        """The tiny model's continuation of ``prompt`` (greedy at temperature 0, else seeded
        sampling)."""
        tok, model = self.backend.tokenizer, self.backend.model
        with self.lock, torch.random.fork_rng(devices=[]):
            torch.manual_seed(body.get("seed", 0))
            enc = tok(prompt, return_tensors="pt")
            greedy = body.get("temperature", 1.0) == 0
            kwargs = (
                {}
                if greedy
                else {
                    "temperature": body["temperature"],
                    "top_p": body.get("top_p", 1.0),
                    "top_k": body.get("top_k", 0),
                }
            )
            ids = model.generate(
                **enc,
                do_sample=not greedy,
                max_new_tokens=body["max_tokens"],
                pad_token_id=tok.eos_token_id,
                **kwargs,
            )
        return tok.decode(ids[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)


class Handler(BaseHTTPRequestHandler):
    server: TinyOpenAIServer

    def log_message(self, *args) -> None:  # keep the test output quiet
        pass

    def _send(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        mode, _, api = self.path.strip("/").partition("/")
        self.server.hits[mode] += 1
        self.server.requests.append(
            {
                "mode": mode,
                "api": api,
                "body": body,
                "authorization": self.headers.get("Authorization"),
            }
        )
        if mode == "slow":
            time.sleep(1.5)
        elif mode == "error500" or (mode == "flaky" and self.server.hits[mode] <= 2):
            return self._send(500, b'{"error": {"message": "the GPU fell over"}}')
        elif mode == "garbage":
            return self._send(200, b"<html>502 Bad Gateway</html>", "text/html")
        elif mode == "nochoices":
            return self._send(
                200, json.dumps({"object": "error", "message": "model not loaded"}).encode()
            )
        elif mode == "unauthorized":
            return self._send(401, b'{"error": {"message": "invalid API key"}}')
        elif mode == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        if api == "v1/completions":
            text = self.server.complete(body["prompt"], body)
            answer = {
                "object": "text_completion",
                "model": body["model"],
                "choices": [{"index": 0, "text": text}],
            }
        elif api == "v1/chat/completions":
            content = body["messages"][-1]["content"]
            text = self.server.complete(f"[INST] {content} [/INST]", body)
            answer = {
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
            }
        else:
            return self._send(404, b'{"error": "no such route"}')
        return self._send(200, json.dumps(answer).encode())


@pytest.fixture(scope="module")
def local(tiny_dir: Path) -> LocalBackend:
    return LocalBackend.from_pretrained(str(tiny_dir / "composer"), device="cpu")


@pytest.fixture
def server(local: LocalBackend):
    srv = TinyOpenAIServer(local)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def http(server: TinyOpenAIServer, mode: str, **config) -> tuple[HTTPBackend, list[float]]:
    waits: list[float] = []
    settings = {
        "model": "tiny-mixtral",
        "timeout_s": 5.0,
        "retries": 3,
        "backoff_s": 0.01,
        **config,
    }
    return HTTPBackend(
        EndpointConfig(base_url=f"{server.url}/{mode}/v1", **settings), sleep=waits.append
    ), waits


GREEDY = ComposerSampling(temperature=0, max_new_tokens=10)


def test_it_gives_the_local_models_captions_through_completions(
    server, local: LocalBackend
) -> None:
    backend, _ = http(server, "ok")
    remote = Composer(backend, sampling=GREEDY).compose("msi", PAIRS)
    here = Composer(local, sampling=GREEDY).compose("msi", PAIRS)
    assert [r.text for r in remote] == [r.text for r in here] and all(r.text for r in remote)
    sent = server.requests[0]["body"]
    assert sent["prompt"] == apply_template(
        build_prompt("msi", *PAIRS[0])
    )  # the paper's template, as is
    assert remote[0].prompt == sent["prompt"] and remote[0].model == "tiny-mixtral"
    assert (
        remote[0].parameters["backend"] == "http" and remote[0].parameters["api"] == "completions"
    )


def test_it_sends_the_papers_sampling_and_a_seed_per_caption(server) -> None:
    backend, _ = http(server, "ok", concurrency=2)
    results = Composer(backend, sampling=ComposerSampling(max_new_tokens=8)).compose(
        "fusion", PAIRS, seed=10
    )
    bodies = sorted((r["body"] for r in server.requests), key=lambda b: b["seed"])
    assert [(b["temperature"], b["top_p"], b["top_k"], b["max_tokens"]) for b in bodies] == [
        (0.7, 0.95, 40, 8)
    ] * 2
    assert [b["seed"] for b in bodies] == [10, 11]
    assert [r.parameters["index"] for r in results] == [0, 1]
    backend, _ = http(server, "ok", send_top_k=False)
    Composer(backend, sampling=ComposerSampling(max_new_tokens=4)).fusion(*PAIRS[0])
    assert "top_k" not in server.requests[-1]["body"]


def test_it_can_use_the_chat_api(server) -> None:
    backend, _ = http(server, "ok", api="chat")
    result = Composer(backend, sampling=GREEDY).fusion(*PAIRS[0])
    sent = server.requests[0]["body"]["messages"]
    assert sent == [
        {"role": "user", "content": build_prompt("fusion", *PAIRS[0])}
    ]  # the server templates it
    assert result.prompt == build_prompt("fusion", *PAIRS[0]) and result.text


def test_it_sends_the_api_key_from_the_environment(server, monkeypatch: pytest.MonkeyPatch) -> None:
    backend, _ = http(server, "ok")
    Composer(backend, sampling=GREEDY).fusion(*PAIRS[0])
    assert server.requests[-1]["authorization"] is None
    monkeypatch.setenv("MUSISCENE_LLM_API_KEY", "sekret")
    Composer(backend, sampling=GREEDY).fusion(*PAIRS[0])
    assert server.requests[-1]["authorization"] == "Bearer sekret"


def test_it_retries_server_errors_with_exponential_backoff(server) -> None:
    backend, waits = http(server, "error500", retries=3, backoff_s=0.5, max_backoff_s=1.5)
    with pytest.raises(
        EndpointError, match=r"failed after 4 attempts: HTTP 500: .*the GPU fell over"
    ) as err:
        Composer(backend, sampling=GREEDY).fusion(*PAIRS[0])
    assert server.hits["error500"] == 4 and waits == [0.5, 1.0, 1.5]  # doubled, capped
    assert err.value.attempts == 4 and err.value.url.endswith("/error500/v1/completions")


def test_it_recovers_when_a_retry_succeeds(server) -> None:
    backend, waits = http(server, "flaky")
    assert Composer(backend, sampling=GREEDY).fusion(*PAIRS[0]).text
    assert server.hits["flaky"] == 3 and waits == [0.01, 0.02]


def test_it_gives_up_on_an_endpoint_that_times_out(server) -> None:
    backend, waits = http(server, "slow", timeout_s=0.2, retries=1)
    started = time.monotonic()
    with pytest.raises(EndpointError, match=r"failed after 2 attempts: no answer within 0.2 s"):
        Composer(backend, sampling=GREEDY).fusion(*PAIRS[0])
    assert time.monotonic() - started < 1.4 and server.hits["slow"] == 2 and waits == [0.01]


def test_it_retries_a_dropped_or_refused_connection(server) -> None:
    backend, waits = http(server, "drop", retries=2)
    with pytest.raises(EndpointError, match="failed after 3 attempts: connection failed"):
        Composer(backend, sampling=GREEDY).fusion(*PAIRS[0])
    assert server.hits["drop"] == 3
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    refused = HTTPBackend(
        EndpointConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m", retries=1, backoff_s=0),
        sleep=lambda _: None,
    )
    with pytest.raises(
        EndpointError, match="failed after 2 attempts: cannot connect: .*[Rr]efused"
    ):
        Composer(refused).fusion(*PAIRS[0])


def test_it_does_not_retry_a_client_error(server) -> None:
    backend, waits = http(server, "unauthorized")
    with pytest.raises(
        EndpointError,
        match=r"HTTP 401 \(check the API key in \$MUSISCENE_LLM_API_KEY\).*invalid API key",
    ) as err:
        Composer(backend, sampling=GREEDY).fusion(*PAIRS[0])
    assert err.value.status == 401 and server.hits["unauthorized"] == 1 and waits == []


def test_it_reports_garbage_clearly(server) -> None:
    backend, waits = http(server, "garbage")
    with pytest.raises(EndpointError, match="not JSON: '<html>502 Bad Gateway</html>'"):
        Composer(backend, sampling=GREEDY).fusion(*PAIRS[0])
    backend, _ = http(server, "nochoices")
    with pytest.raises(
        EndpointError,
        match=r"JSON without a text at \['choices'\]\[0\]\['text'\].*model not loaded",
    ):
        Composer(backend, sampling=GREEDY).fusion(*PAIRS[0])
    assert server.hits["garbage"] == server.hits["nochoices"] == 1 and waits == []


def test_it_checks_its_settings() -> None:
    with pytest.raises(ValueError, match="http"):
        EndpointConfig(base_url="localhost:8000/v1", model="m")
    with pytest.raises(ValueError, match="api"):
        EndpointConfig(base_url="http://localhost:8000/v1", model="m", api="embeddings")

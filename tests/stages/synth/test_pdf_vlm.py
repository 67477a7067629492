"""pdf_vlm_ocr_v1 (scanned pages -> images -> VLM) and llm_repair_v1 (guarded clean-up), on PDFs made in the test."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pyarrow as pa
import pytest
from llm_helpers import ChatServer, FakeBackend, tiny_causal_lm  # noqa: F401 - tiny_causal_lm is a fixture

from dataforge.inference.base import Completion
from dataforge.stages.synth.pdf_vlm import PdfVlmOcr
from dataforge.stages.synth.repair import LlmRepair, overlap

pymupdf = pytest.importorskip("pymupdf")
ECHO = {"engine": "echo"}


def _scanned_pdf() -> bytes:
    """Page 1 has a text layer; page 2 is a scan (only an image of text); page 3 is a scan too."""
    src = pymupdf.open()
    img_page = src.new_page(width=300, height=200)
    img_page.insert_text((20, 100), "Scanned words only visible as pixels", fontsize=14)
    png = img_page.get_pixmap(dpi=100).tobytes("png")
    doc = pymupdf.open()
    p1 = doc.new_page(width=595, height=842)
    p1.insert_text((72, 100), "The first page has a real text layer with enough characters to be read.", fontsize=11)
    for _ in range(2):
        p = doc.new_page(width=595, height=842)
        p.insert_image(p.rect, stream=png)
    return doc.tobytes()


def _extracted(mode: str = "page", with_path: Path | None = None, keep_bytes: bool = True) -> pa.Table:
    """pdf_extract_v1's output for the test PDF; the bytes re-attached as a ``pdf`` column unless a path is given."""
    from dataforge.stages.extract.pdf import PdfExtract

    data = _scanned_pdf()
    meta = json.dumps({"file": "scan.pdf", "path": str(with_path)}) if with_path else None
    if with_path:
        with_path.write_bytes(data)
    t = pa.table({"id": ["scan.pdf"], "text": [None], "source": ["pdfs"], "metadata": [meta],
                  "pdf": pa.array([data], pa.binary()), "keep": [7]})
    out = PdfExtract(mode=mode, keep_empty=True)(t).kept
    if keep_bytes and not with_path:
        out = out.append_column("pdf", pa.array([data] * out.num_rows, pa.binary()))
    return out


def _vlm(prompt) -> str:  # noqa: ANN001
    page = re.search(r"page (\d+) of a PDF", prompt if isinstance(prompt, str) else json.dumps(prompt)).group(1)
    return f"Recognised text of page {page}."


class ImageFake(FakeBackend):
    """Checks that prompts carry a PNG page image part before the instruction, and as an OpenAI image_url data URI."""

    def generate(self, prompts, params, keys=None):  # noqa: ANN001, ANN201
        from dataforge.inference.base import ImagePart, TextPart, as_messages

        self.images = []
        for msgs in prompts:
            image, text = msgs[0].content
            assert isinstance(image, ImagePart) and isinstance(text, TextPart)
            uri = as_messages(msgs)[0]["content"][0]["image_url"]["url"]
            assert uri.startswith("data:image/png;base64,")
            png = base64.b64decode(uri.split(",", 1)[1])
            assert png[:8] == b"\x89PNG\r\n\x1a\n" and png == image.to_bytes()
            self.images.append(png)
        return super().generate([m[0].content[1].text for m in prompts], params, keys)


def _with(stage, backend):  # noqa: ANN001, ANN201
    stage.ensure_setup()
    stage._backend = backend  # noqa: SLF001
    return stage


def test_extract_flags_the_scanned_pages() -> None:
    t = _extracted("page")
    assert t.column("id").to_pylist() == ["scan.pdf#p1", "scan.pdf#p2", "scan.pdf#p3"]
    assert t.column("needs_ocr").to_pylist() == [False, True, True]


def test_page_mode_images_reach_the_model_and_text_is_filled_in() -> None:
    fake = ImageFake(_vlm)
    stage = _with(PdfVlmOcr(backend=ECHO, dpi=72), fake)
    res = stage(_extracted("page"))
    kept = res.kept
    assert kept.column("text").to_pylist()[1:] == ["Recognised text of page 2.", "Recognised text of page 3."]
    assert kept.column("text").to_pylist()[0].startswith("The first page has a real text layer")
    assert kept.column("vlm_ocr_pages").to_pylist() == [[], [2], [3]]
    assert kept.column("needs_ocr").to_pylist() == [False, False, False]
    assert kept.column("keep").to_pylist() == [7, 7, 7]
    assert kept.column("vlm_ocr_model").to_pylist() == [None, "fake-model", "fake-model"]
    assert len(fake.images) == 2 and fake.keys == ["scan.pdf#p2#p2", "scan.pdf#p3#p3"]
    assert fake.params[0].temperature == 0.0


def test_document_mode_appends_recognised_pages_and_reads_the_file_from_metadata(tmp_path: Path) -> None:
    t = _extracted("document", with_path=tmp_path / "scan.pdf")
    assert "pdf" not in t.column_names  # pdf_extract_v1 drops the bytes; the stage reopens metadata.path
    stage = _with(PdfVlmOcr(backend=ECHO), FakeBackend(_vlm))
    kept = stage(t).kept
    text = kept.column("text").to_pylist()[0]
    assert text.startswith("The first page") and text.endswith(
        "Recognised text of page 2.\n\nRecognised text of page 3.")
    assert kept.column("vlm_ocr_pages").to_pylist() == [[2, 3]]


def test_failures_are_recorded_dropped_or_quarantined() -> None:
    def reply(text: str) -> str | Completion:
        if "page 2 of" in text:
            return Completion.failed("no response within timeout_s=1", "timeout")
        return "   "
    stage = _with(PdfVlmOcr(backend=ECHO), FakeBackend(reply))
    res = stage(_extracted("page"))
    assert res.kept.column("id").to_pylist() == ["scan.pdf#p1"]
    assert res.dropped.column("reason").to_pylist() == ["ocr_failed", "ocr_failed"]
    details = res.dropped.column("detail").to_pylist()
    assert "timeout" in details[0] and "empty response" in details[1]
    lost = _extracted("page", keep_bytes=False)
    res = _with(PdfVlmOcr(backend=ECHO), FakeBackend(_vlm))(lost)
    assert res.quarantined.column("reason").to_pylist() == ["missing_pdf", "missing_pdf"]
    assert "metadata.path" in res.quarantined.column("detail").to_pylist()[0]
    assert res.kept.column("id").to_pylist() == ["scan.pdf#p1"]


def test_real_http_backend_sends_page_images(tmp_path: Path) -> None:
    def vlm(messages: list[dict]) -> str:
        image, instruction = messages[-1]["content"]
        png = base64.b64decode(image["image_url"]["url"].split(",", 1)[1])
        page = re.search(r"page (\d+) of a PDF", instruction["text"]).group(1)
        pix = pymupdf.Pixmap(png)
        return f"Page {page} read from a {pix.width}x{pix.height} image."

    with ChatServer(vlm) as server:
        stage = PdfVlmOcr(backend={"engine": "http", "base_url": server.url, "model": "qwen2.5-vl", "max_retries": 0},
                          dpi=72, max_side=400)
        kept = stage(_extracted("page", with_path=tmp_path / "scan.pdf")).kept
    assert kept.column("text").to_pylist()[1:] == ["Page 2 read from a 283x400 image.", "Page 3 read from a 283x400 image."]
    assert server.requests[0]["model"] == "qwen2.5-vl" and server.requests[0]["temperature"] == 0.0


def test_text_only_model_fails_pages_with_a_clear_reason(tiny_causal_lm: Path, tmp_path: Path) -> None:
    stage = PdfVlmOcr(backend={"engine": "transformers", "model": str(tiny_causal_lm), "device": "cpu"},
                      sampling={"max_tokens": 6, "temperature": 0.0})
    res = stage(_extracted("page", with_path=tmp_path / "scan.pdf"))
    assert res.kept.column("id").to_pylist() == ["scan.pdf#p1"] and res.count(res.quarantined) == 0
    assert res.dropped.column("reason").to_pylist() == ["ocr_failed", "ocr_failed"]
    assert all("has no vision tower" in d for d in res.dropped.column("detail").to_pylist())


@pytest.fixture(scope="module")
def tiny_vl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2.5-VL (vision tower + decoder, real Qwen vocabulary), built offline."""
    pytest.importorskip("torch")
    pytest.importorskip("PIL", reason="Pillow is needed by Qwen2-VL's image processor (pip install pillow)")
    from dataforge.inference.tiny import build_tiny_vl_model

    return build_tiny_vl_model(tmp_path_factory.mktemp("tiny-vl"), seed=0)


def test_real_vision_language_model_reads_the_rendered_pages(tiny_vl: Path, tmp_path: Path) -> None:
    from dataforge.inference.tiny import TINY_VL_MAX_PIXELS

    stage = PdfVlmOcr(backend={"engine": "transformers", "model": str(tiny_vl), "device": "cpu"},
                      sampling={"max_tokens": 8, "temperature": 1.0, "seed": 3}, dpi=72)
    t = _extracted("page", with_path=tmp_path / "scan.pdf")
    res = stage(t)
    stats = stage._backend.stats  # noqa: SLF001
    assert stats["prompts"] == 2 and stats["images"] == 2  # pages 2 and 3, each one image
    # every page image became merged-patch tokens in the prompt, within the tiny processor's pixel budget
    assert 2 * 4 <= stats["image_tokens"] <= 2 * TINY_VL_MAX_PIXELS // (28 * 28)
    # a random model writes noise: each scanned page is either recognised (noise recorded as its text, with the
    # model) or dropped as ocr_failed with the reason; nothing is lost or quarantined
    assert res.kept.num_rows + res.count(res.dropped) == 3 and res.count(res.quarantined) == 0
    rows = {r["id"]: r for r in res.kept.to_pylist()}
    assert rows["scan.pdf#p1"]["vlm_ocr_pages"] == [] and rows["scan.pdf#p1"]["vlm_ocr_model"] is None
    for rid, row in rows.items():
        if rid != "scan.pdf#p1":
            assert row["vlm_ocr_pages"] == [row["page"]] and row["text"].strip()
            assert row["vlm_ocr_model"] == str(tiny_vl) and row["needs_ocr"] is False
    for detail in (res.dropped.column("detail").to_pylist() if res.dropped is not None else []):
        assert "empty response" in detail
    again = PdfVlmOcr(backend={"engine": "transformers", "model": str(tiny_vl), "device": "cpu"},
                      sampling={"max_tokens": 8, "temperature": 1.0, "seed": 3}, dpi=72)(t)
    assert again.kept.column("text").to_pylist() == res.kept.column("text").to_pylist()  # seeded by (seed, id)


# -- llm_repair_v1 -----------------------------------------------------------------------------------------
BROKEN = ("Name Age City\nAlice 30\nParis Bob 25 Berlin\nThe quick brown fox jumps over the lazy dog "
          "while the report continues with its find-\nings about the river valley.")
REPAIRED = ("| Name | Age | City |\n| --- | --- | --- |\n| Alice | 30 | Paris |\n| Bob | 25 | Berlin |\n\n"
            "The quick brown fox jumps over the lazy dog while the report continues with its findings about "
            "the river valley.")


def test_overlap() -> None:
    assert overlap("a b c", "c b a") == (1.0, 1.0)
    assert overlap("a b c d", "a b") == (1.0, 0.5)
    assert overlap("a b", "a b x y") == (0.5, 1.0)
    assert overlap("", "") == (0.0, 1.0)


def test_repair_guard_keeps_the_original_when_content_is_added_or_lost() -> None:
    answers = {
        "good": "```markdown\n" + REPAIRED + "\n```",
        "invented": REPAIRED + "\nIn conclusion, Paris is the capital of France and has many museums worth visiting.",
        "summary": "Alice, Bob: the fox jumps over the dog, the river valley.",
        "empty": "",
        "err": Completion.failed("HTTP 500 from server"),
    }
    order = list(answers)
    fake = FakeBackend(lambda text: answers[order[len(fake.prompts) - 1]])
    stage = LlmRepair(backend=ECHO)
    stage.ensure_setup()
    stage._backend = fake  # noqa: SLF001
    t = pa.table({"id": order + ["long", "blank"], "text": [BROKEN] * 5 + ["x" * 20_000, "  "], "n": list(range(7))})
    out = stage(t).kept
    assert out.column("repair_status").to_pylist() == ["repaired", "added_content", "lost_content", "empty_response",
                                                       "generation_error", "too_long", "skipped"]
    texts = out.column("text").to_pylist()
    assert texts[0] == REPAIRED and texts[1:5] == [BROKEN] * 4
    assert out.column("text_before_repair").to_pylist()[0] == BROKEN
    assert out.column("text_before_repair").to_pylist()[1] is None
    assert out.column("repair_precision").to_pylist()[1] < 0.9 and out.column("repair_recall").to_pylist()[2] < 0.8
    assert out.column("n").to_pylist() == list(range(7))
    assert "find-\nings" in fake.prompts[0] and fake.prompts[0].startswith("<|im_start|>system\nYou repair text")


def test_repair_only_column_and_missing_column() -> None:
    stage = LlmRepair(backend=ECHO, only_column="needs_repair")
    t = pa.table({"id": ["a", "b"], "text": ["one two", "three four"], "needs_repair": [True, False]})
    out = stage(t).kept
    assert out.column("repair_status").to_pylist() == ["added_content", "skipped"]  # echo repeats the instruction
    with pytest.raises(Exception, match="only_column"):
        stage(pa.table({"id": list("abcd"), "text": ["x"] * 4}))


def test_repair_with_real_tiny_model_keeps_originals(tiny_causal_lm: Path) -> None:
    stage = LlmRepair(backend={"engine": "transformers", "model": str(tiny_causal_lm), "device": "cpu"},
                      sampling={"max_tokens": 8, "temperature": 0.0})
    t = pa.table({"id": ["a", "b"], "text": [BROKEN, "Short text to repair."]})
    out = stage(t).kept
    assert out.column("text").to_pylist() == [BROKEN, "Short text to repair."]  # noise never passes the guard
    assert set(out.column("repair_status").to_pylist()) <= {"added_content", "lost_content", "empty_response"}

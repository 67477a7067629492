"""Recognise the text of scanned PDF pages with a vision-language model: pages rendered by pymupdf, sent as images."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from dataforge.inference.base import QWEN_VL_IMAGE, BackendConfig, ChatMessage, ImagePart, SamplingParams, TextPart
from dataforge.schema import quarantine_table, with_columns
from dataforge.stage import BatchResult, StageParams, Transform

__all__ = ["QWEN_VL_IMAGE", "PdfVlmOcr", "PdfVlmOcrParams", "page_prompt"]


def page_prompt(png: bytes, text: str) -> list[ChatMessage]:
    """A chat with one user message: the page image, then the instruction (Qwen2.5-VL's order)."""
    return [ChatMessage(role="user", content=[ImagePart(image=png), TextPart(text=text)])]


class PdfVlmOcrParams(StageParams):
    """The vision-language model, the instruction, and how pages are rendered."""

    backend: BackendConfig = Field(description="a vision-language model (Qwen2.5-VL class) on any engine: http "
                                               "(image_url data URIs), vllm (multimodal data) or transformers "
                                               "(local VL folder); echo ignores the image (dry runs)")
    template: str = Field("pdf_page_ocr", description="instruction template (shipped name or path); {{ page }}, "
                                                      "{{ title }} and the core columns are filled in")
    sampling: SamplingParams = Field(
        default_factory=lambda: SamplingParams(temperature=0.0, max_tokens=2048, seed=0),
        description="generation parameters (default: greedy, up to 2,048 tokens per page)")
    dpi: int = Field(144, ge=36, le=600, description="rendering resolution")
    max_side: int = Field(1680, ge=256, description="longest image side in pixels (large pages are rendered smaller)")
    max_pages: int = Field(50, ge=1, description="pages recognised per document; the rest stay flagged")
    passwords: list[str] = Field(default_factory=list, description="tried on encrypted PDFs, as pdf_extract_v1")
    drop_empty: bool = Field(True, description="drop documents still without text after recognition (ocr_failed)")

    @field_validator("template")
    @classmethod
    def _template_ok(cls, v: str) -> str:
        """The template exists and uses known variables (checked when the pipeline is validated)."""
        from dataforge.stages.synth.llm_annotate import load_template

        load_template(v, required=(), key="pdf_vlm_ocr_v1 template")
        return v


class PdfVlmOcr(Transform):
    """Fill in scanned PDF pages (``ocr_pages`` from ``pdf_extract_v1``) with text read by a vision-language model.

    Run after ``pdf_extract_v1`` with ``keep_empty: true`` (so scanned documents reach this stage)
    and preferably ``mode: page``. Each page listed in ``ocr_pages`` is rendered by pymupdf to a
    PNG (``dpi``, longest side at most ``max_side`` pixels) and sent with the instruction
    template (``pipelines/prompts/pdf_page_ocr.txt``) as one chat message of an image part and
    a text part, which every engine carries: ``http`` as an OpenAI ``image_url`` data URI (vLLM /
    SGLang serving Qwen2.5-VL), ``vllm`` as multi-modal data through Ray Data LLM, and
    ``transformers`` through the model's vision tower (a local Qwen2-VL / Qwen2.5-VL folder; a
    text-only model fails each page with an error saying so). ``echo`` ignores the image and
    answers with the instruction: a dry run of the bookkeeping, not recognition.

    The PDF comes from the ``pdf`` column if a stage kept it, else from ``metadata.path`` (the
    ``pdf`` reader records it). In page mode the page's text becomes the recognised text; in
    document mode a fully scanned document gets its pages' texts in order, and a document that
    also has a text layer gets the recognised pages appended after it (page order inside).
    Adds ``vlm_ocr_pages`` (pages recognised), ``vlm_ocr_model`` (the model that read them, null
    when none was read) and ``vlm_ocr_errors`` (``page N: why``);
    ``needs_ocr`` becomes false when every flagged page was read. Documents still without text
    are dropped as ``ocr_failed`` (unless ``drop_empty: false``); a PDF that cannot be found or
    opened is quarantined as ``missing_pdf``.
    """

    name = "pdf_vlm_ocr_v1"
    Params = PdfVlmOcrParams
    batch_size = 8
    stateful = True
    example = {"backend": {"engine": "echo"}}

    def setup(self) -> None:
        """Import pymupdf, load the template and build the backend."""
        import pymupdf

        from dataforge.inference.base import make_backend
        from dataforge.stages.synth.llm_annotate import load_template

        p: PdfVlmOcrParams = self.params  # type: ignore[assignment]
        pymupdf.TOOLS.mupdf_display_errors(False)
        self._fitz = pymupdf
        self._template = load_template(p.template, required=(), key=f"{self.name} template")
        self._backend = make_backend(p.backend)

    def versions(self) -> dict[str, str]:
        """The model and template, for manifests."""
        p: PdfVlmOcrParams = self.params  # type: ignore[assignment]
        return {"model": p.backend.model, "engine": p.backend.engine, "template": p.template}

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the parameters only; setup() rebuilds the backend on the worker."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("_backend", "_fitz", "_template")}
        state["_ready"] = False
        return state

    # -- pages ------------------------------------------------------------------------------------
    def _pdf_bytes(self, batch: pa.Table, i: int) -> bytes | None:
        """The row's PDF: the ``pdf`` column, else the file at ``metadata.path``."""
        if "pdf" in batch.column_names:
            data = batch.column("pdf")[i].as_py()
            if data:
                return data
        meta = batch.column("metadata")[i].as_py() if "metadata" in batch.column_names else None
        try:
            path = (json.loads(meta) or {}).get("path") if meta else None
        except ValueError:
            path = None
        if not path:
            return None
        from dataforge.readers.files import open_input

        with open_input(str(path), decompress=False) as fh:
            return fh.read()

    def _render(self, data: bytes, pages: list[int]) -> dict[int, bytes | str]:
        """PNG bytes of each 1-based page, or why it could not be rendered."""
        p: PdfVlmOcrParams = self.params  # type: ignore[assignment]
        fitz = self._fitz
        out: dict[int, bytes | str] = {}
        doc = fitz.open(stream=data, filetype="pdf")
        try:
            if doc.needs_pass and not any(doc.authenticate(pw) for pw in ["", *p.passwords]):
                return {n: "encrypted: add its password to params.passwords" for n in pages}
            for n in pages:
                if not 1 <= n <= doc.page_count:
                    out[n] = f"no page {n} (the PDF has {doc.page_count})"
                    continue
                try:
                    page = doc.load_page(n - 1)
                    zoom = p.dpi / 72.0
                    side = max(page.rect.width, page.rect.height) * zoom
                    if side > p.max_side:
                        zoom *= p.max_side / side
                    out[n] = page.get_pixmap(matrix=fitz.Matrix(zoom, zoom), alpha=False).tobytes("png")
                except Exception as exc:  # noqa: BLE001 - one bad page must not lose the others
                    out[n] = f"render failed: {exc}"
        finally:
            doc.close()
        return out

    # -- batch ------------------------------------------------------------------------------------
    def transform(self, batch: pa.Table) -> pa.Table | BatchResult:
        """Recognise the flagged pages of every row and merge their text."""
        p: PdfVlmOcrParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        has_flags = "ocr_pages" in batch.column_names
        flagged = batch.column("ocr_pages").to_pylist() if has_flags and n else [[] for _ in range(n)]
        texts = pc.fill_null(batch.column("text"), "").to_pylist() if n else []
        ids = [str(x) for x in batch.column("id").to_pylist()] if n else []
        page_col = batch.column("page").to_pylist() if "page" in batch.column_names and n else [None] * n
        done: list[list[int]] = [[] for _ in range(n)]
        errors: list[list[str]] = [[] for _ in range(n)]
        missing: dict[int, str] = {}
        jobs: list[tuple[int, int, Any]] = []  # row, page, prompt
        for i in range(n):
            pages = sorted(set(flagged[i] or []))[: p.max_pages]
            if not pages:
                continue
            if len(set(flagged[i])) > p.max_pages:
                errors[i].append(f"only the first {p.max_pages} flagged pages were read; raise params.max_pages")
            try:
                data = self._pdf_bytes(batch, i)
            except Exception as exc:  # noqa: BLE001 - a file that vanished is this row's problem
                data, why = None, f"{type(exc).__name__}: {exc}"
            else:
                why = "the row has no `pdf` bytes and no metadata.path"
            if data is None:
                missing[i] = why
                continue
            try:
                images = self._render(data, pages)
            except Exception as exc:  # noqa: BLE001
                missing[i] = f"pymupdf cannot open the PDF: {exc}"
                continue
            for page, img in images.items():
                if isinstance(img, str):
                    errors[i].append(f"page {page}: {img}")
                    continue
                values = {"page": page, "title": batch.column("title")[i].as_py() if "title" in batch.column_names else None,
                          "id": ids[i], "url": batch.column("url")[i].as_py() if "url" in batch.column_names else None}
                instruction = "\n".join(m.content for m in self._template.render(values))
                jobs.append((i, page, page_prompt(img, instruction)))
        recognised: dict[tuple[int, int], str] = {}
        if jobs:
            params = p.sampling.model_copy(update={"n": 1})
            results = self._backend.generate([j[2] for j in jobs], params,  # type: ignore[arg-type]
                                             keys=[f"{ids[i]}#p{pg}" for i, pg, _ in jobs])
            for (i, page, _), comps in zip(jobs, results):
                c = comps[0] if comps else None
                if c is None or c.error is not None:
                    errors[i].append(f"page {page}: {c.error if c is not None else 'no completion'}")
                elif not c.text.strip():
                    errors[i].append(f"page {page}: empty response")
                else:
                    recognised[(i, page)] = c.text.strip()
                    done[i].append(page)
        new_texts = list(texts)
        for i in range(n):
            if not done[i]:
                continue
            parts = [recognised[(i, pg)] for pg in sorted(done[i])]
            if page_col[i] is not None or not texts[i].strip():
                new_texts[i] = "\n\n".join(parts)
            else:
                new_texts[i] = texts[i].rstrip() + "\n\n" + "\n\n".join(parts)
        out = with_columns(batch, {
            "text": pa.array(new_texts, pa.string()),
            "vlm_ocr_pages": pa.array(done, pa.list_(pa.int32())),
            "vlm_ocr_model": pa.array([self._backend.model_id if d else None for d in done], pa.string()),
            "vlm_ocr_errors": pa.array(errors, pa.list_(pa.string())),
        })
        if "needs_ocr" in out.column_names and n:
            still = [bool(flagged[i]) and len(done[i]) < len(set(flagged[i] or [])) for i in range(n)]
            out = with_columns(out, {"needs_ocr": pa.array(still, pa.bool_())})
        return self._split(out, missing, errors, p.drop_empty)

    def _split(self, out: pa.Table, missing: dict[int, str], errors: list[list[str]], drop_empty: bool) -> BatchResult:
        """Quarantine rows without a PDF, drop rows still empty, keep the rest."""
        n = out.num_rows
        empty = [not (t or "").strip() for t in out.column("text").to_pylist()] if n else []
        drop = [drop_empty and empty[i] and i not in missing and bool(errors[i]) for i in range(n)]
        keep = [i not in missing and not drop[i] for i in range(n)]
        kept = out.filter(pa.array(keep, pa.bool_())) if n else out
        dropped = None
        if any(drop):
            idx = [i for i in range(n) if drop[i]]
            dropped = out.take(pa.array(idx, pa.int64()))
            dropped = dropped.append_column("reason", pa.array(["ocr_failed"] * len(idx), pa.string()))
            dropped = dropped.append_column("detail", pa.array(["; ".join(errors[i])[:500] for i in idx], pa.string()))
        quarantined = None
        if missing:
            idx = sorted(missing)
            ids = [str(out.column("id")[i].as_py()) for i in idx]
            quarantined = quarantine_table(ids, "", self.name, ["missing_pdf"] * len(idx),
                                           [f"{ids[k]}: {missing[i]}; keep the pdf bytes or the files at metadata.path"
                                            for k, i in enumerate(idx)], [None] * len(idx))
            if "source" in out.column_names:
                quarantined = quarantined.set_column(1, "source", pc.cast(out.column("source").take(pa.array(idx)),
                                                                          pa.string()))
        return BatchResult(kept=kept, dropped=dropped, quarantined=quarantined)
